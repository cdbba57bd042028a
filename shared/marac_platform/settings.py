"""Typed settings for one process, read once from the environment and validated at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

SERVICES = ("referral", "risk", "scheduling", "actions", "notify")
# Web front ends: no database, topics or worker of their own; they call the services' APIs
# with the signed-in person's token. Not in SERVICES, so migrations, topics and every loop
# over the API services stay as they were.
WEB_APPS = ("console",)


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable and the reason."""


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent
    return Path.cwd()


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: expected a whole number, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from exc


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    topic_partitions: int = 3
    topic_replication: int = 1
    # A consumer silent this long leaves its group (Kafka's default); its partitions move on.
    session_timeout_ms: int = 45_000

    def client_options(self) -> dict[str, object]:
        """Connection options shared by kafka-python producers, consumers and admin clients."""
        options: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, key)
            if value:
                options[key] = value
        return options


@dataclass(frozen=True)
class MailSettings:
    """How notify reaches the deployment's SMTP relay."""

    host: str | None = None
    port: int = 587
    security: str = "starttls"  # starttls | tls | none (none only for a local catcher)
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None  # a private CA the relay's certificate is checked against
    mail_from: str = "marac-noreply@localhost"


@dataclass(frozen=True)
class Settings:
    service: str
    data_dir: Path
    database_url: str
    kafka: KafkaSettings
    areas_file: Path
    jwt_audience: str = "marac"
    jwt_issuer: str = "marac-dev"
    jwt_public_key_file: Path | None = None
    jwks_url: str | None = None
    consumer_max_attempts: int = 3
    consumer_backoff_s: float = 0.5
    outbox_poll_s: float = 0.2
    max_body_bytes: int = 1_000_000
    log_level: str = "INFO"
    mail: MailSettings = field(default_factory=lambda: MailSettings())
    # Where readers of a notification sign in: every e-mail and webhook links below it.
    public_url: str = "http://localhost:8000"
    # A delivery claimed longer ago than this has an unknown outcome (its worker died): resent.
    delivery_claim_timeout_s: float = 120.0
    # The first retry of a failed send waits about this long; each next one twice as long.
    delivery_retry_base_s: float = 5.0
    # The process's own port for /metrics (and a worker's /livez, /readyz); None: not served.
    metrics_port: int | None = None
    # A worker loop (consumer, relay, a timed job) that has not gone round for this long is
    # stuck: the worker's /livez fails and Kubernetes restarts it.
    worker_stall_s: float = 120.0
    clock_start: datetime | None = None


VALID_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
VALID_SASL = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


def kafka_settings(env: dict[str, str]) -> KafkaSettings:
    protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
    if protocol not in VALID_PROTOCOLS:
        raise SettingsError(f"KAFKA_SECURITY_PROTOCOL: must be one of {', '.join(VALID_PROTOCOLS)}")
    mechanism = env.get("KAFKA_SASL_MECHANISM") or None
    if protocol.startswith("SASL"):
        if mechanism is None or mechanism.upper() not in VALID_SASL:
            raise SettingsError(f"KAFKA_SASL_MECHANISM: must be one of {', '.join(VALID_SASL)}")
        if mechanism.upper() != "OAUTHBEARER" and not (
            env.get("KAFKA_SASL_USERNAME") and env.get("KAFKA_SASL_PASSWORD")
        ):
            raise SettingsError("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: required for SASL")
    for name in ("KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"):
        if env.get(name) and not Path(env[name]).is_file():
            raise SettingsError(f"{name}: no such file {env[name]}")
    return KafkaSettings(
        bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS")
        or f"127.0.0.1:{env.get('MARAC_KAFKA_PORT', '9092')}",
        security_protocol=protocol,
        sasl_mechanism=mechanism.upper() if mechanism else None,
        sasl_username=env.get("KAFKA_SASL_USERNAME") or None,
        sasl_password=env.get("KAFKA_SASL_PASSWORD") or None,
        ssl_cafile=env.get("KAFKA_SSL_CAFILE") or None,
        ssl_certfile=env.get("KAFKA_SSL_CERTFILE") or None,
        ssl_keyfile=env.get("KAFKA_SSL_KEYFILE") or None,
        topic_partitions=_int(env, "MARAC_TOPIC_PARTITIONS", 3, minimum=1),
        topic_replication=_int(env, "MARAC_TOPIC_REPLICATION", 1, minimum=1),
        session_timeout_ms=_int(env, "MARAC_KAFKA_SESSION_TIMEOUT_MS", 45_000, minimum=6_000),
    )


def database_url(service: str, env: dict[str, str], data_dir: Path) -> str:
    """`<SERVICE>_DATABASE_URL`, else `DATABASE_URL` (with `{service}` filled in), else SQLite."""
    specific = env.get(f"{service.upper()}_DATABASE_URL")
    if specific:
        return specific
    common = env.get("DATABASE_URL")
    if common:
        return common.replace("{service}", service)
    return f"sqlite:///{data_dir / f'{service}.db'}"


def clock_start(env: dict[str, str]) -> datetime | None:
    """`MARAC_CLOCK_START` (ISO 8601 with offset): tests start processes on a chosen day.
    Refused unless `MARAC_TEST_MODE=1`, so no deployment runs on a clock set by accident."""
    raw = env.get("MARAC_CLOCK_START")
    if not raw:
        return None
    if env.get("MARAC_TEST_MODE") != "1":
        raise SettingsError("MARAC_CLOCK_START: only allowed with MARAC_TEST_MODE=1 (tests)")
    try:
        start = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"MARAC_CLOCK_START: expected an ISO 8601 instant, got {raw!r}") from exc
    if start.tzinfo is None:
        raise SettingsError("MARAC_CLOCK_START: must carry a UTC offset (e.g. +00:00)")
    return start


