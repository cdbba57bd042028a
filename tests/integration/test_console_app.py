"""The console's app without the services running: sign-in, CSRF on every form, the idle
timeout, and a clear page naming what is unavailable (never a stack trace)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from marac_platform import clock
from marac_platform.ports import free_port
from marac_platform.security.tokens import ensure_dev_keypair
from services.console.app import create_app
from services.console.config import load_console_settings


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    ensure_dev_keypair(tmp_path / "keys")
    closed = {f"MARAC_{s.upper()}_URL": f"http://127.0.0.1:{free_port()}"
              for s in ("referral", "risk", "scheduling", "actions", "notify")}
    env = {"MARAC_DATA_DIR": str(tmp_path), "MARAC_CONSOLE_DEV_SIGN_IN": "1",
           "MARAC_CONSOLE_IDLE_MINUTES": "5", **closed}
    return create_app(load_console_settings(env))


def csrf(client: FlaskClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(True))
    assert found
    return found.group(1)


def sign_in(client: FlaskClient, role: str = "coordinator") -> None:
    answer = client.post("/sign-in", data={"csrf_token": csrf(client, "/sign-in"), "role": role,
                                           "area": "northshire", "agency": "marac"})
    assert answer.status_code == 302


def test_pages_need_a_sign_in_and_every_post_its_csrf_token(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/home").headers["Location"] == "/sign-in"
    refused = client.post("/sign-in", data={"role": "coordinator", "area": "northshire",
                                            "agency": "marac"})
    assert refused.status_code == 400 and "form had expired" in refused.get_data(True)
    sign_in(client)
    cookie = client.get_cookie("marac_console")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert client.post("/sign-out").status_code == 400  # no token: still signed in
    assert client.post("/sign-out", data={"csrf_token": csrf(client, "/referrals/new")}
                       ).status_code == 302
    assert client.get("/home").headers["Location"] == "/sign-in"


def test_a_service_that_is_down_is_named_and_the_rest_of_the_home_page_shows(app: Flask) -> None:
    client = app.test_client()
    sign_in(client)
    home = client.get("/home")
    text = home.get_data(True)
    assert home.status_code == 200
    assert "Not available at the moment" in text and "MARAC dates" in text
    assert "Traceback" not in text
    assert "The SafeLives quarterly return for northshire" in text
    page = client.get("/returns/quarterly?quarter=2026-Q4")
    assert page.status_code == 503 and "which keeps referrals" in page.get_data(True)
    page = client.get("/referrals")
    assert page.status_code == 503
    assert "The referral service, which keeps referrals, is not answering" in page.get_data(True)
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_an_idle_session_is_signed_out(app: Flask) -> None:
    client = app.test_client()
    with time_machine.travel(clock.now(), tick=False) as traveller:
        sign_in(client, "auditor")
        traveller.shift(timedelta(minutes=4))
        # Activity moves it on (an auditor may not read transfers: the console says so).
        assert client.get("/transfers/tr-1").status_code == 403
        traveller.shift(timedelta(minutes=6))
        answer = client.get("/transfers/tr-1")
        assert answer.headers["Location"] == "/sign-in?timed_out=1"
    assert "inactive" in client.get("/sign-in?timed_out=1").get_data(True)


def test_the_assets_are_served_by_the_console_itself(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/assets/govuk-frontend.min.css").status_code == 200
    assert client.get("/assets/images/favicon.ico").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_with_an_identity_provider_sign_in_goes_there_and_says_when_it_is_down(
        tmp_path: Path) -> None:
    env = {"MARAC_DATA_DIR": str(tmp_path), "MARAC_CONSOLE_SECRET_KEY": "k" * 40,
           "MARAC_OIDC_ISSUER": f"http://127.0.0.1:{free_port()}/realms/marac",
           "MARAC_OIDC_CLIENT_ID": "console", "MARAC_OIDC_CLIENT_SECRET": "secret"}
    client = create_app(load_console_settings(env)).test_client()
    assert client.get("/sign-in").headers["Location"] == "/sign-in/oidc"
    assert client.post("/sign-in", data={"csrf_token": "x"}).status_code == 400
    down = client.get("/sign-in/oidc")
    assert down.status_code == 503 and "identity provider cannot be reached" in down.get_data(True)
