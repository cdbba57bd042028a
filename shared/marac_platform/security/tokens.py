"""Bearer tokens: verify RS256/ES256 JWTs into a Principal; dev key pair and token minting."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, get_args
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWKClientError, PyJWKError, PyJWKSetError

from marac_platform.security.crypto import b64url
from marac_platform.security.roles import Role, is_area_id

PrincipalKind = Literal["person", "partner_area"]

ReasonCode = Literal[
    "missing_token",
    "malformed_token",
    "expired",
    "invalid_signature",
    "wrong_audience",
    "unknown_issuer",
    "missing_claim",
    "invalid_claim",
]
REASON_CODES: Final[frozenset[str]] = frozenset(get_args(ReasonCode))

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

# Asymmetric only: HS* would let anyone holding the verification key mint tokens, and
# "none" is no signature at all. Each key admits exactly one of these (see _algorithm_for).
ALGORITHMS: Final[frozenset[str]] = frozenset({"RS256", "ES256"})
MIN_RSA_BITS: Final = 2048
# Real tokens are well under 2 KiB; the cap stops oversized headers costing parse time.
MAX_TOKEN_CHARS: Final = 8192
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_REQUIRED_REGISTERED = ["exp", "iat", "iss", "aud", "sub"]
_REQUIRED_PRIVATE = ("agency", "role", "areas")
_MAX_ID_CHARS = 256
_MAX_AREAS = 64

DEV_PRIVATE_KEY_FILE: Final = "dev_private.pem"
DEV_PUBLIC_KEY_FILE: Final = "dev_public.pem"


class AuthenticationError(Exception):
    """The token was refused; carries a reason code only, never token contents."""

    def __init__(self, reason_code: ReasonCode) -> None:
        super().__init__(reason_code)
        self.reason_code: ReasonCode = reason_code


class KeySourceUnavailable(Exception):
    """An issuer's JWKS could not be fetched or holds no usable key: our fault, not the caller's."""

    def __init__(self, url: str) -> None:
        super().__init__(f"JWKS unavailable: {url}")
        self.url = url


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as asserted by a verified token."""

    subject: str
    agency: str
    role: Role
    areas: frozenset[str]
    issuer: str
    kind: PrincipalKind = "person"


