"""The actions part of the SafeLives quarterly return over HTTP (counts only; `report.read`:
coordinators, chairs and auditors of the area; audited like every read)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from marac_platform.auth import caller_area, requires
from marac_platform.errors import InvalidInput
from marac_platform.http import request_unit_of_work
from marac_platform.quarters import BadQuarter, Quarter
from marac_platform.security.roles import Permission
from services.actions import quarterly

blp = Blueprint("quarterly-return-actions", __name__, url_prefix="/v1",
                description="The SafeLives quarterly return: actions completed and outstanding "
                            "per MARAC date (the rest of the return is the referral service's).")


# YYYY-Qn; the 422 for any other text names `quarter` (marac_platform.quarters parses it).
QUARTER_TEXT = [validate.Length(min=7, max=7), validate.Regexp(r"^[0-9]{4}-Q[1-4]$")]


class ReturnQuery(Schema):
    quarter = fields.Str(required=True, validate=QUARTER_TEXT,
                         metadata={"description": "YYYY-Qn, UK calendar quarters"})
    view = fields.Str(load_default="full", validate=validate.OneOf(("full", "summary")),
                      metadata={"description": "summary: counts under 5 read \"fewer than 5\""})


def _count() -> fields.Raw:
    return fields.Raw(required=True, metadata={"description": "a count, or \"fewer than 5\""})


class ActionsRowOut(Schema):
    marac_date = fields.Date(allow_none=True, metadata={"description": "null on the total row"})
    actions = _count()
    completed = _count()
    completed_on_time = _count()
    outstanding = _count()
    overdue = _count()
    not_possible = _count()
    not_done = _count()
    cancelled = _count()


class ActionsReturnOut(Schema):
    area_id = fields.Str(required=True)
    quarter = fields.Str(required=True)
    first_day = fields.Date(required=True)
    last_day = fields.Date(required=True)
    on = fields.Date(required=True, metadata={"description": "the day the statuses are read"})
    meeting_dates = fields.List(fields.Nested(ActionsRowOut), required=True)
    total = fields.Nested(ActionsRowOut, required=True)
    suppressed = fields.Bool(required=True)


@blp.route("/areas/<area_id>/quarterly-return/actions")
class QuarterlyActions(MethodView):
    @requires(Permission.REPORT_READ)
    @blp.arguments(ReturnQuery, location="query")
    @blp.response(200, ActionsReturnOut)
    def get(self, query: dict[str, Any], area_id: str) -> dict[str, Any]:
        """Per MARAC date of the quarter: actions completed and outstanding, as they stand."""
        caller_area(area_id)
        try:
            quarter = Quarter.parse(query["quarter"])
        except BadQuarter as exc:
            raise InvalidInput("quarter", str(exc).capitalize() + ".") from None
        with request_unit_of_work() as uow:
            return quarterly.quarterly_actions(uow, area_id, quarter,
                                               summary=query["view"] == "summary")
