"""The console's settings, read from the environment once at start-up (a wrong one stops it).

The development sign-in mints tokens with the generated development key the services trust
locally; it is refused unless MARAC_CONSOLE_DEV_SIGN_IN=1, no identity provider is configured
and the services verify with that generated key (no JWKS, no configured public key, the
development issuer), so no deployment can turn it on by accident.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from marac_platform.security.tokens import DEV_PRIVATE_KEY_FILE, DEV_PUBLIC_KEY_FILE
from marac_platform.settings import (
    SERVICES,
    SettingsError,
    clock_start,
    public_url,
    repo_root,
    secret,
    service_port,
)

DEV_ISSUER = "marac-dev"
SECRET_FILE = "console_secret"


@dataclass(frozen=True)
class OidcSettings:
    """The deployment's identity provider (OpenID Connect, authorization code flow)."""

    issuer: str
    client_id: str
    client_secret: str
    scope: str = "openid profile email"
    role_claim: str = "role"
    areas_claim: str = "areas"
    agency_claim: str = "agency"


@dataclass(frozen=True)
class ConsoleSettings:
    data_dir: Path
    areas_file: Path
    public_url: str
    secret_key: str
    service_urls: dict[str, str]
    jwt_audience: str = "marac"
    jwt_issuer: str = DEV_ISSUER
    idle_timeout_s: int = 30 * 60
    service_timeout_s: float = 10.0
    secure_cookie: bool = False
    oidc: OidcSettings | None = None
    dev_private_key: Path | None = None  # set only when the development sign-in is on
    log_level: str = "INFO"
    clock_start: datetime | None = None

    @property
    def dev_sign_in(self) -> bool:
        return self.dev_private_key is not None


def _local(url: str) -> bool:
    return urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1")


def _dev_key(env: dict[str, str], data_dir: Path, oidc: OidcSettings | None) -> Path | None:
    if env.get("MARAC_CONSOLE_DEV_SIGN_IN", "") not in ("1", "true"):
        return None
    why = None
    if oidc is not None:
        why = "an identity provider (MARAC_OIDC_ISSUER) is configured"
    elif env.get("MARAC_JWKS_URL") or env.get("MARAC_JWT_PUBLIC_KEY_FILE"):
        why = "the services verify tokens with a configured key, not the generated development key"
    elif env.get("MARAC_JWT_ISSUER", DEV_ISSUER) != DEV_ISSUER:
        why = f"MARAC_JWT_ISSUER is not the development issuer {DEV_ISSUER!r}"
    private = data_dir / "keys" / DEV_PRIVATE_KEY_FILE
    if why is None and not (private.is_file() and (data_dir / "keys" / DEV_PUBLIC_KEY_FILE).is_file()):
        why = f"no generated development key in {data_dir / 'keys'} (run marac migrate first)"
    if why:
        raise SettingsError(f"MARAC_CONSOLE_DEV_SIGN_IN: refused, {why}")
    return private


def _secret_key(env: dict[str, str], data_dir: Path, dev: bool) -> str:
    given = secret(env, "MARAC_CONSOLE_SECRET_KEY")
    if given:
        if len(given) < 32:
            raise SettingsError("MARAC_CONSOLE_SECRET_KEY: at least 32 characters")
        return given
    if not dev:
        raise SettingsError("MARAC_CONSOLE_SECRET_KEY (or _FILE): required (the session "
                            "cookie is encrypted under it)")
    path = data_dir / "keys" / SECRET_FILE  # development only: made once, 0600
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another web worker made it first
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


def _oidc(env: dict[str, str]) -> OidcSettings | None:
    issuer = env.get("MARAC_OIDC_ISSUER")
    if not issuer:
        return None
    client_id = env.get("MARAC_OIDC_CLIENT_ID")
    client_secret = secret(env, "MARAC_OIDC_CLIENT_SECRET")
    if not client_id or not client_secret:
        raise SettingsError("MARAC_OIDC_CLIENT_ID and MARAC_OIDC_CLIENT_SECRET(_FILE): required "
                            "with MARAC_OIDC_ISSUER")
    if not issuer.startswith("https://") and not _local(issuer):
        raise SettingsError("MARAC_OIDC_ISSUER: must be an https:// URL")
    return OidcSettings(
        issuer=issuer.rstrip("/"), client_id=client_id, client_secret=client_secret,
        scope=env.get("MARAC_OIDC_SCOPE", "openid profile email"),
        role_claim=env.get("MARAC_OIDC_ROLE_CLAIM", "role"),
        areas_claim=env.get("MARAC_OIDC_AREAS_CLAIM", "areas"),
        agency_claim=env.get("MARAC_OIDC_AGENCY_CLAIM", "agency"))


def load_console_settings(env: dict[str, str] | None = None) -> ConsoleSettings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("MARAC_DATA_DIR") or repo_root() / ".data")
    oidc = _oidc(env)
    dev_key = _dev_key(env, data_dir, oidc)
    if oidc is None and dev_key is None:
        raise SettingsError("MARAC_OIDC_ISSUER: the console needs an identity provider (or, "
                            "locally, MARAC_CONSOLE_DEV_SIGN_IN=1)")
    url = public_url(env)
    try:
        idle = int(env.get("MARAC_CONSOLE_IDLE_MINUTES") or 30)
    except ValueError:
        raise SettingsError("MARAC_CONSOLE_IDLE_MINUTES: expected a whole number") from None
    if not 1 <= idle <= 24 * 60:
        raise SettingsError("MARAC_CONSOLE_IDLE_MINUTES: between 1 and 1440")
    urls = {}
    for service in SERVICES:
        given = env.get(f"MARAC_{service.upper()}_URL")
        urls[service] = (given or f"http://127.0.0.1:{service_port(service, env)}").rstrip("/")
    return ConsoleSettings(
        data_dir=data_dir,
        areas_file=Path(env.get("MARAC_AREAS_FILE") or repo_root() / "deploy" / "areas.yaml"),
        public_url=url, secret_key=_secret_key(env, data_dir, dev_key is not None),
        service_urls=urls, jwt_audience=env.get("MARAC_JWT_AUDIENCE", "marac"),
        jwt_issuer=env.get("MARAC_JWT_ISSUER", DEV_ISSUER), idle_timeout_s=idle * 60,
        secure_cookie=not _local(url), oidc=oidc, dev_private_key=dev_key,
        log_level=env.get("MARAC_LOG_LEVEL", "INFO").upper(), clock_start=clock_start(env))
