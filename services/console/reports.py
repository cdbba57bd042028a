"""The SafeLives quarterly return, per area and quarter: the referral service's summary (counts
under 5 read "fewer than 5") beside the actions service's, its chart (SVG drawn by the referral
service, placed in the page so no script is needed) and the CSV export, both passed through
the console with the person's token. Counts only; the services decide who may read them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from markupsafe import Markup

from marac_platform import clock
from services.console import returns
from services.console.backend import Refused, Unavailable
from services.console.session import Person, api, person

bp = Blueprint("reports", __name__)


def _reader() -> Person:
    who = person()
    if not who.reads_reports:
        raise Refused(403, {"detail": "The quarterly return is for coordinators, chairs and "
                                      "auditors."})
    return who


def _area(who: Person) -> str:
    wanted = request.args.get("area", "")
    return wanted if wanted in who.areas else who.areas[0]


def _chart(area: str, quarter: str) -> Markup | None:
    """The referral service's SVG, to sit inline in the page (its <title> and <desc> are the
    chart's text alternative); None if what came back is not that SVG."""
    answer = api().raw("referral", "GET", f"/v1/areas/{area}/quarterly-return.svg",
                       params={"quarter": quarter})
    text = answer.text
    if not text.startswith("<svg") or "<script" in text or "<foreignObject" in text:
        return None
    return Markup(text)


@bp.get("/returns/quarterly")
def quarterly() -> Any:
    who = _reader()
    area = _area(who)
    today = clock.uk_today()
    quarter, error = returns.chosen_quarter(request.args.get("quarter"), today)
    client = api()
    cases = client.get("referral", f"/v1/areas/{area}/quarterly-return", quarter=str(quarter),
                       view="summary")
    actions, down = None, None
    try:
        actions = client.get("actions", f"/v1/areas/{area}/quarterly-return/actions",
                             quarter=str(quarter), view="summary")
    except Unavailable as missing:
        down = missing.what
    chart = _chart(area, str(quarter))
    return render_template(
        "quarterly_return.html", title=f"Quarterly return: {area}, {quarter}", area=area,
        quarter=quarter, label=returns.quarter_label(quarter),
        offered=returns.quarters_offered(today), cases=cases, actions=actions,
        rows=returns.by_date(cases, actions), referral_columns=returns.REFERRAL_COLUMNS,
        monitoring_columns=returns.MONITORING_COLUMNS, action_columns=returns.ACTION_COLUMNS,
        rate=returns.rate_text(cases.get("cases_per_10k"), cases["recommended_per_10k"]),
        chart=chart, down=down, errors={"quarter": error} if error else {},
    ), 422 if error else 200


@bp.get("/returns/quarterly.<kind>")
def quarterly_file(kind: str) -> Response:
    """The CSV export (full counts: the return SafeLives is sent) or the chart alone."""
    if kind not in ("csv", "svg"):
        abort(404)
    who = _reader()
    area = _area(who)
    quarter, error = returns.chosen_quarter(request.args.get("quarter"), clock.uk_today())
    if error:
        abort(404)
    answer = api().raw("referral", "GET", f"/v1/areas/{area}/quarterly-return.{kind}",
                       params={"quarter": str(quarter)})
    if kind == "svg":
        response = Response(answer.content, mimetype="image/svg+xml")
        # Opened alone the drawing runs nothing.
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response
    response = Response(answer.content, mimetype="text/csv")
    response.headers["Content-Disposition"] = answer.headers.get(
        "Content-Disposition", f'attachment; filename="marac-return-{area}-{quarter}.csv"')
    return response
