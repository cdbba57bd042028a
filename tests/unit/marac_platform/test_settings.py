"""Transport security settings: Kafka TLS/SASL parse or fail naming the variable; PostgreSQL TLS
options in DATABASE_URL reach the driver untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from marac_platform.db import normalise_url
from marac_platform.settings import SettingsError, kafka_settings, load_settings


def scram_env(ca: Path) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka-1.example:9093,kafka-2.example:9093",
        "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "KAFKA_SASL_MECHANISM": "scram-sha-512",
        "KAFKA_SASL_USERNAME": "marac-referral",
        "KAFKA_SASL_PASSWORD": "s3cret",
        "KAFKA_SSL_CAFILE": str(ca),
    }


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    return path


def test_sasl_ssl_with_scram_parses_into_client_options(ca_file: Path) -> None:
    settings = kafka_settings(scram_env(ca_file))
    assert (settings.security_protocol, settings.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    options = settings.client_options()
    assert options == {
        "bootstrap_servers": ["kafka-1.example:9093", "kafka-2.example:9093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "marac-referral",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": str(ca_file),
    }


def test_unknown_sasl_mechanism_is_refused_without_quoting_the_password(ca_file: Path) -> None:
    env = scram_env(ca_file)
    env["KAFKA_SASL_MECHANISM"] = "KERBEROS"
    with pytest.raises(SettingsError) as info:
        kafka_settings(env)
    assert "KAFKA_SASL_MECHANISM" in str(info.value)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize("missing", ["KAFKA_SASL_PASSWORD", "KAFKA_SASL_USERNAME"])
def test_sasl_without_credentials_names_them(ca_file: Path, missing: str) -> None:
    env = scram_env(ca_file)
    del env[missing]
    with pytest.raises(SettingsError) as info:
        kafka_settings(env)
    assert missing in str(info.value)


def test_unknown_protocol_is_refused_naming_the_variable(ca_file: Path) -> None:
    env = scram_env(ca_file)
    env["KAFKA_SECURITY_PROTOCOL"] = "TLS"
    with pytest.raises(SettingsError) as info:
        kafka_settings(env)
    assert "KAFKA_SECURITY_PROTOCOL" in str(info.value)


@pytest.mark.parametrize("variable", ["KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"])
def test_a_missing_tls_file_is_refused_at_start_up(ca_file: Path, tmp_path: Path, variable: str) -> None:
    env = scram_env(ca_file)
    env[variable] = str(tmp_path / "absent.pem")
    with pytest.raises(SettingsError) as info:
        kafka_settings(env)
    assert variable in str(info.value)


def test_plaintext_is_the_local_default() -> None:
    settings = kafka_settings({})
    assert settings.security_protocol == "PLAINTEXT" and settings.sasl_mechanism is None
    assert "sasl_plain_password" not in settings.client_options()


POSTGRES_TLS = ("postgresql://marac:pw@db.example:5432/marac_{service}"
                "?sslmode=verify-full&sslrootcert=/etc/marac/pg-ca.pem&sslcert=/etc/marac/pg.crt"
                "&sslkey=/etc/marac/pg.key")


def test_postgres_sslmode_passes_through_database_url_unchanged() -> None:
    settings = load_settings("referral", {"DATABASE_URL": POSTGRES_TLS})
    assert settings.database_url == POSTGRES_TLS.replace("{service}", "referral")
    url = make_url(normalise_url(settings.database_url))
    assert url.drivername == "postgresql+psycopg"
    assert dict(url.query) == {"sslmode": "verify-full", "sslrootcert": "/etc/marac/pg-ca.pem",
                               "sslcert": "/etc/marac/pg.crt", "sslkey": "/etc/marac/pg.key"}


def test_a_services_own_database_url_wins_and_keeps_its_tls_options() -> None:
    own = "postgresql://risk:pw@risk-db.example/risk?sslmode=require"
    settings = load_settings("risk", {"DATABASE_URL": POSTGRES_TLS, "RISK_DATABASE_URL": own})
    assert settings.database_url == own
    assert make_url(normalise_url(own)).query["sslmode"] == "require"
