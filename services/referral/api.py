"""The referral service's HTTP API: referrers create and submit referrals; coordinators read them."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import select

from marac_platform import checklists, idempotency
from marac_platform.auth import principal, requires, scope
from marac_platform.http import current_runtime, request_unit_of_work
from marac_platform.problems import Problem, flatten_messages
from marac_platform.security.roles import Permission, allowed
from services.referral import domain, service
from services.referral.models import Referral
from services.referral.schemas import ReferralDraftSchema, ReferralSubmitSchema
from services.referral.schemas_api import ListQuery, ReferralOut, ReferralPage

blp = Blueprint("referrals", __name__, url_prefix="/v1", description="Referrals to a MARAC")


def load_form(body: Any, *, submit: bool) -> dict[str, Any]:
    """Validate with the full form schema; errors name each field, nothing is stored."""
    schema = ReferralSubmitSchema() if submit else ReferralDraftSchema()
    try:
        form: dict[str, Any] = schema.load(body)
    except ValidationError as exc:
        raise Problem(422, "Invalid input", "The referral has invalid fields; see errors.",
                      slug="invalid-referral", errors=list(flatten_messages(exc.messages))) from None
    errors = domain.dash_errors(form, checklists.shipped_checklists(), submit=submit)
    if errors:
        raise Problem(422, "Invalid input", "The DASH answers do not fit the checklist; see errors.",
                      slug="invalid-referral", errors=errors)
    return form


def referral_out(referral: Referral, *, with_form: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": referral.id, "case_id": referral.case_id, "area_id": referral.area_id,
        "state": referral.state, "created_at": referral.created_at,
        "received_at": referral.received_at, "assessment": referral.assessment,
        "return_reasons": referral.return_reasons, "repeat": referral.repeat,
        "marac_date": referral.marac_date, "meeting_id": referral.meeting_id,
        "submissions": referral.submissions,
    }
    if with_form:
        body["form"] = service.read_form(current_runtime(), referral)
    return body


def visible(referral: Referral | None) -> Referral:
    """The referral if the caller may read it; otherwise 404, never a hint that it exists."""
    who = principal()
    if referral is None:
        raise Problem(404, "Not found", "No such referral.")
    if allowed(who, Permission.REFERRAL_READ_AREA):
        return referral
    if allowed(who, Permission.REFERRAL_READ_OWN) and referral.referrer_subject == who.subject:
        return referral
    raise Problem(404, "Not found", "No such referral.")


@blp.route("/referrals")
class Referrals(MethodView):
    @requires(Permission.REFERRAL_CREATE)
    @blp.response(201, ReferralOut)
    @blp.doc(parameters=[
        {"in": "query", "name": "submit", "schema": {"type": "boolean"},
         "description": "submit at once (full validation) instead of saving a draft"},
        {"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}},
    ], requestBody={"content": {"application/json": {"schema": ReferralDraftSchema}}})
    def post(self) -> Response:
        """Create a referral: a draft, or with ?submit=true a complete submitted referral."""
        submit = request.args.get("submit", "false").lower() in ("1", "true", "yes")
        body = request.get_json(silent=False)
        form = load_form(body, submit=submit)
        who = principal()
        if form.get("area_id") is None:
            raise Problem(422, "Invalid input",
                          errors=[{"field": "area_id", "reason": "Missing data for required field."}])
        if form["area_id"] not in scope():
            raise Problem(403, "Not allowed", "You may not refer to that area.", slug="forbidden")
        with request_unit_of_work() as uow:

            def create() -> idempotency.Created:
                referral = service.create_referral(uow, who, form, submit=submit)
                return idempotency.Created(
                    201, ReferralOut().dump(referral_out(referral, with_form=False)),
                    f"/v1/referrals/{referral.id}")

            return idempotency.once(uow, who.subject, body, create)

    @requires(Permission.REFERRAL_READ_OWN)
    @blp.arguments(ListQuery, location="query")
    @blp.response(200, ReferralPage)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Referrals the caller may see, newest first (a referrer sees their own)."""
        who = principal()
        statement = select(Referral).order_by(Referral.created_at.desc(), Referral.id)
        if not allowed(who, Permission.REFERRAL_READ_AREA):
            statement = statement.where(Referral.referrer_subject == who.subject)
        if query.get("state"):
            statement = statement.where(Referral.state == query["state"])
        with request_unit_of_work() as uow:
            rows = uow.session.scalars(
                statement.offset(query["offset"]).limit(query["limit"] + 1)).all()
        return {"items": [referral_out(r, with_form=False) for r in rows[: query["limit"]]],
                "offset": query["offset"], "limit": query["limit"],
                "has_more": len(rows) > query["limit"]}


@blp.route("/referrals/<referral_id>")
class OneReferral(MethodView):
    @blp.response(200, ReferralOut)
    def get(self, referral_id: str) -> dict[str, Any]:
        """One referral with its form, if the caller may read it."""
        who = principal()
        if not (allowed(who, Permission.REFERRAL_READ_OWN) or allowed(who, Permission.REFERRAL_READ_AREA)):
            raise Problem(403, "Not allowed", "Your role may not read referrals.", slug="forbidden")
        with request_unit_of_work() as uow:
            referral = visible(service.find(uow, referral_id))
            return referral_out(referral, with_form=True)
