"""The session cookie, encrypted and authenticated (Fernet: AES-128-CBC and HMAC-SHA256) under
a key derived (HKDF) from the console's secret key. It carries the person's bearer token and
claims, so holding the cookie must not be enough to read them, as it was with Flask's signed
(readable) cookie. A cookie that does not decrypt, was altered, or is older than the session's
lifetime gives a fresh, signed-out session, as a bad signature does in Flask."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

# Binds the derived key to this one use: the same secret keys nothing else this way.
KEY_INFO = b"marac console session cookie v1"


def cookie_key(secret: str | bytes) -> bytes:
    """The Fernet key (32 bytes: signing, then encryption; base64url) derived from `secret`."""
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(material)
    return base64.urlsafe_b64encode(derived)


class SessionCipher:
    """What Flask asks of its session serializer (dumps, and loads with a max_age that raises
    BadSignature on any failure), encrypting. The first key encrypts; every key decrypts, so
    Flask's SECRET_KEY_FALLBACKS keep sessions alive across a key rotation."""

    def __init__(self, secrets: list[str | bytes], serializer: TaggedJSONSerializer) -> None:
        self._fernet = MultiFernet([Fernet(cookie_key(s)) for s in secrets])
        self._serializer = serializer

    def dumps(self, session: dict[str, Any]) -> str:
        return self._fernet.encrypt(self._serializer.dumps(session).encode("utf-8")).decode("ascii")

    def loads(self, cookie: str | bytes, max_age: int | None = None) -> Any:
        # The cookie's age is checked against the wall clock, as bearer tokens are (security,
        # not a MARAC rule: see marac_platform.clock); the idle timeout is session.py's.
        token = cookie.encode("ascii", "replace") if isinstance(cookie, str) else cookie
        try:
            if base64.urlsafe_b64encode(base64.urlsafe_b64decode(token)) != token:
                # Fernet's base64 decoding ignores what follows the padding: refuse it too.
                raise InvalidToken
            plain = self._fernet.decrypt(token, ttl=max_age)
            return self._serializer.loads(plain.decode("utf-8"))
        except (InvalidToken, ValueError) as error:  # ValueError: base64, or JSON after the MAC
            raise BadSignature("the session cookie was refused") from error


class EncryptedSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session (its cookie name, flags, expiry and Vary handling unchanged) with
    the signing serializer replaced by the encrypting one."""

    def get_signing_serializer(self, app: Flask) -> SessionCipher | None:  # type: ignore[override]
        if not app.secret_key:
            return None
        secrets: list[str | bytes] = [app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or [])]
        return SessionCipher(secrets, self.serializer)