def _algorithm_for(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must be at least {MIN_RSA_BITS} bits")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("EC keys must be on curve P-256")
        return "ES256"
    raise ValueError("only RSA and EC P-256 keys are supported")


def _as_bytes(pem: str | bytes) -> bytes:
    return pem.encode("ascii") if isinstance(pem, str) else pem


def load_public_key(public_key_pem: str | bytes) -> PublicKey:
    """Load an RSA (>= 2048 bits) or EC P-256 public key from PEM; ValueError otherwise."""
    key = serialization.load_pem_public_key(_as_bytes(public_key_pem))
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("only RSA and EC P-256 keys are supported")
    _algorithm_for(key)
    return key


def _check_kind(kind: str) -> PrincipalKind:
    if kind == "person":
        return "person"
    if kind == "partner_area":
        return "partner_area"
    raise ValueError("kind must be 'person' or 'partner_area'")


def _check_areas(areas: Iterable[str] | None) -> frozenset[str] | None:
    if areas is None:
        return None
    checked = frozenset(areas)
    if not checked or not all(is_area_id(area) for area in checked):
        raise ValueError("areas must be a non-empty set of area ids")
    return checked


class StaticKeySource:
    """One configured public key (the embedded default's local key, or a partner area's key).

    `kind` is what tokens signed by this key speak for; `areas`, when given, bounds the
    `areas` claim (a partner area's key may only speak for that partner area).
    """

    def __init__(
        self,
        public_key_pem: str | bytes,
        *,
        kid: str | None = None,
        kind: PrincipalKind = "person",
        areas: Iterable[str] | None = None,
    ) -> None:
        self._key = load_public_key(public_key_pem)
        self._algorithm = _algorithm_for(self._key)
        self.kid = kid
        self.kind: PrincipalKind = _check_kind(kind)
        self.areas: frozenset[str] | None = _check_areas(areas)

    @classmethod
    def from_file(
        cls,
        path: Path,
        *,
        kid: str | None = None,
        kind: PrincipalKind = "person",
        areas: Iterable[str] | None = None,
    ) -> StaticKeySource:
        return cls(path.read_bytes(), kid=kid, kind=kind, areas=areas)

    def resolve(self, kid: str | None) -> tuple[PublicKey, str]:
        """The key and the one algorithm it verifies; a kid other than the configured one fails."""
        if self.kid is not None and kid != self.kid:
            raise AuthenticationError("invalid_signature")
        return self._key, self._algorithm


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JwksKeySource:
    """Keys published by an identity provider at a JWKS URL, cached for `lifespan_s`.

    A token naming an unknown kid forces one refresh (so a rotated-in key works at once),
    at most once per `refresh_cooldown_s` so a stream of made-up kids cannot flood the
    provider. Plain http is accepted only for loopback addresses.
    """

    def __init__(
        self,
        url: str,
        *,
        kind: PrincipalKind = "person",
        areas: Iterable[str] | None = None,
        lifespan_s: float = 300,
        refresh_cooldown_s: float = 30,
        timeout_s: float = 5,
    ) -> None:
        parts = urlsplit(url)
        secure = parts.scheme == "https" and bool(parts.hostname)
        if not (secure or (parts.scheme == "http" and _is_loopback(parts.hostname))):
            raise ValueError("JWKS URL must use https (http only for loopback)")
        if lifespan_s <= 0 or refresh_cooldown_s < 0 or timeout_s <= 0:
            raise ValueError("lifespan and timeout must be positive, cooldown not negative")
        self.url = url
        self.kind: PrincipalKind = _check_kind(kind)
        self.areas: frozenset[str] | None = _check_areas(areas)
        self._client = jwt.PyJWKClient(
            url, cache_keys=False, cache_jwk_set=True, lifespan=lifespan_s, timeout=timeout_s
        )
        self._cooldown_s = refresh_cooldown_s
        self._lock = threading.Lock()
        self._last_forced_refresh: float | None = None

    def _signing_keys(self, *, refresh: bool) -> list[jwt.PyJWK]:
        try:
            return self._client.get_signing_keys(refresh=refresh)
        except (PyJWKClientError, PyJWKSetError, PyJWKError):
            raise KeySourceUnavailable(self.url) from None

    def _may_force_refresh(self) -> bool:
        with self._lock:
            now = time.monotonic()
            last = self._last_forced_refresh
            if last is not None and now - last < self._cooldown_s:
                return False
            self._last_forced_refresh = now
            return True

    def resolve(self, kid: str | None) -> tuple[PublicKey, str]:
        """The key for kid and the one algorithm it verifies."""
        if not kid:
            raise AuthenticationError("invalid_signature")  # a JWKS issuer must name its key
        jwk = _match_kid(self._signing_keys(refresh=False), kid)
        if jwk is None and self._may_force_refresh():
            jwk = _match_kid(self._signing_keys(refresh=True), kid)
        if jwk is None:
            raise AuthenticationError("invalid_signature")
        key = jwk.key
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise AuthenticationError("invalid_signature")
        try:
            algorithm = _algorithm_for(key)
        except ValueError:
            raise AuthenticationError("invalid_signature") from None
        # A JWK that declares another algorithm (PS256, ES384...) is not one we accept.
        if jwk.algorithm_name != algorithm:
            raise AuthenticationError("invalid_signature")
        return key, algorithm


def _match_kid(keys: list[jwt.PyJWK], kid: str) -> jwt.PyJWK | None:
    return next((key for key in keys if key.key_id == kid), None)


KeySource: TypeAlias = StaticKeySource | JwksKeySource


def parse_bearer(header_value: str | None) -> str:
    """The token from an `Authorization: Bearer <token>` header value."""
    if header_value is None or not header_value.strip():
        raise AuthenticationError("missing_token")
    scheme, _, token = header_value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("malformed_token")
    if len(token) > MAX_TOKEN_CHARS or _TOKEN_SHAPE.fullmatch(token) is None:
        raise AuthenticationError("malformed_token")
    return token


def _is_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= _MAX_ID_CHARS
        and value.isprintable()
        and value.strip() == value
    )