SMTP_SECURITY = ("starttls", "tls", "none")


def secret(env: dict[str, str], name: str) -> str | None:
    """`NAME`, else the contents of the file `NAME_FILE` (a mounted Kubernetes secret)."""
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise SettingsError(f"{name}_FILE: cannot read {path} ({exc.strerror})") from None


def mail_settings(env: dict[str, str]) -> MailSettings:
    security = env.get("MARAC_SMTP_SECURITY", "starttls").lower()
    if security not in SMTP_SECURITY:
        raise SettingsError(f"MARAC_SMTP_SECURITY: must be one of {', '.join(SMTP_SECURITY)}")
    username = env.get("MARAC_SMTP_USERNAME") or None
    password = secret(env, "MARAC_SMTP_PASSWORD")
    if bool(username) != bool(password):
        raise SettingsError("MARAC_SMTP_USERNAME and MARAC_SMTP_PASSWORD(_FILE): give both or "
                            "neither")
    if username and security == "none":
        raise SettingsError("MARAC_SMTP_SECURITY: none would send the SMTP password in clear; "
                            "use starttls or tls")
    ca_file = env.get("MARAC_SMTP_CA_FILE") or None
    if ca_file and not Path(ca_file).is_file():
        raise SettingsError(f"MARAC_SMTP_CA_FILE: no such file {ca_file}")
    default_port = {"tls": 465, "starttls": 587, "none": 25}[security]
    return MailSettings(
        host=env.get("MARAC_SMTP_HOST") or None,
        port=_int(env, "MARAC_SMTP_PORT", default_port, minimum=1),
        security=security, username=username, password=password,
        ca_file=Path(ca_file) if ca_file else None,
        mail_from=env.get("MARAC_MAIL_FROM", "marac-noreply@localhost"),
    )


def public_url(env: dict[str, str]) -> str:
    url = env.get("MARAC_PUBLIC_URL", "http://localhost:8000").rstrip("/")
    if not url.startswith(("https://", "http://")) or len(url) > 300:
        raise SettingsError("MARAC_PUBLIC_URL: must be an http(s):// URL")
    return url


def load_settings(service: str, env: dict[str, str] | None = None) -> Settings:
    if service not in SERVICES:
        raise SettingsError(f"MARAC_SERVICE: unknown service {service!r}")
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("MARAC_DATA_DIR") or repo_root() / ".data")
    areas_file = Path(env.get("MARAC_AREAS_FILE") or repo_root() / "deploy" / "areas.yaml")
    public_key = env.get("MARAC_JWT_PUBLIC_KEY_FILE")
    level = env.get("MARAC_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError("MARAC_LOG_LEVEL: must be DEBUG, INFO, WARNING or ERROR")
    return Settings(
        service=service,
        data_dir=data_dir,
        database_url=database_url(service, env, data_dir),
        kafka=kafka_settings(env),
        areas_file=areas_file,
        jwt_audience=env.get("MARAC_JWT_AUDIENCE", "marac"),
        jwt_issuer=env.get("MARAC_JWT_ISSUER", "marac-dev"),
        jwt_public_key_file=Path(public_key) if public_key else None,
        jwks_url=env.get("MARAC_JWKS_URL") or None,
        consumer_max_attempts=_int(env, "MARAC_CONSUMER_MAX_ATTEMPTS", 3, minimum=1),
        consumer_backoff_s=_float(env, "MARAC_CONSUMER_BACKOFF_S", 0.5),
        outbox_poll_s=_float(env, "MARAC_OUTBOX_POLL_S", 0.2),
        max_body_bytes=_int(env, "MARAC_MAX_BODY_BYTES", 1_000_000, minimum=1024),
        log_level=level,
        mail=mail_settings(env),
        public_url=public_url(env),
        delivery_claim_timeout_s=_float(env, "MARAC_NOTIFY_CLAIM_TIMEOUT_S", 120.0),
        delivery_retry_base_s=_float(env, "MARAC_NOTIFY_RETRY_BASE_S", 5.0),
        metrics_port=_int(env, "MARAC_METRICS_PORT", 0, minimum=0) or None,
        worker_stall_s=_float(env, "MARAC_WORKER_STALL_S", 120.0),
        clock_start=clock_start(env),
    )


@cache
def settings_for(service: str) -> Settings:
    """The process-wide settings of `service`, read once."""
    return load_settings(service)



# The console is where MARAC_PUBLIC_URL (http://localhost:8000) points by default.
DEFAULT_PORTS = {"console": 8000, "referral": 8001, "risk": 8002, "scheduling": 8003,
                 "actions": 8004, "notify": 8005}


def service_port(service: str, env: dict[str, str] | None = None) -> int:
    """`MARAC_<SERVICE>_PORT`, else 8000 (console), 8001-8005, shifted by `MARAC_PORT_OFFSET`."""
    env = dict(os.environ if env is None else env)
    specific = env.get(f"MARAC_{service.upper()}_PORT")
    if specific:
        return _int(env, f"MARAC_{service.upper()}_PORT", 0, minimum=1)
    return DEFAULT_PORTS[service] + _int(env, "MARAC_PORT_OFFSET", 0)
