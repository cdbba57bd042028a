"""The scheduling service's HTTP API: meetings with free capacity, agendas, allocations, case
lists, the calendar preview; coordinators add and cancel dates, move cases, record outcomes."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from marac_platform import audit, idempotency
from marac_platform.auth import caller_area, principal, requires
from marac_platform.db import utcnow
from marac_platform.http import current_runtime, request_unit_of_work
from marac_platform.security.roles import Permission
from services.scheduling import domain, service
from services.scheduling.models import Meeting
from services.scheduling.schemas import (
    AgendaOut,
    AllocationDetailOut,
    AllocationOut,
    AtRiskOut,
    CancelIn,
    CancelOut,
    CaseListOut,
    MeetingIn,
    MeetingOut,
    MeetingsQuery,
    MoveIn,
    OutcomeIn,
    PreviewDate,
    PreviewQuery,
)

blp = Blueprint("scheduling", __name__, url_prefix="/v1", description="MARAC dates and agendas")


def meeting_out(meeting: Meeting) -> dict[str, Any]:
    body = {column: getattr(meeting, column) for column in MeetingOut().fields if column != "free"}
    body["free"] = service.free_places(meeting, utcnow())
    return body




def agenda(uow: Any, meeting: Meeting) -> dict[str, Any]:
    cases = service.agenda_cases(uow, meeting)
    audit.note_all(cases, meeting.area_id)
    return {**meeting_out(meeting), "cases": cases}


@blp.route("/meetings")
class Meetings(MethodView):
    @requires(Permission.MEETING_READ)
    @blp.arguments(MeetingsQuery, location="query")
    @blp.response(200, MeetingOut(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """An area's upcoming MARAC dates with their free capacity."""
        caller_area(query["area_id"])
        with request_unit_of_work() as uow:
            found = service.upcoming_meetings(uow, query["area_id"], query["from_date"],
                                              query["limit"], query["include_cancelled"])
            return [meeting_out(m) for m in found]

    @requires(Permission.MEETING_MANAGE)
    @blp.arguments(MeetingIn)
    @blp.response(201, MeetingOut)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, body: dict[str, Any]) -> Response:
        """Add an ad hoc MARAC date (a working day, not already a date of the area); cases
        waiting for a date are offered it at once."""
        caller_area(body["area_id"])
        who = principal()
        with request_unit_of_work() as uow:

            def create() -> idempotency.Created:
                meeting = service.add_meeting(uow, body["area_id"], body["marac_date"],
                                              body["capacity"], who.subject)
                uow.session.refresh(meeting)
                return idempotency.Created(201, MeetingOut().dump(meeting_out(meeting)),
                                           f"/v1/meetings/{meeting.id}")

            return idempotency.once(uow, who.subject, body, create)


@blp.route("/meetings/<meeting_id>")
class Agenda(MethodView):
    @requires(Permission.MEETING_READ)
    @blp.response(200, AgendaOut)
    def get(self, meeting_id: str) -> dict[str, Any]:
        """One meeting's agenda: its cases in slot order and its free capacity."""
        with request_unit_of_work() as uow:
            return agenda(uow, service.find_meeting(uow, meeting_id, materialize=True))


@blp.route("/meetings/<meeting_id>/cancel")
class CancelMeeting(MethodView):
    @requires(Permission.MEETING_MANAGE)
    @blp.arguments(CancelIn)
    @blp.response(200, CancelOut)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, body: dict[str, Any], meeting_id: str) -> Response:
        """Cancel a date that has not begun: its cases go to the earliest date that can take
        them (or wait, listed as at risk); referrers and agencies are told by events."""
        who = principal()
        with request_unit_of_work() as uow:

            def cancel() -> idempotency.Created:
                done = service.cancel_meeting(uow, meeting_id, body["reason"], who.subject)
                audit.note_all([*done.moved, *done.waiting])
                return idempotency.Created(200, CancelOut().dump({
                    "meeting": meeting_out(done.meeting), "moved": done.moved,
                    "waiting": done.waiting}))

            return idempotency.once(uow, who.subject, body, cancel)


