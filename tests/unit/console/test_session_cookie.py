"""The console's session cookie is encrypted: holding it does not reveal the bearer token or the
claims (not even base64-decoded), and an altered, foreign or expired cookie is a fresh,
signed-out session."""

from __future__ import annotations

import base64
import binascii
import contextlib
import zlib
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient

from services.console.cookie import EncryptedSessionInterface

COOKIE = "marac_console"
SECRET = "s" * 40
TOKEN = ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LTQyIiwicm9sZSI6ImNvb3JkaW5hdG9yIn0."
         "c2lnbmF0dXJlLW9mLXRoZS1pZGVudGl0eS1wcm92aWRlcg")
WHO = {"subject": "officer-4711", "role": "coordinator", "areas": ["northshire"],
       "agency": "police-northshire"}
SECRETS_IN_IT = [TOKEN, *TOKEN.split("."), "officer-4711", "coordinator", "northshire",
                 "police-northshire"]


def console_like(secret: str = SECRET, fallbacks: list[str] | None = None,
                 interface: SecureCookieSessionInterface | None = None) -> Flask:
    app = Flask("cookie-test")
    app.session_interface = interface or EncryptedSessionInterface()
    app.config.update(SECRET_KEY=secret, SECRET_KEY_FALLBACKS=fallbacks or [],
                      SESSION_COOKIE_NAME=COOKIE, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=True,
                      PERMANENT_SESSION_LIFETIME=timedelta(minutes=35))

    @app.post("/sign-in")
    def sign_in() -> str:
        session.permanent = True
        session["who"] = WHO
        session["token"] = TOKEN
        return "signed in"

    @app.get("/who")
    def who() -> dict[str, Any]:
        return {"who": session.get("who"), "token": session.get("token")}

    return app


def signed_in(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    client.post("/sign-in")
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return client, cookie.value


def readings(value: str) -> list[bytes]:
    """Everything someone holding the cookie could read at a glance: the value, and each part
    of it (split at dots, as itsdangerous joins them) base64-decoded and, if it is, inflated."""
    found = [value.encode()]
    for part in [value, *value.split(".")]:
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                raw = decode(part.lstrip(".") + "=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                continue
            found.append(raw)
            with contextlib.suppress(zlib.error):
                found.append(zlib.decompress(raw))
    return found


def leaks(value: str) -> list[str]:
    return [s for s in SECRETS_IN_IT for raw in readings(value) if s.encode() in raw]


def test_the_cookie_shows_neither_the_token_nor_the_claims() -> None:
    # Flask's own signed cookie does (which is why the console does not use it): the check sees it.
    _, readable = signed_in(console_like(interface=SecureCookieSessionInterface()))
    assert TOKEN in str(leaks(readable)) and "officer-4711" in leaks(readable)

    client, value = signed_in(console_like())
    assert leaks(value) == []
    assert client.get("/who").get_json() == {"who": WHO, "token": TOKEN}


def test_the_cookie_keeps_its_flags() -> None:
    client, _ = signed_in(console_like())
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    assert cookie.http_only and cookie.secure and cookie.same_site == "Lax"


def altered(value: str) -> list[str]:
    middle = len(value) // 2
    flipped = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1:]
    return [flipped, value[:-4], value + "x", value[::-1], "", "not-a-cookie", "é" * 20]


@pytest.mark.parametrize("index", range(7))
def test_an_altered_cookie_is_a_fresh_signed_out_session(index: int) -> None:
    app = console_like()
    client, value = signed_in(app)
    client.set_cookie(COOKIE, altered(value)[index])
    assert client.get("/who").get_json() == {"who": None, "token": None}


def test_a_cookie_made_with_another_key_or_only_signed_is_refused() -> None:
    _, other_key = signed_in(console_like(secret="o" * 40))
    _, only_signed = signed_in(console_like(interface=SecureCookieSessionInterface()))
    for value in (other_key, only_signed):
        client = console_like().test_client()
        client.set_cookie(COOKIE, value)
        assert client.get("/who").get_json() == {"who": None, "token": None}


def test_an_old_key_kept_as_a_fallback_still_opens_the_cookie() -> None:
    _, made_before = signed_in(console_like(secret="o" * 40))
    client = console_like(fallbacks=["o" * 40]).test_client()
    client.set_cookie(COOKIE, made_before)
    assert client.get("/who").get_json() == {"who": WHO, "token": TOKEN}


def test_a_cookie_older_than_the_session_lifetime_is_refused() -> None:
    app = console_like()
    with time_machine.travel("2026-11-02 09:00Z", tick=False) as traveller:
        client, value = signed_in(app)
        traveller.shift(timedelta(minutes=34))
        assert client.get("/who").get_json()["token"] == TOKEN  # and the cookie is made again
        refreshed = client.get_cookie(COOKIE)
        assert refreshed is not None and refreshed.value != value
        traveller.shift(timedelta(minutes=36))
        assert client.get("/who").get_json() == {"who": None, "token": None}
        stale = console_like().test_client()
        stale.set_cookie(COOKIE, value)  # the first one, 70 minutes on
        assert stale.get("/who").get_json() == {"who": None, "token": None}
