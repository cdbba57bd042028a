"""The referral service's HTTP API: referrers save drafts and submit; coordinators screen.

Saving as one goes: `POST /v1/referrals` (no `submit`) creates a draft, checked field by field
but with nothing required, and `PATCH /v1/referrals/<id>` saves more of it (whole top-level
sections replace the stored ones); `POST /v1/referrals/<id>/submit` then checks the whole
stored form. A submit that fails answers 422 naming every field and leaves the draft as it
was, so nothing typed is lost. `POST /v1/referrals?submit=true` is the one-shot form for
systems that send a complete referral: it is all or nothing (a 422 stores nothing), so
people filling the form in should save drafts.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from marac_platform import audit, idempotency
from marac_platform.auth import caller_area, principal, requires
from marac_platform.errors import InvalidInput, NotFound
from marac_platform.http import current_runtime, request_unit_of_work
from marac_platform.problems import Problem
from marac_platform.runtime import UnitOfWork
from marac_platform.security.roles import Permission, allowed
from services.referral import domain, separation, service
from services.referral.forms import read_form
from services.referral.models import Referral
from services.referral.schemas import ReferralDraftSchema, ReferralSubmitSchema
from services.referral.schemas_api import (
    ListQuery,
    ReferralOut,
    ReferralPage,
    ScreeningIn,
    UrgentIn,
)

blp = Blueprint(
    "referrals", __name__, url_prefix="/v1",
    description=(
        "Referrals to a MARAC. Save as you go: POST /v1/referrals creates a draft (each field "
        "checked, none required) and PATCH saves more of it; POST .../submit checks the whole "
        "stored form and, on a 422, leaves the draft as it was. POST /v1/referrals?submit=true "
        "is all or nothing (a 422 stores nothing). A returned referral is amended with PATCH "
        "and submitted again; received_at stays the first submission's."))


# Which schema the body follows depends on ?submit: both are listed, each saying when it applies.
CREATE_BODY = {
    "required": True,
    "description": "With submit=true: SubmitReferral, the whole form with its required fields "
                   "and rules. Otherwise: DraftReferral, any valid part of the form, with "
                   "area_id (which a draft keeps for good).",
    "content": {"application/json": {"schema": {"anyOf": [
        ReferralSubmitSchema,
        {"allOf": [ReferralDraftSchema, {"type": "object", "required": ["area_id"]}]},
    ]}}},
}

# One instance for every answer: building a schema costs more than dumping with it.
REFERRAL_OUT = ReferralOut()


def referral_out(uow: UnitOfWork, referral: Referral, *, with_form: bool) -> dict[str, Any]:
    who = principal()
    coordinator = allowed(who, Permission.REFERRAL_READ_AREA)
    body: dict[str, Any] = {
        "id": referral.id, "case_id": referral.case_id, "area_id": referral.area_id,
        "state": referral.state, "created_at": referral.created_at,
        "updated_at": referral.updated_at,
        "received_at": referral.received_at, "assessment": referral.assessment,
        "return_reasons": referral.return_reasons, "returned_at_step": referral.returned_at_step,
        "repeat": referral.repeat, "urgent": referral.urgent,
        "marac_date": referral.marac_date, "meeting_id": referral.meeting_id,
        "submissions": referral.submissions,
    }
    if coordinator:
        body["linked_case_grounds"] = referral.linked_case_grounds
        body["link_confirmed_by"] = referral.link_confirmed_by
        body["link_confirmed_at"] = referral.link_confirmed_at
        body["held_for_confirmation"] = service.is_held(referral)
        body["separated_from"] = referral.separated_from
        body["separated_by"] = referral.separated_by
        body["separated_at"] = referral.separated_at
    if with_form:
        body["form"] = read_form(current_runtime(), referral)
        body["return_note"] = service.return_note(uow, referral)
        if coordinator:
            body["screening"] = service.screening_view(uow, referral)
    return body


def visible(uow: UnitOfWork, referral_id: str, *, live: bool = False,
            lock: bool = False) -> Referral:
    """The referral if the caller may read it (`service.readable_by`); otherwise 404, never a
    hint that it exists. `live`: also 404 once its case is erased; `lock`: and its row held
    until the call commits (`service.find_live`)."""
    referral = (service.find_live(uow, referral_id, principal(), lock=lock) if live or lock
                else service.find(uow, referral_id, principal()))
    if referral is None:
        raise NotFound("No such referral.")
    return referral


def owned(uow: UnitOfWork, referral_id: str) -> Referral:
    """The caller's own referral, for the referrer's changes; others' are 403 or 404."""
    found = visible(uow, referral_id)
    if found.referrer_subject != principal().subject:
        raise Problem(403, "Not allowed", "Only the referrer may change a referral.",
                      slug="forbidden")
    return found


