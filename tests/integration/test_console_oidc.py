"""The console's OpenID Connect sign-in through a real provider on loopback (tests/support/oidc.py):
the console's own redirect, the provider's authorization and token endpoints and JWKS, the
callback; the role, areas and agency from the ID token's claims under the configured claim names.
A callback whose state is not this browser's, an altered ID token, a nonce not the one sent and
a role the platform does not know are each refused with a page, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from marac_platform.ports import free_port
from services.console.app import create_app
from services.console.config import load_console_settings
from tests.support.oidc import OidcProvider

PUBLIC_URL = "http://localhost:8000"
OFFICER = {"sub": "idp-user-4711", "marac_role": "agency_rep", "marac_areas": "northshire",
           "marac_agency": "health", "email": "someone@example.gov.uk"}


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with OidcProvider(redirect_uris=(f"{PUBLIC_URL}/sign-in/callback",)) as running:
        yield running


@pytest.fixture
def idp(provider: OidcProvider) -> Iterator[OidcProvider]:
    provider.person = dict(OFFICER)
    yield provider
    provider.tamper_id_token, provider.nonce = False, None


@pytest.fixture(scope="module")
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as client:  # loopback only, no proxy
        yield client


@pytest.fixture(scope="module")
def console(provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """One console for the module: its sessions live in each test client's cookie."""
    idp = provider
    tmp_path = tmp_path_factory.mktemp("console")
    closed = {f"MARAC_{s.upper()}_URL": f"http://127.0.0.1:{free_port()}"
              for s in ("referral", "risk", "scheduling", "actions", "notify")}
    env = {"MARAC_DATA_DIR": str(tmp_path), "MARAC_CONSOLE_SECRET_KEY": "k" * 40,
           "MARAC_PUBLIC_URL": PUBLIC_URL, "MARAC_OIDC_ISSUER": idp.issuer,
           "MARAC_OIDC_CLIENT_ID": idp.client_id, "MARAC_OIDC_CLIENT_SECRET": idp.client_secret,
           "MARAC_OIDC_ROLE_CLAIM": "marac_role", "MARAC_OIDC_AREAS_CLAIM": "marac_areas",
           "MARAC_OIDC_AGENCY_CLAIM": "marac_agency", **closed}
    return create_app(load_console_settings(env))


def to_provider(client: FlaskClient, idp: OidcProvider, browser: httpx.Client) -> str:
    """The console's redirect to the provider, and the provider's back: the callback's URL."""
    start = client.get("/sign-in")
    assert start.status_code == 302 and start.headers["Location"] == "/sign-in/oidc"
    leaving = client.get("/sign-in/oidc")
    assert leaving.status_code == 302
    authorize = leaving.headers["Location"]
    assert authorize.startswith(f"{idp.issuer}/authorize?")
    sent = parse_qs(urlsplit(authorize).query)
    assert sent["redirect_uri"] == [f"{PUBLIC_URL}/sign-in/callback"]
    assert sent["nonce"] and sent["state"] and "openid" in sent["scope"][0].split()
    back = browser.get(authorize)
    assert back.status_code == 302
    return str(back.headers["Location"])


def callback(client: FlaskClient, url: str, **replace: str) -> Any:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL and parts.path == "/sign-in/callback"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | replace
    return client.get(f"{parts.path}?{urlencode(query)}")


def signed_out(client: FlaskClient) -> bool:
    return bool(client.get("/home").headers.get("Location") == "/sign-in")


def test_signing_in_through_the_identity_provider_maps_its_claims(
        console: Flask, idp: OidcProvider, browser: httpx.Client) -> None:
    client = console.test_client()
    answer = callback(client, to_provider(client, idp, browser))
    assert answer.status_code == 302 and answer.headers["Location"] == "/home"
    with client.session_transaction() as session:
        assert session["who"] == {"subject": "idp-user-4711", "role": "agency_rep",
                                  "areas": ["northshire"], "agency": "health"}
        token = session["token"]
    assert token == idp.access_tokens[-1]  # what the console sends the services
    cookie = client.get_cookie("marac_console")
    assert cookie is not None and len(cookie.value) < 4000  # browsers drop cookies over 4 KB
    assert not [part for part in token.split(".") if part in cookie.value]  # encrypted
    assert idp.grants == {}  # the code was exchanged, once
    home = client.get("/research")
    assert home.status_code in (200, 503)  # signed in: the page, or the service it needs is down
    assert "Research owed" in home.get_data(True) and "Sign out" in home.get_data(True)

    again = console.test_client()  # the same callback a second time signs no one in
    url = to_provider(again, idp, browser)
    assert callback(again, url).status_code == 302
    replayed = callback(again, url)
    assert replayed.status_code == 400 and "did not complete" in replayed.get_data(True)


def test_a_callback_with_another_browsers_state_is_refused(
        console: Flask, idp: OidcProvider, browser: httpx.Client) -> None:
    victim, attacker = console.test_client(), console.test_client()
    to_provider(victim, idp, browser)  # the victim's own sign-in is under way
    forged = to_provider(attacker, idp, browser)  # and is sent the attacker's callback
    for answer in (callback(victim, forged), callback(victim, forged, state="made-up")):
        assert answer.status_code == 400
        assert "You were not signed in" in answer.get_data(True)
        assert "Traceback" not in answer.get_data(True)
    assert signed_out(victim)


@pytest.mark.parametrize("wrong", ["tamper_id_token", "nonce"])
def test_an_altered_id_token_or_another_nonce_is_refused(
        console: Flask, idp: OidcProvider, browser: httpx.Client, wrong: str) -> None:
    if wrong == "nonce":
        idp.nonce = "not-the-nonce-the-console-sent"
    else:
        idp.tamper_id_token = True  # its role claim turned to admin, the signature kept
    client = console.test_client()
    answer = callback(client, to_provider(client, idp, browser))
    assert answer.status_code == 400
    assert "You were not signed in" in answer.get_data(True)
    assert signed_out(client)


@pytest.mark.parametrize("claims", [
    {"marac_role": "superuser"},
    {"marac_role": "partner_area"},  # a deployment's role, not a person's
    {"marac_areas": ["Not An Area!"]},
    {"marac_agency": None},
])
def test_a_claim_the_platform_does_not_know_is_refused(
        console: Flask, idp: OidcProvider, browser: httpx.Client, claims: dict[str, Any]) -> None:
    idp.person = {k: v for k, v in {**OFFICER, **claims}.items() if v is not None}
    client = console.test_client()
    answer = callback(client, to_provider(client, idp, browser))
    assert answer.status_code == 403
    assert "You cannot use the MARAC platform" in answer.get_data(True)
    assert signed_out(client)


def test_the_provider_saying_no_is_a_page_too(
        console: Flask, idp: OidcProvider, browser: httpx.Client) -> None:
    client = console.test_client()
    url = to_provider(client, idp, browser)
    state = parse_qs(urlsplit(url).query)["state"][0]
    answer = client.get(f"/sign-in/callback?{urlencode({'error': 'access_denied', 'state': state})}")
    assert answer.status_code == 400 and "did not complete" in answer.get_data(True)