class TokenVerifier:
    """Verifies bearer tokens from the configured issuers and returns the Principal."""

    def __init__(
        self, audience: str, issuers: Mapping[str, KeySource], leeway_s: float = 30
    ) -> None:
        if not audience:
            raise ValueError("audience is required")
        if not issuers:
            raise ValueError("at least one issuer is required")
        if not 0 <= leeway_s <= 300:
            raise ValueError("leeway must be between 0 and 300 seconds")
        self.audience = audience
        self.leeway_s = leeway_s
        self._issuers: dict[str, KeySource] = dict(issuers)

    def authenticate(self, authorization: str | None) -> Principal:
        """Verify the token in an Authorization header value."""
        return self.verify(parse_bearer(authorization))

    def verify(self, token: str) -> Principal:
        """Verify signature, times, audience, issuer and claims; AuthenticationError if any fail.

        May raise KeySourceUnavailable when an issuer's JWKS cannot be fetched.
        """
        if not token:
            raise AuthenticationError("missing_token")
        if len(token) > MAX_TOKEN_CHARS or _TOKEN_SHAPE.fullmatch(token) is None:
            raise AuthenticationError("malformed_token")
        try:
            # Unverified read only to pick the issuer's key; nothing here is trusted yet.
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise AuthenticationError("malformed_token") from None
        header: dict[str, Any] = unverified["header"]
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise AuthenticationError("invalid_signature")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthenticationError("malformed_token")
        issuer = unverified["payload"].get("iss")
        if issuer is None:
            raise AuthenticationError("missing_claim")
        if not isinstance(issuer, str):
            raise AuthenticationError("invalid_claim")
        source = self._issuers.get(issuer)
        if source is None:
            raise AuthenticationError("unknown_issuer")

        key, algorithm = source.resolve(kid)
        if alg != algorithm:
            raise AuthenticationError("invalid_signature")
        claims = self._decode(token, key, algorithm, issuer)
        return _principal(claims, issuer, source)

    def _decode(self, token: str, key: PublicKey, algorithm: str, issuer: str) -> dict[str, Any]:
        # Exceptions are re-raised `from None`: PyJWT messages may quote claim values.
        reason: ReasonCode
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=issuer,
                leeway=self.leeway_s,
                options={"require": list(_REQUIRED_REGISTERED)},
            )
        except jwt.ExpiredSignatureError:
            reason = "expired"
        except jwt.ImmatureSignatureError:
            reason = "invalid_claim"  # nbf or iat in the future
        except jwt.InvalidAudienceError:
            reason = "wrong_audience"
        except jwt.InvalidIssuerError:
            reason = "unknown_issuer"
        except jwt.MissingRequiredClaimError:
            reason = "missing_claim"
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.InvalidKeyError):
            reason = "invalid_signature"
        except jwt.InvalidTokenError:
            # The token's structure parsed above, so what is left is a claim of the wrong type
            # (exp, nbf, iat not numbers; sub, jti not strings).
            reason = "invalid_claim"
        raise AuthenticationError(reason) from None