@blp.route("/referrals")
class Referrals(MethodView):
    @requires(Permission.REFERRAL_CREATE)
    @blp.response(201, ReferralOut)
    @blp.doc(parameters=[
        {"in": "query", "name": "submit", "schema": {"type": "boolean", "default": False},
         "description": "true: submit at once, the body a whole SubmitReferral (a 422 names "
                        "every field and stores nothing); otherwise save a DraftReferral"},
        idempotency.HEADER,
    ], requestBody=CREATE_BODY)
    def post(self) -> Response:
        """Create a referral: a draft to complete, or with ?submit=true a complete one.

        A submitted referral for a victim who already has an open case in the area joins that
        case (matched on name or alias AND date of birth, never one alone).
        """
        submit = request.args.get("submit", "false").lower() in ("1", "true", "yes")
        body = request.get_json(silent=False)
        form = service.check_form(body, submit=submit)
        who = principal()
        if form.get("area_id") is None:
            raise Problem(422, "Invalid input",
                          errors=[{"field": "area_id", "reason": "Missing data for required field."}])
        caller_area(form["area_id"])
        with request_unit_of_work() as uow:

            def create() -> idempotency.Created:
                referral = service.create_referral(uow, who, form, submit=submit)
                return idempotency.Created(
                    201, REFERRAL_OUT.dump(referral_out(uow, referral, with_form=False)),
                    f"/v1/referrals/{referral.id}")

            return idempotency.once(uow, who.subject, body, create)

    @requires(Permission.REFERRAL_READ_OWN)
    @blp.arguments(ListQuery, location="query")
    @blp.response(200, ReferralPage)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Referrals the caller may see, newest first: exactly those GET /referrals/{id}
        answers (their own; with referral.read_area, as coordinators, chairs and IDVAs have,
        also every submitted one of their areas). linked=true: only those that joined the
        victim's open case, the possible duplicates a coordinator confirms."""
        who = principal()
        if query["linked"] and not allowed(who, Permission.REFERRAL_READ_AREA):
            # Whether a referral joined another case is the coordinators' to know.
            raise Problem(403, "Not allowed", "Only coordinators may list linked referrals.",
                          slug="forbidden")
        with request_unit_of_work() as uow:
            rows, has_more = service.readable_page(
                uow, who, state=query.get("state"), offset=query["offset"],
                limit=query["limit"], linked=query["linked"])
            items = [referral_out(uow, r, with_form=False) for r in rows]
        audit.note_all(items)
        return {"items": items, "offset": query["offset"], "limit": query["limit"],
                "has_more": has_more}


@blp.route("/referrals/<referral_id>")
class OneReferral(MethodView):
    @requires(Permission.REFERRAL_READ_OWN)
    @blp.response(200, ReferralOut)
    def get(self, referral_id: str) -> dict[str, Any]:
        """One referral with its form, if the caller may read it; coordinators also see its
        screening and, for a referral that joined an existing case, the match's grounds."""
        with request_unit_of_work() as uow:
            referral = visible(uow, referral_id)
            return referral_out(uow, referral, with_form=True)

    @requires(Permission.REFERRAL_CREATE)
    @blp.response(200, ReferralOut)
    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": ReferralDraftSchema}}})
    def patch(self, referral_id: str) -> dict[str, Any]:
        """Save more of a draft, or amend a returned referral before sending it again.

        Checked as a draft (fields valid, none required). Each top-level section sent replaces
        the stored one whole; sections not sent are kept. The area cannot change.
        """
        changes = service.check_form(request.get_json(silent=False), submit=False)
        with request_unit_of_work() as uow:
            referral = owned(uow, referral_id)
            service.save_draft(uow, referral, changes)
            return referral_out(uow, referral, with_form=True)


