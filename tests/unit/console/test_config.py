"""The console's settings: the development sign-in only where the services trust the generated
development key, a session secret in production, the cookie Secure outside localhost."""

from __future__ import annotations

from pathlib import Path

import pytest

from marac_platform.security.tokens import ensure_dev_keypair
from marac_platform.settings import SettingsError, service_port
from services.console.config import load_console_settings

OIDC = {"MARAC_OIDC_ISSUER": "https://id.example.gov.uk/realms/marac",
        "MARAC_OIDC_CLIENT_ID": "console", "MARAC_OIDC_CLIENT_SECRET": "s3cret"}
SECRET = {"MARAC_CONSOLE_SECRET_KEY": "x" * 40}


@pytest.fixture
def dev(tmp_path: Path) -> dict[str, str]:
    ensure_dev_keypair(tmp_path / "keys")
    return {"MARAC_DATA_DIR": str(tmp_path), "MARAC_CONSOLE_DEV_SIGN_IN": "1"}


def test_locally_the_development_sign_in_uses_the_generated_key(dev: dict[str, str]) -> None:
    settings = load_console_settings(dev)
    assert settings.dev_sign_in and settings.dev_private_key is not None
    assert settings.dev_private_key.name == "dev_private.pem"
    assert not settings.secure_cookie  # http://localhost:8000
    assert len(settings.secret_key) >= 32  # generated once in the data folder
    assert load_console_settings(dev).secret_key == settings.secret_key
    assert settings.service_urls["referral"] == "http://127.0.0.1:8001"
    assert service_port("console", {}) == 8000


@pytest.mark.parametrize(("extra", "why"), [
    ({"MARAC_JWKS_URL": "https://id.example.gov.uk/jwks"}, "configured key"),
    ({"MARAC_JWT_PUBLIC_KEY_FILE": "/etc/marac/idp.pem"}, "configured key"),
    ({"MARAC_JWT_ISSUER": "https://id.example.gov.uk"}, "development issuer"),
    (OIDC, "identity provider"),
])
def test_the_development_sign_in_is_refused_wherever_the_services_trust_another_key(
        dev: dict[str, str], extra: dict[str, str], why: str) -> None:
    with pytest.raises(SettingsError, match=f"MARAC_CONSOLE_DEV_SIGN_IN: refused.*{why}"):
        load_console_settings({**dev, **extra})


def test_the_development_sign_in_needs_the_generated_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no generated development key"):
        load_console_settings({"MARAC_DATA_DIR": str(tmp_path), "MARAC_CONSOLE_DEV_SIGN_IN": "1"})


def test_production_signs_in_with_oidc_and_a_given_secret(tmp_path: Path) -> None:
    env = {"MARAC_DATA_DIR": str(tmp_path), "MARAC_PUBLIC_URL": "https://marac.example.gov.uk",
           **OIDC}
    with pytest.raises(SettingsError, match="MARAC_CONSOLE_SECRET_KEY"):
        load_console_settings(env)
    settings = load_console_settings({**env, **SECRET, "MARAC_OIDC_ROLE_CLAIM": "marac_role"})
    assert settings.oidc is not None and settings.oidc.role_claim == "marac_role"
    assert not settings.dev_sign_in
    assert settings.secure_cookie
    with pytest.raises(SettingsError, match="needs an identity provider"):
        load_console_settings({"MARAC_DATA_DIR": str(tmp_path), **SECRET})
    with pytest.raises(SettingsError, match="https"):
        load_console_settings({**env, **SECRET, "MARAC_OIDC_ISSUER": "http://id.example.gov.uk"})


def test_the_identity_providers_claims_map_to_role_areas_and_agency(tmp_path: Path) -> None:
    from services.console.signin import claims_person

    settings = load_console_settings({"MARAC_DATA_DIR": str(tmp_path), **OIDC, **SECRET,
                                      "MARAC_OIDC_AREAS_CLAIM": "marac_areas"})
    person = claims_person({"sub": "u-1", "role": "agency_rep", "marac_areas": "northshire",
                            "agency": "health"}, settings)
    assert person is not None
    assert (person.subject, person.role, person.areas, person.agency) == (
        "u-1", "agency_rep", ("northshire",), "health")
    for missing in ("sub", "role", "marac_areas", "agency"):
        claims = {"sub": "u-1", "role": "agency_rep", "marac_areas": ["northshire"],
                  "agency": "health"}
        del claims[missing]
        assert claims_person(claims, settings) is None
    # A role the platform does not know, or one no person may hold, gives no access.
    for role in ("superuser", "partner_area"):
        assert claims_person({"sub": "u-1", "role": role, "marac_areas": ["northshire"],
                              "agency": "health"}, settings) is None


def test_marac_run_offers_the_development_sign_in_only_without_an_identity_provider() -> None:
    from marac_platform.commands.run import local_sign_in

    env: dict[str, str] = {}
    local_sign_in(env)
    assert env == {"MARAC_CONSOLE_DEV_SIGN_IN": "1"}
    for name in ("MARAC_JWKS_URL", "MARAC_JWT_PUBLIC_KEY_FILE", "MARAC_OIDC_ISSUER"):
        env = {name: "set"}
        local_sign_in(env)
        assert "MARAC_CONSOLE_DEV_SIGN_IN" not in env