def _principal(claims: Mapping[str, Any], issuer: str, source: KeySource) -> Principal:
    for name in _REQUIRED_PRIVATE:
        if name not in claims:
            raise AuthenticationError("missing_claim")
    subject, agency, role_value, areas = (
        claims["sub"],
        claims["agency"],
        claims["role"],
        claims["areas"],
    )
    if not _is_id(subject) or not _is_id(agency):
        raise AuthenticationError("invalid_claim")
    try:
        role = Role(role_value)
    except ValueError:
        raise AuthenticationError("invalid_claim") from None
    if (
        not isinstance(areas, list)
        or not 0 < len(areas) <= _MAX_AREAS
        or not all(is_area_id(area) for area in areas)
    ):
        raise AuthenticationError("invalid_claim")
    area_set = frozenset(areas)
    # Each key speaks for one kind of caller: people's identity provider cannot mint a
    # partner-area token, and a partner area's key cannot mint a coordinator.
    if (source.kind == "partner_area") != (role is Role.PARTNER_AREA):
        raise AuthenticationError("invalid_claim")
    if source.areas is not None and not area_set <= source.areas:
        raise AuthenticationError("invalid_claim")
    return Principal(
        subject=subject,
        agency=agency,
        role=role,
        areas=area_set,
        issuer=issuer,
        kind=source.kind,
    )


# Development keys and tokens -------------------------------------------------------------


def public_jwk(public_key_pem: str | bytes, *, kid: str | None = None) -> dict[str, Any]:
    """The public key as a JWK with kid (default: its RFC 7638 thumbprint), use and alg."""
    key = load_public_key(public_key_pem)
    jwk: dict[str, Any]
    members: tuple[str, ...]
    if isinstance(key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
        members = ("e", "kty", "n")
    else:
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
        members = ("crv", "kty", "x", "y")
    if kid is None:
        canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
        kid = b64url(hashlib.sha256(canonical.encode("ascii")).digest())
    jwk.update({"kid": kid, "use": "sig", "alg": _algorithm_for(key)})
    return jwk


def key_id(public_key_pem: str | bytes) -> str:
    """RFC 7638 JWK thumbprint of a public key: a stable kid."""
    kid: str = public_jwk(public_key_pem)["kid"]
    return kid


def _public_pem(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_private_key(
    private_key_pem: str | bytes,
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(_as_bytes(private_key_pem), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("only RSA and EC P-256 keys are supported")
    _algorithm_for(key)
    return key


def _write_once(path: Path, data: bytes, mode: int) -> None:
    # Write to a private temporary file, then hard-link into place: the key appears complete
    # or not at all, and if another process got there first its key wins.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_dev_keypair(directory: Path) -> tuple[Path, Path]:
    """(private, public) PEM paths of the local development RSA key, created once.

    The private key file is mode 0600 in a 0700 directory; the public key is rewritten if
    it is missing or does not match the private key.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path = directory / DEV_PRIVATE_KEY_FILE
    public_path = directory / DEV_PUBLIC_KEY_FILE
    if not private_path.exists():
        generated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = generated.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_once(private_path, pem, 0o600)
    os.chmod(private_path, 0o600)
    public_pem = _public_pem(_load_private_key(private_path.read_bytes()))
    if not public_path.exists() or public_path.read_bytes() != public_pem:
        public_path.unlink(missing_ok=True)
        _write_once(public_path, public_pem, 0o644)
    return private_path, public_path


def mint_token(
    private_key_pem: str | bytes,
    *,
    subject: str,
    agency: str,
    role: Role | str,
    areas: Iterable[str],
    audience: str,
    issuer: str,
    ttl_s: int = 3600,
    kid: str | None = None,
    issued_at: int | None = None,
) -> str:
    """A signed token (RS256 or ES256 by key type); kid defaults to the key's thumbprint.

    `issued_at` (epoch seconds, default now) exists for tests of expired/future tokens.
    """
    key = _load_private_key(private_key_pem)
    checked_role = Role(role)
    area_list = sorted(set(areas))
    if not area_list or not all(is_area_id(area) for area in area_list):
        raise ValueError("areas must be a non-empty list of area ids")
    if not _is_id(subject) or not _is_id(agency):
        raise ValueError("subject and agency must be non-empty printable ids")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    now = int(time.time()) if issued_at is None else issued_at
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "agency": agency,
        "role": checked_role.value,
        "areas": area_list,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": secrets.token_urlsafe(16),
    }
    headers = {"kid": kid if kid is not None else key_id(_public_pem(key))}
    return jwt.encode(claims, key, algorithm=_algorithm_for(key), headers=headers)
