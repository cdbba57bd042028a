"""Who is signed in, kept in the encrypted session cookie (cookie.py): their token for the
services, what its claims say (for navigation only: the services decide), the CSRF token and
the last activity."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, g, request, session

from marac_platform import clock
from marac_platform.security.roles import PERMISSIONS, Permission, Role
from services.console.backend import Api
from services.console.config import ConsoleSettings

AREA_MANAGERS = ("coordinator", "chair")
AGENCY_MEMBERS = ("agency_rep", "idva")
AUDITORS = ("auditor", "admin")


@dataclass(frozen=True)
class Person:
    subject: str
    role: str
    areas: tuple[str, ...]
    agency: str

    @property
    def manages(self) -> bool:
        return self.role in AREA_MANAGERS

    @property
    def agency_member(self) -> bool:
        return self.role in AGENCY_MEMBERS

    @property
    def refers(self) -> bool:
        return self.role in ("referrer", "idva", *AREA_MANAGERS)

    @property
    def audits(self) -> bool:
        return self.role in AUDITORS

    def may(self, permission: Permission) -> bool:
        """Whether the role holds `permission` (for what the console offers; the services decide)."""
        try:
            return permission in PERMISSIONS[Role(self.role)]
        except ValueError:
            return False

    @property
    def reads_reports(self) -> bool:
        return self.may(Permission.REPORT_READ)


def settings() -> ConsoleSettings:
    found: ConsoleSettings = current_app.extensions["marac_console"]
    return found


def sign_in(person: Person, token: str) -> None:
    session.clear()
    session.permanent = True
    session["who"] = {"subject": person.subject, "role": person.role,
                      "areas": list(person.areas), "agency": person.agency}
    session["token"] = token
    session["csrf"] = secrets.token_urlsafe(32)
    session["seen"] = _now()


def current() -> Person | None:
    who: dict[str, Any] | None = session.get("who")
    if not who or not session.get("token"):
        return None
    return Person(who["subject"], who["role"], tuple(who["areas"]), who["agency"])


def person() -> Person:
    found: Person | None = g.get("person")
    if found is None:
        abort(401)
    return found


def api() -> Api:
    config = settings()
    return Api(config.service_urls, str(session.get("token", "")), config.service_timeout_s)


def _now() -> int:
    # Flask also refuses a cookie made long before (its max_age, a backstop); this check is
    # the idle rule, and lets the sign-in page say why the person was signed out.
    return int(clock.now().timestamp())


def idle_expired() -> bool:
    """True (and the session cleared) when the person did nothing for the idle timeout."""
    seen = session.get("seen")
    if seen is None:
        return False
    now = _now()
    if now - int(seen) > settings().idle_timeout_s:
        session.clear()
        return True
    session["seen"] = now
    return False


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf() -> None:
    """Every form carries the session's CSRF token; a POST without it changes nothing."""
    if request.method != "POST":
        return
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="csrf")
