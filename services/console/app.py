"""The console's Flask app: GOV.UK Frontend templates, the session, CSRF, the idle timeout,
security headers, its own assets, and one clear page whenever a service is unavailable."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, g, redirect, render_template, request, send_from_directory, url_for
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from marac_platform import clock, telemetry
from marac_platform.areas import load_areas
from services.console import session as who
from services.console.backend import Refused, SignedOut, Unavailable
from services.console.config import ConsoleSettings, load_console_settings
from services.console.cookie import EncryptedSessionInterface

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# npm ci puts them beside this file in a checkout; the image sets MARAC_CONSOLE_ASSETS.
GOVUK_DIST = Path(os.environ.get("MARAC_CONSOLE_ASSETS")
                  or HERE / "node_modules" / "govuk-frontend" / "dist" / "govuk")
# The stylesheet and script at /assets/ beside the fonts and images their CSS names there.
BUNDLES = ("govuk-frontend.min.css", "govuk-frontend.min.js")
OPEN = ("signin.", "assets", "healthz", "readyz", "home.start")


def create_app(config: ConsoleSettings | None = None) -> Flask:
    config = config or load_console_settings()
    telemetry.setup_logging("console", config.log_level)
    clock.start_at(config.clock_start)
    app = Flask("marac.console", template_folder=str(HERE / "templates"))
    app.session_interface = EncryptedSessionInterface()  # the cookie carries a bearer token
    app.jinja_loader = ChoiceLoader([
        FileSystemLoader(str(HERE / "templates")),
        PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
    ])
    app.config.update(
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_NAME="marac_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookie,
        # A backstop a little past the idle timeout (session.idle_expired is the rule and says
        # why): the cookie is refused when made longer ago than this, whatever it holds.
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=config.idle_timeout_s + 300),
        MAX_CONTENT_LENGTH=1_000_000,
    )
    app.jinja_env.filters["ukdate"] = ukdate
    app.jinja_env.filters["uktime"] = uktime
    app.extensions["marac_console"] = config
    app.extensions["marac_areas"] = load_areas(config.areas_file)

    from services.console import pages, reports, signin, transfers, work

    signin.init_oidc(app, config)
    app.register_blueprint(signin.bp)
    app.register_blueprint(pages.home_bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(work.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(transfers.bp)
    _install(app)
    return app


def _install(app: Flask) -> None:
    @app.before_request
    def guard() -> Response | None:
        g.csp_nonce = secrets.token_urlsafe(16)
        g.person = who.current()
        endpoint = request.endpoint or ""
        if endpoint.startswith(OPEN) or endpoint == "static":
            if request.method == "POST":
                who.check_csrf()
            return None
        if g.person is not None and who.idle_expired():
            g.person = None
            return redirect(url_for("signin.sign_in_page", timed_out="1"))
        if g.person is None:
            return redirect(url_for("signin.sign_in_page"))
        who.check_csrf()
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        nonce = g.get("csp_nonce", "")
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; img-src 'self' data:; "
            "style-src 'self'; font-src 'self'; frame-ancestors 'none'; form-action 'self'; "
            "base-uri 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != "assets":
            # Case pages stay out of the browser's cache and history back-store.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def context() -> dict[str, Any]:
        return {"person": g.get("person"), "csrf_token": who.csrf_token,
                "cspNonce": g.get("csp_nonce", ""), "nav": navigation(g.get("person")),
                "error_links": error_links}

    @app.get("/assets/<path:name>")
    def assets(name: str) -> Response:
        if name in BUNDLES:
            return send_from_directory(GOVUK_DIST, name, max_age=3600)
        return send_from_directory(GOVUK_DIST / "assets", name, max_age=3600)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "console"}

    @app.get("/readyz")
    def readyz() -> tuple[dict[str, Any], int]:
        # Ready once it can serve its pages; each page says itself which service is down.
        ready = (GOVUK_DIST / "govuk-frontend.min.css").is_file()
        return ({"status": "ready" if ready else "not ready",
                 "checks": {"assets": "ok" if ready else "missing (npm ci)"}}, 200 if ready else 503)

    @app.errorhandler(Unavailable)
    def unavailable(error: Unavailable) -> tuple[str, int]:
        log.warning("service unavailable", extra={"reason_code": "unavailable",
                                                  "path": request.url_rule.rule if request.url_rule else ""})
        return render_template("unavailable.html", error=error), 503

    @app.errorhandler(SignedOut)
    def signed_out(_error: SignedOut) -> Response:
        from flask import session

        session.clear()
        return redirect(url_for("signin.sign_in_page", timed_out="1"))

    @app.errorhandler(Refused)
    def refused(error: Refused) -> tuple[str, int]:
        if error.status == 404:
            return render_template("error.html", title="Page not found",
                                   message="There is nothing here you may see. Check the "
                                           "reference, or that it is in your area."), 404
        if error.status == 403:
            return render_template("error.html", title="You cannot do this",
                                   message=error.detail), 403
        if error.status == 410:
            return render_template("error.html", title="This case has been erased",
                                   message="Its details can no longer be read."), 410
        return render_template("error.html", title="This could not be done",
                               message=error.detail), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        titles = {400: "The form was not accepted", 404: "Page not found",
                  405: "Page not found", 413: "What you sent is too large"}
        message = ("The form had expired or was sent from elsewhere. Go back, reload the page "
                   "and try again." if error.description == "csrf" else "")
        return render_template("error.html", title=titles.get(code, "Sorry, there is a problem"),
                               message=message), code

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int]:
        log.error("unhandled error", extra={"reason_code": type(error).__name__})
        return render_template("error.html", title="Sorry, there is a problem with the console",
                               message="Try again later."), 500


def error_links(errors: dict[str, str] | None) -> list[dict[str, str]]:
    """The error summary: each message linking to its field (field ids are the dict's keys)."""
    return [{"text": text, "href": key if key.startswith(("/", "#")) else f"#{key}"}
            for key, text in (errors or {}).items()]


def ukdate(value: str | None) -> str:
    if not value:
        return ""
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%-d %B %Y")
    except ValueError:
        return str(value)


def uktime(value: str | None) -> str:
    if not value:
        return ""
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(clock.UK).strftime("%-d %B %Y, %H:%M")


def navigation(person: who.Person | None) -> list[dict[str, str]]:
    """The service navigation for a role; the services still decide what each page shows."""
    if person is None:
        return []
    items: list[tuple[str, str]] = []
    if person.manages:
        items += [("Home", "/home"), ("Referrals", "/referrals"), ("MARAC dates", "/meetings"),
                  ("Actions", "/actions"), ("Transfers", "/transfers"),
                  ("Deliveries", "/deliveries")]
    elif person.agency_member:
        items += [("Case lists", "/meetings"), ("Research owed", "/research"),
                  ("Actions", "/actions")]
        if person.role == "idva":
            items.insert(0, ("Referrals", "/referrals"))
    elif person.role == "referrer":
        items += [("Your referrals", "/referrals"), ("New referral", "/referrals/new")]
    if person.reads_reports:
        items += [("Quarterly return", "/returns/quarterly")]
    if person.audits:
        items += [("Audit trail", "/audit")]
    current = request.path
    return [{"text": text, "href": href,
             "active": "true" if current == href or current.startswith(href + "/") else ""}
            for text, href in items]
