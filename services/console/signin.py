"""Signing in: OpenID Connect against the deployment's identity provider (Authlib), or, locally
only, the development sign-in (choose a role, an area and an agency; a token is minted with the
generated development key the services trust). Signing out; the idle timeout lives in session.py.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.base_client import OAuthError
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc.errors import JoseError
from requests import RequestException
from werkzeug.wrappers import Response

from marac_platform.areas import Areas
from marac_platform.security.roles import Role, is_area_id
from marac_platform.security.tokens import mint_token
from services.console.config import ConsoleSettings
from services.console.session import Person, settings, sign_in

log = logging.getLogger(__name__)
bp = Blueprint("signin", __name__)

PERSON_ROLES = [r.value for r in Role if r is not Role.PARTNER_AREA]
ROLE_NAMES = {
    "referrer": "Referrer (police officer, IDVA, health or social care professional)",
    "agency_rep": "Agency representative", "idva": "IDVA", "coordinator": "MARAC coordinator",
    "chair": "MARAC chair", "auditor": "Auditor", "admin": "Administrator",
}
TOKEN_TTL_S = 8 * 3600  # the idle timeout usually ends the session long before


def init_oidc(app: Flask, config: ConsoleSettings) -> None:
    if config.oidc is None:
        return
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    oauth.register(
        "idp", client_id=config.oidc.client_id, client_secret=config.oidc.client_secret,
        server_metadata_url=f"{config.oidc.issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": config.oidc.scope})
    app.extensions["marac_oauth"] = oauth


def bp_areas() -> Areas:
    """The areas file: names and agencies for the sign-in's choices (no case data)."""
    loaded: Areas = current_app.extensions["marac_areas"]
    return loaded


@bp.get("/sign-in")
def sign_in_page() -> Any:
    config = settings()
    if config.oidc is not None and not config.dev_sign_in:
        return redirect(url_for("signin.oidc_start"))
    all_areas = bp_areas()
    agencies = sorted({a.id for area in all_areas.by_id.values() for a in area.agencies})
    return render_template("sign_in.html", roles=PERSON_ROLES, role_names=ROLE_NAMES,
                           areas=sorted(all_areas.by_id.values(), key=lambda a: a.id),
                           agencies=agencies, errors={}, values={},
                           timed_out=request.args.get("timed_out") == "1")


@bp.post("/sign-in")
def dev_sign_in() -> Any:
    config = settings()
    if not config.dev_sign_in or config.dev_private_key is None:
        abort(404)
    role = request.form.get("role", "")
    area = request.form.get("area", "")
    agency = request.form.get("agency", "")
    errors: dict[str, str] = {}
    if role not in PERSON_ROLES:
        errors["role"] = "Select your role"
    if not is_area_id(area) or area not in bp_areas().by_id:
        errors["area"] = "Select your MARAC area"
    if not agency or not is_area_id(agency):
        errors["agency"] = "Select your agency"
    if errors:
        all_areas = bp_areas()
        agencies = sorted({a.id for ar in all_areas.by_id.values() for a in ar.agencies})
        return render_template("sign_in.html", roles=PERSON_ROLES, role_names=ROLE_NAMES,
                               areas=sorted(all_areas.by_id.values(), key=lambda a: a.id),
                               agencies=agencies, errors=errors, values=request.form,
                               timed_out=False), 400
    subject = f"dev-{role}-{agency}"
    token = mint_token(config.dev_private_key.read_bytes(), subject=subject, agency=agency,
                       role=role, areas=[area], audience=config.jwt_audience,
                       issuer=config.jwt_issuer, ttl_s=TOKEN_TTL_S)
    sign_in(Person(subject, role, (area,), agency), token)
    return redirect(url_for("home.home"))


@bp.get("/sign-in/oidc")
def oidc_start() -> Any:
    oauth = current_app.extensions.get("marac_oauth")
    if oauth is None:
        abort(404)
    try:
        return oauth.idp.authorize_redirect(f"{settings().public_url}/sign-in/callback")
    except RequestException:
        return idp_unavailable()


def idp_unavailable() -> tuple[str, int]:
    return render_template("error.html", title="Sign-in is unavailable",
                           message="The identity provider cannot be reached. Try again in a "
                                   "few minutes."), 503


@bp.get("/sign-in/callback")
def oidc_callback() -> Any:
    config = settings()
    oauth = current_app.extensions.get("marac_oauth")
    if oauth is None or config.oidc is None:
        abort(404)
    try:
        token = oauth.idp.authorize_access_token()
    except RequestException:
        return idp_unavailable()
    except (OAuthError, JoseError) as error:
        # A state not this browser's, the provider's refusal, or an ID token whose signature,
        # issuer, audience, nonce or times do not check out (Authlib verifies it with joserfc).
        log.warning("sign-in refused", extra={"reason_code": type(error).__name__})
        return render_template("error.html", title="You were not signed in",
                               message="The sign-in did not complete. Sign in again."), 400
    claims = token.get("userinfo") or {}
    person = claims_person(claims, config)
    if person is None or not token.get("access_token"):
        return render_template("error.html", title="You cannot use the MARAC platform",
                               message="Your account has no MARAC role, area or agency. Ask "
                                       "your administrator to give you access."), 403
    sign_in(person, str(token["access_token"]))
    return redirect(url_for("home.home"))


def claims_person(claims: dict[str, Any], config: ConsoleSettings) -> Person | None:
    """The identity provider's claims mapped to the platform's role, areas and agency (by the
    configured claim names); None when one is missing or not one the platform knows."""
    assert config.oidc is not None
    role = claims.get(config.oidc.role_claim)
    raw_areas = claims.get(config.oidc.areas_claim)
    agency = claims.get(config.oidc.agency_claim)
    if isinstance(raw_areas, str):
        raw_areas = raw_areas.split()
    if role not in PERSON_ROLES or not isinstance(agency, str) or not isinstance(raw_areas, list):
        return None
    area_ids = tuple(a for a in raw_areas if is_area_id(a))
    if not area_ids or not claims.get("sub"):
        return None
    return Person(str(claims["sub"]), str(role), area_ids, agency)


@bp.post("/sign-out")
def sign_out() -> Response:
    session.clear()
    return redirect(url_for("signin.signed_out"))


@bp.get("/signed-out")
def signed_out() -> str:
    return render_template("signed_out.html")
