"""The actions service's HTTP API: case records, agencies' research returns, SMART actions and
their views, the chair's record and the information-and-updates document (JSON, HTML, PDF)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from marac_platform import audit, clock, idempotency
from marac_platform.auth import caller_area, principal, requires
from marac_platform.http import current_runtime, request_unit_of_work
from marac_platform.problems import Problem
from marac_platform.runtime import UnitOfWork
from marac_platform.security.roles import AGENCY_MEMBERS, Permission
from services.actions import domain, render, research, service, smart, updates
from services.actions.models import Action, CaseRecord, ResearchReturn, UpdatesVersion
from services.actions.schemas import (
    ActionDetailOut,
    ActionIn,
    ActionMoveIn,
    ActionOut,
    ActionsQuery,
    CaseRecordOut,
    CaseReturnsOut,
    CatalogueItemOut,
    ChairRecordIn,
    ChairRecordOut,
    ReportOut,
    ReturnIn,
    ReturnOut,
    ReturnsQuery,
    ReturnSummaryOut,
    UpdatesDocumentOut,
    UpdatesIn,
    UpdatesVersionOut,
)

blp = Blueprint("actions", __name__, url_prefix="/v1",
                description="Case records, research returns, SMART actions, updates documents")


def actor() -> domain.Actor:
    who = principal()
    return domain.Actor(subject=who.subject, agency=who.agency,
                        manages=who.role not in AGENCY_MEMBERS)


@blp.route("/cases/<case_id>")
class OneCase(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, CaseRecordOut)
    def get(self, case_id: str) -> CaseRecord:
        """A case record (404 outside the caller's areas)."""
        with request_unit_of_work() as uow:
            return service.find_record(uow, case_id)


@blp.route("/areas/<area_id>/action-catalogue")
class Catalogue(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, CatalogueItemOut(many=True))
    def get(self, area_id: str) -> list[dict[str, Any]]:
        """The area's catalogue of common actions (an action may also be written freely)."""
        caller_area(area_id)
        config = service.area_config(current_runtime(), area_id)
        return [{"code": i.code, "title": i.title, "for_whom": list(i.for_whom)}
                for i in config.catalogue]


# --- research returns ------------------------------------------------------------------------


def return_out(uow: UnitOfWork, found: ResearchReturn, with_content: bool = True) -> dict[str, Any]:
    body = {name: getattr(found, name) for name in ReturnOut().fields if name != "content"}
    if with_content:
        body["content"] = research.content_of(uow, actor(), found)
    return body


@blp.route("/returns")
class Returns(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.arguments(ReturnsQuery, location="query")
    @blp.response(200, ReturnSummaryOut(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """What an agency owes (or has sent, with `outstanding=false`) across its cases, soonest
        closing date first. An agency sees its own; coordinators and chairs every agency's."""
        with request_unit_of_work() as uow:
            found = research.owed_returns(uow, actor(), query["agency_id"], query["outstanding"],
                                          query["limit"])
            listed = [return_out(uow, r, with_content=False) for r in found]
        audit.note_all(listed)
        return listed


@blp.route("/returns/<return_id>")
class OneReturn(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, ReturnOut)
    def get(self, return_id: str) -> dict[str, Any]:
        """One return with what it says (404 for another agency's)."""
        with request_unit_of_work() as uow:
            return return_out(uow, research.one_return(uow, actor(), return_id))


@blp.route("/cases/<case_id>/returns")
class CaseReturns(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, ReturnSummaryOut(many=True))
    def get(self, case_id: str) -> list[dict[str, Any]]:
        """A case's returns, latest date first: who has returned, who has not, who was late."""
        with request_unit_of_work() as uow:
            return [return_out(uow, r, with_content=False)
                    for r in research.returns_of_case(uow, actor(), case_id)]

    @requires(Permission.UPDATES_SUBMIT)
    @blp.arguments(ReturnIn)
    @blp.response(201, ReturnOut)
    @blp.alt_response(200, schema=ReturnOut, description="an amendment of the return")
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, body: dict[str, Any], case_id: str) -> Response:
        """Save or send your agency's return on the case's current MARAC date: the first save
        creates it (201), a second is an amendment (200). Amendable until the closing date;
        after it an unsent return is still taken, marked late with the time."""
        who = actor()
        with request_unit_of_work() as uow:

            def save() -> idempotency.Created:
                found, created = research.submit_return(uow, who, case_id, body)
                return idempotency.Created(201 if created else 200,
                                           ReturnOut().dump(return_out(uow, found)),
                                           f"/v1/returns/{found.id}")

            return idempotency.once(uow, who.subject, {"case_id": case_id, **body}, save)


@blp.route("/meetings/<meeting_id>/returns")
class MeetingReturns(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, CaseReturnsOut(many=True))
    def get(self, meeting_id: str) -> list[dict[str, Any]]:
        """Per case listed on a MARAC date: each agency's return, on time, late, or not yet."""
        with request_unit_of_work() as uow:
            listed = research.meeting_returns(uow, actor(), meeting_id)
            body = [{**row, "returns": [return_out(uow, r, with_content=False)
                                        for r in row["returns"]]} for row in listed]
        audit.note_all(body)
        return body


# --- SMART actions -----------------------------------------------------------------------------


def action_out(uow: UnitOfWork, action: Action) -> dict[str, Any]:
    body = {name: getattr(action, name) for name in ActionOut().fields
            if name not in ("what", "risk", "overdue")}
    body.update(smart.details_of(uow, action))
    body["overdue"] = (domain.ActionStatus(action.status) in domain.COMMITTED
                       and clock.uk_today() > action.due_by)
    return body


@blp.route("/cases/<case_id>/actions")
class CaseActions(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, ActionOut(many=True))
    def get(self, case_id: str) -> list[dict[str, Any]]:
        """A case's actions (an agency sees those it owns or asked for)."""
        with request_unit_of_work() as uow:
            return [action_out(uow, a) for a in smart.case_actions(uow, actor(), case_id)]

    @requires(Permission.ACTION_WRITE)
    @blp.arguments(ActionIn)
    @blp.response(201, ActionOut)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, body: dict[str, Any], case_id: str) -> Response:
        """Propose (or, as coordinator or owning agency, agree) a SMART action on a case: from
        the area's catalogue or written freely, owned by an agency of the area, due today or later."""
        who = actor()
        with request_unit_of_work() as uow:

            def create() -> idempotency.Created:
                action = smart.create_action(uow, who, case_id, body)
                return idempotency.Created(201, ActionOut().dump(action_out(uow, action)),
                                           f"/v1/actions/{action.id}")

            return idempotency.once(uow, who.subject, {"case_id": case_id, **body}, create)


@blp.route("/actions")
class OpenActions(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.arguments(ActionsQuery, location="query")
    @blp.response(200, ActionOut(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """An agency's open actions across its cases, overdue first, then by date."""
        with request_unit_of_work() as uow:
            listed = [action_out(uow, a) for a in
                      smart.open_actions(uow, actor(), query["agency_id"], query["limit"])]
        audit.note_all(listed)
        return listed


@blp.route("/actions/<action_id>")
class OneAction(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, ActionDetailOut)
    def get(self, action_id: str) -> dict[str, Any]:
        """One action with every status it took: who, when, and their note."""
        with request_unit_of_work() as uow:
            action = smart.find_action(uow, actor(), action_id)
            return {**action_out(uow, action), "history": smart.history_of(uow, action)}


@blp.route("/actions/<action_id>/status")
class MoveAction(MethodView):
    @requires(Permission.ACTION_WRITE)
    @blp.arguments(ActionMoveIn)
    @blp.response(200, ActionOut)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, body: dict[str, Any], action_id: str) -> Response:
        """Move an action: agreed, in progress, completed (what was done, when), not possible
        (why), not done (why), cancelled. A move the lifecycle does not allow is 409 with the
        current and the asked status."""
        who = actor()
        with request_unit_of_work() as uow:

            def move() -> idempotency.Created:
                try:
                    action = smart.move_action(uow, who, action_id, body)
                except domain.NotYours as refused:
                    raise Problem(403, "Not allowed", refused.detail, slug="forbidden") from None
                return idempotency.Created(200, ActionOut().dump(action_out(uow, action)))

            return idempotency.once(uow, who.subject, {"action_id": action_id, **body}, move)


@blp.route("/meetings/<meeting_id>/actions")
class MeetingActions(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, ActionOut(many=True))
    def get(self, meeting_id: str) -> list[dict[str, Any]]:
        """A MARAC date's outstanding actions, overdue first."""
        with request_unit_of_work() as uow:
            listed = [action_out(uow, a) for a in smart.meeting_actions(uow, actor(), meeting_id)]
        audit.note_all(listed)
        return listed


@blp.route("/areas/<area_id>/action-report")
class ActionReport(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, ReportOut)
    def get(self, area_id: str) -> dict[str, Any]:
        """Per agency and for the area: actions completed on time, late, outstanding, overdue,
        and each kind of not done (an agency sees its own line)."""
        caller_area(area_id)
        with request_unit_of_work() as uow:
            return smart.report(uow, actor(), area_id)


# --- the chair's record and the document -------------------------------------------------------


@blp.route("/cases/<case_id>/chair-record")
class ChairRecordView(MethodView):
    @requires(Permission.UPDATES_MANAGE)
    @blp.response(200, ChairRecordOut)
    def get(self, case_id: str) -> dict[str, Any]:
        """The chair's record of the case's latest hearing."""
        with request_unit_of_work() as uow:
            return updates.chair_record_of(uow, case_id)

    @requires(Permission.UPDATES_MANAGE)
    @blp.arguments(ChairRecordIn)
    @blp.response(200, ChairRecordOut)
    def put(self, body: dict[str, Any], case_id: str) -> dict[str, Any]:
        """Meeting model: the chair's record of the case's hearing on its current date
        (agencies present, representatives briefed, risks agreed, deferred and why). It feeds
        the information-and-updates document."""
        with request_unit_of_work() as uow:
            updates.record_chair(uow, actor(), case_id, body)
            return updates.chair_record_of(uow, case_id)


@blp.route("/cases/<case_id>/updates")
class CaseUpdates(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, UpdatesVersionOut(many=True))
    def get(self, case_id: str) -> list[UpdatesVersion]:
        """Every version of the case's information-and-updates documents, oldest first."""
        with request_unit_of_work() as uow:
            return list(updates.versions_of(uow, case_id))

    @requires(Permission.UPDATES_MANAGE)
    @blp.arguments(UpdatesIn)
    @blp.response(201, UpdatesVersionOut)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, body: dict[str, Any], case_id: str) -> Response:
        """After an edit (a late return, actions changed, the chair's record, a correction):
        the case's document gets a new numbered version, sent as `updates.published`. Earlier
        versions stay as they were sent."""
        who = actor()
        with request_unit_of_work() as uow:

            def create() -> idempotency.Created:
                row = updates.new_version(uow, who, case_id, body["reason"])
                return idempotency.Created(201, UpdatesVersionOut().dump(row),
                                           f"/v1/updates/{row.id}")

            return idempotency.once(uow, who.subject, {"case_id": case_id, **body}, create)


def document(updates_id: str) -> tuple[UpdatesVersion, dict[str, Any]]:
    with request_unit_of_work() as uow:
        found, content = updates.one_version(uow, updates_id)
    audit.note(found.case_id, found.area_id)
    return found, content


@blp.route("/updates/<updates_id>")
class OneUpdates(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, UpdatesDocumentOut)
    def get(self, updates_id: str) -> dict[str, Any]:
        """One version of an information-and-updates document, as data."""
        found, content = document(updates_id)
        return {**{name: getattr(found, name) for name in UpdatesVersionOut().fields},
                "document": content}


@blp.route("/updates/<updates_id>/html")
class UpdatesHtml(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, {"type": "string"}, content_type="text/html",
                  description="the document for people to read")
    def get(self, updates_id: str) -> Response:
        """One version of the document as HTML (the same template as the PDF)."""
        _, content = document(updates_id)
        return Response(render.html(content), mimetype="text/html")


@blp.route("/updates/<updates_id>/pdf")
class UpdatesPdf(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf",
                  description="the document as PDF: reference, date and statement on every page")
    def get(self, updates_id: str) -> Response:
        """One version of the document as PDF."""
        found, content = document(updates_id)
        response = Response(render.pdf(content), mimetype="application/pdf")
        response.headers["Content-Disposition"] = (
            f'inline; filename="updates-{found.case_id}-v{found.version}.pdf"')
        return response

