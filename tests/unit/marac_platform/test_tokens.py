"""Bearer-token verification, JWKS key rotation, dev keys and the `marac token mint` command."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marac_platform.commands import tokens as tokens_command
from marac_platform.security.roles import Role
from marac_platform.security.tokens import (
    REASON_CODES,
    AuthenticationError,
    JwksKeySource,
    KeySourceUnavailable,
    Principal,
    StaticKeySource,
    TokenVerifier,
    ensure_dev_keypair,
    key_id,
    mint_token,
    parse_bearer,
    public_jwk,
)

AUD = "marac"
ISS = "marac-dev"


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes


def _pair(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> KeyPair:
    return KeyPair(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


@pytest.fixture(scope="module")
def rsa_key() -> KeyPair:
    return _pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def other_rsa_key() -> KeyPair:
    return _pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def ec_key() -> KeyPair:
    return _pair(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def verifier(rsa_key: KeyPair) -> TokenVerifier:
    return TokenVerifier(AUD, {ISS: StaticKeySource(rsa_key.public_pem)})


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "alice",
        "agency": "police",
        "role": "coordinator",
        "areas": ["area-a"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def sign(payload: dict[str, Any], key: KeyPair, alg: str = "RS256", kid: str = "k1") -> str:
    # Signed as raw JWS so claims PyJWT would refuse to encode (e.g. a numeric iss) can be sent.
    private = serialization.load_pem_private_key(key.private_pem, password=None)
    body = json.dumps(payload).encode()
    return jwt.api_jws.encode(body, private, algorithm=alg, headers={"kid": kid})  # type: ignore[arg-type]


def reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(token)
    error = info.value
    assert error.reason_code in REASON_CODES
    # Nothing from the token leaks into the message or the exception chain.
    assert str(error) == error.reason_code
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error.reason_code


# Accepted tokens ---------------------------------------------------------------------------


def test_minted_rs256_token_gives_principal(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    token = mint_token(
        rsa_key.private_pem,
        subject="alice",
        agency="police",
        role=Role.COORDINATOR,
        areas=["area-b", "area-a", "area-a"],
        audience=AUD,
        issuer=ISS,
    )
    assert verifier.verify(token) == Principal(
        subject="alice",
        agency="police",
        role=Role.COORDINATOR,
        areas=frozenset({"area-a", "area-b"}),
        issuer=ISS,
        kind="person",
    )
    assert jwt.get_unverified_header(token)["kid"] == key_id(rsa_key.public_pem)
    assert verifier.authenticate(f"Bearer {token}").subject == "alice"


def test_es256_token_accepted(ec_key: KeyPair) -> None:
    verifier = TokenVerifier(AUD, {ISS: StaticKeySource(ec_key.public_pem)})
    token = mint_token(
        ec_key.private_pem,
        subject="bob",
        agency="health",
        role="idva",
        areas=["area-a"],
        audience=AUD,
        issuer=ISS,
    )
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert verifier.verify(token).role is Role.IDVA


def test_audience_list_containing_ours_accepted(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    assert verifier.verify(sign(claims(aud=["other", AUD]), rsa_key)).subject == "alice"


def test_expiry_within_leeway_accepted(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert verifier.verify(sign(claims(exp=now - 10), rsa_key)).subject == "alice"


# Refused tokens ----------------------------------------------------------------------------


def test_expired(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    token = mint_token(
        rsa_key.private_pem,
        subject="alice",
        agency="police",
        role="coordinator",
        areas=["area-a"],
        audience=AUD,
        issuer=ISS,
        ttl_s=3600,
        issued_at=int(time.time()) - 7200,
    )
    assert reason(verifier, token) == "expired"


def test_not_yet_valid_nbf(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert reason(verifier, sign(claims(nbf=now + 3600, exp=now + 7200), rsa_key)) == (
        "invalid_claim"
    )


def test_issued_in_the_future(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    token = mint_token(
        rsa_key.private_pem,
        subject="alice",
        agency="police",
        role="coordinator",
        areas=["area-a"],
        audience=AUD,
        issuer=ISS,
        issued_at=int(time.time()) + 3600,
    )
    assert reason(verifier, token) == "invalid_claim"


def test_wrong_audience(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    assert reason(verifier, sign(claims(aud="someone-else"), rsa_key)) == "wrong_audience"


def test_unknown_issuer(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    assert reason(verifier, sign(claims(iss="https://evil.example"), rsa_key)) == ("unknown_issuer")


def test_signed_by_another_key(other_rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    assert reason(verifier, sign(claims(), other_rsa_key)) == "invalid_signature"


def test_tampered_payload(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    header, _, signature = sign(claims(), rsa_key).split(".")
    forged = jwt.utils.base64url_encode(json.dumps(claims(role="admin")).encode()).decode()
    assert reason(verifier, f"{header}.{forged}.{signature}") == "invalid_signature"


def test_alg_none(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), "", algorithm="none")
    assert reason(verifier, token) == "invalid_signature"


def test_hs256_with_public_key_as_secret(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    # The classic algorithm-confusion attack: HMAC keyed with the (public) verification key.
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode())
    signing_input = header + b"." + payload
    mac = hmac.new(rsa_key.public_pem, signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + jwt.utils.base64url_encode(mac)).decode()
    assert reason(verifier, token) == "invalid_signature"


def test_algorithm_must_match_key_type(ec_key: KeyPair, verifier: TokenVerifier) -> None:
    assert reason(verifier, sign(claims(), ec_key, alg="ES256")) == "invalid_signature"


def test_ps256_refused(rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    assert reason(verifier, sign(claims(), rsa_key, alg="PS256")) == "invalid_signature"


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "agency", "role", "areas"])
def test_missing_claim(claim: str, rsa_key: KeyPair, verifier: TokenVerifier) -> None:
    assert reason(verifier, sign(claims(**{claim: _DROP}), rsa_key)) == "missing_claim"


@pytest.mark.parametrize(
    "overrides",
    [
        {"role": "superuser"},
        {"role": ["coordinator"]},
        {"role": None},
        {"areas": []},
        {"areas": "area-a"},
        {"areas": [""]},
        {"areas": ["area a"]},
        {"areas": [1]},
        {"areas": [f"area-{i}" for i in range(65)]},
        {"sub": ""},
        {"sub": 42},
        {"agency": ""},
        {"agency": ["police"]},
        {"exp": "tomorrow"},
        {"iat": "yesterday"},
        {"iss": 7},
    ],
    ids=repr,
)
def test_invalid_claim(
    overrides: dict[str, Any], rsa_key: KeyPair, verifier: TokenVerifier
) -> None:
    assert reason(verifier, sign(claims(**overrides), rsa_key)) == "invalid_claim"


@pytest.mark.parametrize(
    "token",
    ["abc", "a.b", "a.b.c.d", "!!!.???.***", "eyJhbGciOiJSUzI1NiJ9.eyJ.sig", "x" * 9000],
)
def test_malformed_token(token: str, verifier: TokenVerifier) -> None:
    assert reason(verifier, token) == "malformed_token"


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
claim_names = st.sampled_from(["alg", "kid", "typ", "crit", "iss", "aud", "sub", "exp", "role"])


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.dictionaries(claim_names, json_values, max_size=4),
    payload=st.dictionaries(claim_names, json_values, max_size=5) | json_values,
    signature=st.binary(max_size=64),
)
def test_hostile_tokens_only_ever_raise_authentication_error(
    header: dict[str, Any], payload: Any, signature: bytes, rsa_key: KeyPair
) -> None:
    verifier = TokenVerifier(AUD, {ISS: StaticKeySource(rsa_key.public_pem)})
    parts = [json.dumps(header).encode(), json.dumps(payload).encode(), signature]
    token = b".".join(jwt.utils.base64url_encode(part) for part in parts).decode()
    with pytest.raises(AuthenticationError):
        verifier.verify(token)


def test_missing_token(verifier: TokenVerifier) -> None:
    assert reason(verifier, "") == "missing_token"
    with pytest.raises(AuthenticationError) as info:
        verifier.authenticate(None)
    assert info.value.reason_code == "missing_token"


def test_static_kid_pinned(rsa_key: KeyPair) -> None:
    verifier = TokenVerifier(AUD, {ISS: StaticKeySource(rsa_key.public_pem, kid="k1")})
    assert verifier.verify(sign(claims(), rsa_key, kid="k1")).subject == "alice"
    assert reason(verifier, sign(claims(), rsa_key, kid="k2")) == "invalid_signature"


# Bearer header ----------------------------------------------------------------------------


def test_parse_bearer() -> None:
    assert parse_bearer("Bearer a.b.c") == "a.b.c"
    assert parse_bearer("  bearer   a.b.c  ") == "a.b.c"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("   ", "missing_token"),
        ("Bearer", "malformed_token"),
        ("Bearer ", "malformed_token"),
        ("Basic dXNlcjpwYXNz", "malformed_token"),
        ("a.b.c", "malformed_token"),
        ("Bearer a.b.c extra", "malformed_token"),
        ("Bearer a.b", "malformed_token"),
    ],
)
def test_parse_bearer_refuses(value: str | None, code: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        parse_bearer(value)
    assert info.value.reason_code == code


# Partner areas ------------------------------------------------------------------------------


@pytest.fixture
def partner_verifier(rsa_key: KeyPair, other_rsa_key: KeyPair) -> TokenVerifier:
    return TokenVerifier(
        AUD,
        {
            ISS: StaticKeySource(rsa_key.public_pem),
            "marac-area-x": StaticKeySource(
                other_rsa_key.public_pem, kind="partner_area", areas=["area-x"]
            ),
        },
    )


def test_partner_area_principal(other_rsa_key: KeyPair, partner_verifier: TokenVerifier) -> None:
    token = sign(
        claims(iss="marac-area-x", role="partner_area", areas=["area-x"], agency="marac"),
        other_rsa_key,
    )
    principal = partner_verifier.verify(token)
    assert principal.kind == "partner_area"
    assert principal.role is Role.PARTNER_AREA
    assert principal.areas == {"area-x"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "marac-area-x", "role": "coordinator", "areas": ["area-x"]},
        {"iss": "marac-area-x", "role": "partner_area", "areas": ["area-a"]},
        {"iss": "marac-area-x", "role": "partner_area", "areas": ["area-x", "area-a"]},
    ],
)
def test_partner_key_cannot_speak_for_others(
    overrides: dict[str, Any], other_rsa_key: KeyPair, partner_verifier: TokenVerifier
) -> None:
    assert reason(partner_verifier, sign(claims(**overrides), other_rsa_key)) == "invalid_claim"


def test_person_issuer_cannot_mint_partner_area(
    rsa_key: KeyPair, partner_verifier: TokenVerifier
) -> None:
    token = sign(claims(role="partner_area"), rsa_key)
    assert reason(partner_verifier, token) == "invalid_claim"


def test_verifier_configuration_checked(rsa_key: KeyPair) -> None:
    source = StaticKeySource(rsa_key.public_pem)
    with pytest.raises(ValueError):
        TokenVerifier("", {ISS: source})
    with pytest.raises(ValueError):
        TokenVerifier(AUD, {})
    with pytest.raises(ValueError):
        TokenVerifier(AUD, {ISS: source}, leeway_s=-1)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError):
        StaticKeySource(_pair(small).public_pem)
    with pytest.raises(ValueError):
        StaticKeySource(rsa_key.public_pem, areas=[])
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError):
        StaticKeySource(_pair(p384).public_pem)


# JWKS -----------------------------------------------------------------------------------------


@dataclass
class JwksServer:
    url: str
    document: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    requests: int = 0
    status: int = 200


@pytest.fixture
def jwks_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[JwksServer]:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    state = JwksServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            body = json.dumps(state.document).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_jwks_key_rotation(jwks_server: JwksServer, rsa_key: KeyPair, ec_key: KeyPair) -> None:
    jwks_server.document = {"keys": [public_jwk(rsa_key.public_pem, kid="k1")]}
    source = JwksKeySource(jwks_server.url, refresh_cooldown_s=0)
    verifier = TokenVerifier(AUD, {ISS: source})

    assert verifier.verify(sign(claims(), rsa_key, kid="k1")).subject == "alice"
    assert verifier.verify(sign(claims(), rsa_key, kid="k1")).subject == "alice"
    assert jwks_server.requests == 1  # the set is cached

    # The provider rotates to a new key with a new kid: the first token naming it forces
    # one refresh and is accepted.
    jwks_server.document = {"keys": [public_jwk(ec_key.public_pem, kid="k2")]}
    assert verifier.verify(sign(claims(sub="bob"), ec_key, alg="ES256", kid="k2")).subject == (
        "bob"
    )
    assert jwks_server.requests == 2
    # The retired key is gone from the set.
    assert reason(verifier, sign(claims(), rsa_key, kid="k1")) == "invalid_signature"


def test_jwks_unknown_kid_refresh_is_rate_limited(
    jwks_server: JwksServer, rsa_key: KeyPair
) -> None:
    jwks_server.document = {"keys": [public_jwk(rsa_key.public_pem, kid="k1")]}
    verifier = TokenVerifier(AUD, {ISS: JwksKeySource(jwks_server.url, refresh_cooldown_s=60)})
    assert verifier.verify(sign(claims(), rsa_key, kid="k1")).subject == "alice"
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        assert reason(verifier, sign(claims(), rsa_key, kid=kid)) == "invalid_signature"
    assert jwks_server.requests == 2  # initial fetch + one forced refresh


def test_jwks_requires_kid_and_matching_alg(jwks_server: JwksServer, rsa_key: KeyPair) -> None:
    jwk = public_jwk(rsa_key.public_pem, kid="k1")
    jwk["alg"] = "PS256"
    jwks_server.document = {"keys": [jwk]}
    verifier = TokenVerifier(AUD, {ISS: JwksKeySource(jwks_server.url, refresh_cooldown_s=0)})
    assert reason(verifier, sign(claims(), rsa_key, kid="k1")) == "invalid_signature"
    no_kid = jwt.encode(
        claims(),
        serialization.load_pem_private_key(rsa_key.private_pem, password=None),  # type: ignore[arg-type]
        algorithm="RS256",
    )
    assert reason(verifier, no_kid) == "invalid_signature"


def test_jwks_unavailable_is_not_an_authentication_error(
    jwks_server: JwksServer, rsa_key: KeyPair
) -> None:
    jwks_server.status = 500
    verifier = TokenVerifier(AUD, {ISS: JwksKeySource(jwks_server.url, timeout_s=2)})
    with pytest.raises(KeySourceUnavailable):
        verifier.verify(sign(claims(), rsa_key, kid="k1"))


@pytest.mark.parametrize(
    "url",
    ["http://idp.example/jwks.json", "file:///etc/passwd", "ftp://127.0.0.1/jwks", "https://"],
)
def test_jwks_url_must_be_https(url: str) -> None:
    with pytest.raises(ValueError):
        JwksKeySource(url)


def main(argv: list[str]) -> int:
    # The command's own parser, so other commands' imports do not affect this test.
    parser = argparse.ArgumentParser(prog="marac")
    tokens_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


# Development keys and minting ----------------------------------------------------------------


def test_ensure_dev_keypair(tmp_path: Path) -> None:
    keys = tmp_path / "data" / "keys"
    private_path, public_path = ensure_dev_keypair(keys)
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) & 0o077 == 0
    first = private_path.read_bytes()

    public_path.unlink()
    private_again, public_again = ensure_dev_keypair(keys)
    assert private_again.read_bytes() == first  # created once, never replaced
    assert public_again.exists()
    assert sorted(p.name for p in keys.iterdir()) == ["dev_private.pem", "dev_public.pem"]

    token = mint_token(
        first,
        subject="alice",
        agency="police",
        role="chair",
        areas=["area-a"],
        audience=AUD,
        issuer=ISS,
    )
    verifier = TokenVerifier(AUD, {ISS: StaticKeySource.from_file(public_again)})
    assert verifier.verify(token).role is Role.CHAIR


def test_ensure_dev_keypair_tightens_private_key_mode(tmp_path: Path) -> None:
    private_path, _ = ensure_dev_keypair(tmp_path)
    private_path.chmod(0o644)
    ensure_dev_keypair(tmp_path)
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "overrides",
    [
        {"role": "superuser"},
        {"areas": []},
        {"areas": ["bad area"]},
        {"ttl_s": 0},
        {"subject": ""},
    ],
)
def test_mint_token_refuses_bad_input(overrides: dict[str, Any], rsa_key: KeyPair) -> None:
    arguments: dict[str, Any] = {
        "subject": "alice",
        "agency": "police",
        "role": "coordinator",
        "areas": ["area-a"],
        "audience": AUD,
        "issuer": ISS,
    }
    arguments.update(overrides)
    with pytest.raises(ValueError):
        mint_token(rsa_key.private_pem, **arguments)


def test_cli_token_mint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MARAC_DATA_DIR", str(tmp_path))
    argv = ["token", "mint", "--role", "coordinator", "--area", "area-a", "--area", "area-b"]
    argv += ["--agency", "police", "--subject", "alice", "--ttl", "600"]
    assert main(argv) == 0
    token = capsys.readouterr().out.strip()

    public_path = tmp_path / "keys" / "dev_public.pem"
    verifier = TokenVerifier("marac", {"marac-dev": StaticKeySource.from_file(public_path)})
    principal = verifier.verify(token)
    assert principal.role is Role.COORDINATOR
    assert principal.areas == {"area-a", "area-b"}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 600


@pytest.mark.parametrize(
    "extra",
    [["--role", "superuser"], ["--ttl", "0"], ["--ttl", "soon"], ["--area", "bad area"]],
)
def test_cli_token_mint_refuses_bad_arguments(
    extra: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARAC_DATA_DIR", str(tmp_path))
    argv = ["token", "mint", "--role", "coordinator", "--area", "area-a"]
    argv += ["--agency", "police", "--subject", "alice", *extra]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_cli_token_mint_follows_configured_issuer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MARAC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MARAC_JWT_ISSUER", "marac-local")
    monkeypatch.setenv("MARAC_JWT_AUDIENCE", "marac-test")
    argv = ["token", "mint", "--role", "referrer", "--area", "area-a"]
    assert main([*argv, "--agency", "police", "--subject", "alice"]) == 0
    payload = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert (payload["iss"], payload["aud"]) == ("marac-local", "marac-test")