@blp.route("/referrals/<referral_id>/submit")
class Submit(MethodView):
    @requires(Permission.REFERRAL_CREATE)
    @blp.response(200, ReferralOut)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, referral_id: str) -> Response:
        """Submit a draft, or a returned referral after amending it, to risk assessment.

        The stored form is checked in full: a 422 names every field to complete and leaves the
        draft untouched. Without a body. A second submit is 409, or with the same
        Idempotency-Key the first answer again.
        """
        body = request.get_json(silent=True)
        if body not in (None, {}):
            raise InvalidInput("(body)", "Must be empty.",
                               detail="Submit takes no body; save changes with PATCH.")
        who = principal()
        with request_unit_of_work() as uow:
            referral = owned(uow, referral_id)

            def submit() -> idempotency.Created:
                service.submit_draft(uow, referral, by=who.subject)
                return idempotency.Created(
                    200, REFERRAL_OUT.dump(referral_out(uow, referral, with_form=False)))

            return idempotency.once(uow, who.subject, body, submit)


@blp.route("/referrals/<referral_id>/screening")
class Screening(MethodView):
    @requires(Permission.REFERRAL_SCREEN)
    @blp.arguments(ScreeningIn)
    @blp.response(200, ReferralOut)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, decision: dict[str, Any], referral_id: str) -> Response:
        """Record the decision of the screening step now pending (accept, or return with the
        reason). Every step accepting accepts the referral; a return sends it back."""
        who = principal()
        with request_unit_of_work() as uow:
            referral = visible(uow, referral_id, lock=True)  # one decision at a time

            def record() -> idempotency.Created:
                service.screen(uow, referral, who, decision["step"],
                               domain.ScreeningDecision(decision["decision"]),
                               decision.get("reason"))
                return idempotency.Created(
                    200, REFERRAL_OUT.dump(referral_out(uow, referral, with_form=False)))

            return idempotency.once(uow, who.subject, decision, record)


@blp.route("/referrals/<referral_id>/close")
class Close(MethodView):
    @requires(Permission.REFERRAL_SCREEN)
    @blp.response(200, ReferralOut)
    def post(self, referral_id: str) -> dict[str, Any]:
        """Close a heard referral; the case closes with its last open referral."""
        with request_unit_of_work() as uow:
            referral = visible(uow, referral_id, live=True)
            service.close(uow, referral, principal().subject)
            return referral_out(uow, referral, with_form=False)


@blp.route("/referrals/<referral_id>/link-confirmation")
class LinkConfirmation(MethodView):
    @requires(Permission.REFERRAL_SCREEN)
    @blp.response(200, ReferralOut)
    def post(self, referral_id: str) -> dict[str, Any]:
        """Confirm that a referral which joined the victim's open case is the same victim: it
        leaves the coordinator's list of possible duplicates. Confirming again changes
        nothing; a referral that joined no case is a 409."""
        with request_unit_of_work() as uow:
            referral = visible(uow, referral_id, lock=True)
            service.confirm_link(uow, referral, principal().subject)
            return referral_out(uow, referral, with_form=False)


@blp.route("/referrals/<referral_id>/separation")
class Separation(MethodView):
    @requires(Permission.REFERRAL_SCREEN)
    @blp.response(200, ReferralOut)
    def post(self, referral_id: str) -> dict[str, Any]:
        """Not the same victim: a referral that joined an open case gets a case of its own
        (a new case id and key), and an assessed or screened one is assessed again there.
        Before acceptance only (409 after, and while it is being assessed); a referral that
        joined no case is a 409; separating again changes nothing."""
        with request_unit_of_work() as uow:
            referral = visible(uow, referral_id, lock=True)
            left = separation.separate(uow, referral, principal().subject)
            if left is not None:
                audit.note(left, referral.area_id)  # the call changed the case it left too
            return referral_out(uow, referral, with_form=False)


@blp.route("/referrals/<referral_id>/urgent")
class Urgent(MethodView):
    @requires(Permission.REFERRAL_SCREEN)
    @blp.arguments(UrgentIn)
    @blp.response(200, ReferralOut)
    def post(self, body: dict[str, Any], referral_id: str) -> dict[str, Any]:
        """Mark a referral urgent (or not) before it is accepted; scheduling sees it then."""
        with request_unit_of_work() as uow:
            referral = visible(uow, referral_id, lock=True)
            service.set_urgent(uow, referral, body["urgent"])
            return referral_out(uow, referral, with_form=False)
