"""The SafeLives quarterly return over HTTP: the figures as JSON (full or summary), the CSV in
the return's shape, and the chart as SVG for the console to embed. Counts only; coordinators,
chairs and auditors of the area (`report.read`); each call audited like every read."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from marac_platform.auth import caller_area, requires
from marac_platform.errors import InvalidInput
from marac_platform.http import request_unit_of_work
from marac_platform.quarters import BadQuarter, Quarter
from marac_platform.security.roles import Permission
from services.referral import chart, quarterly, reporting
from services.referral.schemas_api import ChartQuery, ReturnOut, ReturnQuery

blp = Blueprint(
    "quarterly-return", __name__, url_prefix="/v1",
    description=(
        "The SafeLives quarterly return per area and calendar quarter (UK dates): per MARAC date, "
        "cases heard, repeats, referrals from police and partners, children, victims' monitoring "
        "categories, perpetrators under 18, time from referral to hearing; the yearly rate per "
        "10,000 adult women against the recommended and national levels. Actions completed and "
        "outstanding are the actions service's (GET /v1/areas/{id}/quarterly-return/actions)."))


def _quarter(text: str) -> Quarter:
    try:
        return Quarter.parse(text)
    except BadQuarter as exc:
        raise InvalidInput("quarter", str(exc).capitalize() + ".") from None


def _report(area_id: str, quarter_text: str, view: str = "full") -> dict[str, Any]:
    caller_area(area_id)
    quarter = _quarter(quarter_text)
    with request_unit_of_work() as uow:
        report = reporting.quarterly_return(uow, area_id, quarter)
    return quarterly.summary(report) if view == "summary" else report


@blp.route("/areas/<area_id>/quarterly-return")
class QuarterlyReturn(MethodView):
    @requires(Permission.REPORT_READ)
    @blp.arguments(ReturnQuery, location="query")
    @blp.response(200, ReturnOut)
    def get(self, query: dict[str, Any], area_id: str) -> dict[str, Any]:
        """The area's return for one quarter: a row per MARAC date and the quarter's total."""
        return _report(area_id, query["quarter"], query["view"])


@blp.route("/areas/<area_id>/quarterly-return.csv")
class QuarterlyReturnCsv(MethodView):
    @requires(Permission.REPORT_READ)
    @blp.arguments(ReturnQuery, location="query")
    @blp.response(200, {"type": "string"}, content_type="text/csv",
                  description="the return in SafeLives' shape: a row per MARAC date, the total, "
                              "then the rate lines")
    def get(self, query: dict[str, Any], area_id: str) -> Response:
        """The return as CSV (full counts unless view=summary)."""
        report = _report(area_id, query["quarter"], query["view"])
        response = Response(quarterly.to_csv(report, area_id), mimetype="text/csv")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="marac-return-{area_id}-{report["quarter"]}.csv"')
        return response


@blp.route("/areas/<area_id>/quarterly-return.svg")
class QuarterlyReturnChart(MethodView):
    @requires(Permission.REPORT_READ)
    @blp.arguments(ChartQuery, location="query")
    @blp.response(200, {"type": "string"}, content_type="image/svg+xml",
                  description="bars of cases per MARAC date with the recommended and national "
                              "levels; <title> and <desc> say every value")
    def get(self, query: dict[str, Any], area_id: str) -> Response:
        """The return's chart as SVG, to embed in a page."""
        area = caller_area(area_id)
        report = _report(area_id, query["quarter"])
        return Response(chart.svg(report, area.name), mimetype="image/svg+xml")
