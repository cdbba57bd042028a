"""The scheduling service's HTTP API: meetings with free capacity, agendas, allocations, previews."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from marac_platform.auth import requires, scope
from marac_platform.db import utcnow
from marac_platform.http import current_runtime, request_unit_of_work
from marac_platform.problems import Problem
from marac_platform.security.roles import Permission
from services.scheduling import domain, service
from services.scheduling.models import Allocation, Meeting
from services.scheduling.schemas import (
    AgendaOut,
    AllocationOut,
    MeetingOut,
    MeetingsQuery,
    PreviewDate,
    PreviewQuery,
)

blp = Blueprint("scheduling", __name__, url_prefix="/v1", description="MARAC dates and agendas")


def meeting_out(meeting: Meeting) -> dict[str, Any]:
    body = {column: getattr(meeting, column) for column in MeetingOut().fields if column != "free"}
    body["free"] = meeting.capacity - meeting.booked if meeting.status == "planned" else 0
    return body


def area_in_scope(area_id: str) -> None:
    current_runtime().area(area_id)
    if area_id not in scope():
        raise Problem(404, "Not found", "No such area.")


@blp.route("/meetings")
class Meetings(MethodView):
    @requires(Permission.MEETING_READ)
    @blp.arguments(MeetingsQuery, location="query")
    @blp.response(200, MeetingOut(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """An area's upcoming MARAC dates with their free capacity."""
        area_in_scope(query["area_id"])
        start = query["from_date"] or utcnow().date()
        with request_unit_of_work() as uow:
            service.ensure_meetings(uow, query["area_id"], start, start + timedelta(days=120))
            rows = uow.session.scalars(
                select(Meeting).where(Meeting.area_id == query["area_id"],
                                      Meeting.marac_date >= start)
                .order_by(Meeting.marac_date).limit(query["limit"])).all()
            return [meeting_out(m) for m in rows]


@blp.route("/meetings/<meeting_id>")
class Agenda(MethodView):
    @requires(Permission.MEETING_READ)
    @blp.response(200, AgendaOut)
    def get(self, meeting_id: str) -> dict[str, Any]:
        """One meeting's agenda: its cases in slot order and its free capacity."""
        with request_unit_of_work() as uow:
            meeting = uow.session.scalar(select(Meeting).where(Meeting.id == meeting_id))
            if meeting is None:
                raise Problem(404, "Not found", "No such meeting.")
            cases = uow.session.scalars(
                select(Allocation).where(Allocation.meeting_id == meeting_id)
                .order_by(Allocation.slot_index, Allocation.allocated_at)).all()
            return {**meeting_out(meeting), "cases": cases}


@blp.route("/allocations/<case_id>")
class OneAllocation(MethodView):
    @requires(Permission.ALLOCATION_READ)
    @blp.response(200, AllocationOut)
    def get(self, case_id: str) -> Allocation:
        """Where a case was allocated, and why earlier dates were passed over."""
        with request_unit_of_work() as uow:
            found = uow.session.scalar(select(Allocation).where(Allocation.case_id == case_id))
            if found is None:
                raise Problem(404, "Not found", "No allocation for that case.")
            return found


@blp.route("/areas/<area_id>/calendar")
class CalendarPreview(MethodView):
    @requires(Permission.MEETING_READ)
    @blp.arguments(PreviewQuery, location="query")
    @blp.response(200, PreviewDate(many=True))
    def get(self, query: dict[str, Any], area_id: str) -> list[dict[str, Any]]:
        """The area's next MARAC dates from its calendar, with cut-off and case-list times."""
        area_in_scope(area_id)
        config = service.calendar(current_runtime(), area_id)
        return [
            {"marac_date": o.date, "starts_at": o.start,
             "cutoff_at": domain.cutoff_for(config, o),
             "caselist_at": domain.caselist_publish_at(config, o),
             "capacity": o.capacity, "moved_from": o.moved_from}
            for o in domain.next_dates(config, utcnow().date(), count=query["count"])
        ]