@blp.route("/meetings/<meeting_id>/case-lists")
class CaseLists(MethodView):
    @requires(Permission.CASELIST_READ)
    @blp.response(200, CaseListOut(many=True))
    def get(self, meeting_id: str) -> list[dict[str, Any]]:
        """The case-list documents sent for the date: edition 0, then any addenda of late
        (urgent) cases, each with the area's confidentiality statement."""
        with request_unit_of_work() as uow:
            documents = service.case_lists(uow, meeting_id)
        for document in documents:
            audit.note_all(document["cases"], document["area_id"])
        return documents


@blp.route("/allocations/<case_id>")
class OneAllocation(MethodView):
    @requires(Permission.ALLOCATION_READ)
    @blp.response(200, AllocationDetailOut)
    def get(self, case_id: str) -> dict[str, Any]:
        """Where a case is, why earlier dates were passed over, and where it has been."""
        with request_unit_of_work() as uow:
            found = service.find_allocation(uow, case_id)
            history = service.allocation_history(uow, case_id)
            body = {name: getattr(found, name) for name in AllocationOut().fields}
            body["history"] = history
            return body


@blp.route("/allocations/<case_id>/move")
class MoveCase(MethodView):
    @requires(Permission.MEETING_MANAGE)
    @blp.arguments(MoveIn)
    @blp.response(200, AllocationOut)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, body: dict[str, Any], case_id: str) -> Response:
        """Move a case to another open date of its area (capacity permitting); the referrer is
        told, and agencies get an addendum when that date's case list is already out."""
        who = principal()
        with request_unit_of_work() as uow:

            def move() -> idempotency.Created:
                moved = service.move_case(uow, case_id, body["meeting_id"], body["reason"],
                                          who.subject)
                return idempotency.Created(200, AllocationOut().dump(moved))

            return idempotency.once(uow, who.subject, {"case_id": case_id, **body}, move)


@blp.route("/allocations/<case_id>/outcome")
class CaseOutcome(MethodView):
    @requires(Permission.MEETING_MANAGE)
    @blp.arguments(OutcomeIn)
    @blp.response(200, AllocationOut)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, body: dict[str, Any], case_id: str) -> Response:
        """Meeting model: record a case heard, or deferred (it goes to the next date that can
        take it). Co-ordination model cases are heard at the closing date by the service."""
        who = principal()
        with request_unit_of_work() as uow:

            def record() -> idempotency.Created:
                updated = service.record_outcome(uow, case_id, body["outcome"], who.subject)
                return idempotency.Created(200, AllocationOut().dump(updated))

            return idempotency.once(uow, who.subject, {"case_id": case_id, **body}, record)


@blp.route("/areas/<area_id>/at-risk")
class AtRisk(MethodView):
    @requires(Permission.ALLOCATION_READ)
    @blp.response(200, AtRiskOut(many=True))
    def get(self, area_id: str) -> list[dict[str, Any]]:
        """Cases that will miss (or have missed) the time-to-hearing target, or wait for a date."""
        caller_area(area_id)
        with request_unit_of_work() as uow:
            listed = [
                {"case_id": item.record.case_id, "referral_id": item.record.referral_id,
                 "status": item.record.status, "urgent": item.record.urgent,
                 "received_at": item.record.received_at, "target_date": item.target_date,
                 "meeting_id": item.record.meeting_id, "marac_date": item.record.marac_date,
                 "days_over": item.days_over}
                for item in service.at_risk(uow, area_id)
            ]
        audit.note_all(listed, area_id)
        return listed


@blp.route("/areas/<area_id>/calendar")
class CalendarPreview(MethodView):
    @requires(Permission.MEETING_READ)
    @blp.arguments(PreviewQuery, location="query")
    @blp.response(200, PreviewDate(many=True))
    def get(self, query: dict[str, Any], area_id: str) -> list[dict[str, Any]]:
        """The area's next MARAC dates (default 12), with cut-off and case-list times, counting
        dates coordinators added or cancelled."""
        caller_area(area_id)
        config = service.calendar(current_runtime(), area_id)
        with request_unit_of_work() as uow:
            dates = service.calendar_preview(uow, area_id, query["count"])
        return [
            {"marac_date": o.date, "starts_at": o.start,
             "cutoff_at": domain.cutoff_for(config, o),
             "caselist_at": domain.caselist_publish_at(config, o),
             "capacity": o.capacity, "moved_from": o.moved_from, "ad_hoc": o.ad_hoc}
            for o in dates
        ]
