"""A small, real OpenID Connect provider on loopback for the console's sign-in tests: discovery,
an authorization endpoint that approves at once (as the person it is told is signed in there),
a token endpoint exchanging a one-time code (client_secret_basic, the same redirect URI) for an
access token and an ID token signed RS256 carrying the nonce it was given, and the JWKS.

What it is told to get wrong, a test sets on it: `tamper_id_token` alters the ID token's claims
after signing, `nonce` replaces the nonce it was sent."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

REALM = "/realms/marac"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    claims: dict[str, Any]


@dataclass
class OidcProvider:
    client_id: str = "console"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redirect_uris: tuple[str, ...] = ()
    person: dict[str, Any] = field(default_factory=dict)  # the claims of who signs in there
    tamper_id_token: bool = False
    nonce: str | None = None
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, private=True))
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: list[str] = field(default_factory=list)  # issued, newest last

    def __post_init__(self) -> None:
        self.key_id = secrets.token_hex(4)
        self.server = make_server("127.0.0.1", 0, self.app(), threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{REALM}"

    def __enter__(self) -> OidcProvider:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "kid": self.key_id, "typ": "JWT"}, claims, self.key)

    def app(self) -> Flask:
        app = Flask("oidc-provider")
        realm = Blueprint("realm", __name__, url_prefix=REALM)

        @realm.get("/.well-known/openid-configuration")
        def discovery() -> Response:
            return jsonify({
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["openid", "profile", "email"],
            })

        @realm.get("/jwks")
        def jwks() -> Response:
            public = self.key.as_dict(private=False)
            return jsonify({"keys": [{**public, "kid": self.key_id, "use": "sig", "alg": "RS256"}]})

        @realm.get("/authorize")
        def authorize() -> Response:
            args = request.args
            redirect_uri = args.get("redirect_uri", "")
            if args.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
                abort(400)  # never redirect to a URI not registered for the client
            state = args.get("state", "")
            if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
                return redirect(f"{redirect_uri}?{urlencode({'error': 'invalid_request', 'state': state})}")
            code = secrets.token_urlsafe(24)
            self.grants[code] = Grant(self.client_id, redirect_uri, args.get("nonce"),
                                      dict(self.person))
            return redirect(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

        @realm.post("/token")
        def token() -> tuple[Response, int] | Response:
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (self.client_id, self.client_secret):
                return jsonify({"error": "invalid_client"}), 401
            grant = self.grants.pop(request.form.get("code", ""), None)  # one use only
            if (request.form.get("grant_type") != "authorization_code" or grant is None
                    or grant.redirect_uri != request.form.get("redirect_uri")):
                return jsonify({"error": "invalid_grant"}), 400
            now = int(time.time())  # tokens keep to the wall clock, as the console checks them
            issued = {"iss": self.issuer, "iat": now, "exp": now + 300, **grant.claims}
            access_token = self.sign({**issued, "aud": "marac"})
            self.access_tokens.append(access_token)
            id_token = self.sign({**issued, "aud": grant.client_id, "auth_time": now,
                                  "nonce": self.nonce or grant.nonce})
            if self.tamper_id_token:
                id_token = altered_claims(id_token, role="admin")
            return jsonify({"access_token": access_token, "token_type": "Bearer",
                            "expires_in": 300, "id_token": id_token, "scope": "openid"})

        app.register_blueprint(realm)
        return app


def altered_claims(token: str, **changes: Any) -> str:
    """The signed token with its claims changed and its signature kept (so no longer valid)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = json.dumps({**claims, **changes}, separators=(",", ":")).encode()
    return ".".join([header, base64.urlsafe_b64encode(changed).rstrip(b"=").decode(), signature])
