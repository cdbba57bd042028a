"""After the referral: MARAC dates and agendas, case lists, a case's page (research, actions,
the information-and-updates documents), research returns, actions with their status changes,
the delivery log, the audit trail, and the paths every notification links to."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from marac_platform import clock
from services.console.backend import Refused, Unavailable
from services.console.session import Person, api, person

bp = Blueprint("work", __name__)

ACTION_MOVES = {
    "proposed": ("agreed", "cancelled"),
    "agreed": ("in_progress", "completed", "not_possible", "not_done", "cancelled"),
    "in_progress": ("completed", "not_possible", "not_done", "cancelled"),
}
FOR_WHOM = (("victim", "The victim"), ("child", "A child"), ("perpetrator", "The perpetrator"))
AUDITED = ("referral", "risk", "scheduling", "actions", "notify")


def _area(who: Person) -> str:
    wanted = request.args.get("area", "")
    return wanted if wanted in who.areas else who.areas[0]


def _agencies(area_id: str) -> list[tuple[str, str]]:
    from flask import current_app

    area = current_app.extensions["marac_areas"].get(area_id)
    return [(a.id, a.name) for a in area.agencies] if area else []


# --- MARAC dates, agendas and case lists ------------------------------------------------------

@bp.get("/meetings")
def meetings() -> str:
    who = person()
    area = _area(who)
    found = api().get("scheduling", "/v1/meetings", area_id=area, limit=12)
    return render_template("meetings.html", title=f"MARAC dates: {area}", area=area,
                           meetings=found)


@bp.get("/meetings/<meeting_id>")
def meeting(meeting_id: str) -> str:
    who = person()
    client = api()
    agenda = client.get("scheduling", f"/v1/meetings/{meeting_id}")
    returns: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    down = None
    try:
        returns = client.get("actions", f"/v1/meetings/{meeting_id}/returns")
        actions = client.get("actions", f"/v1/meetings/{meeting_id}/actions")
    except Unavailable as error:
        down = error.what
    except Refused as refused:
        if refused.status != 404:  # the actions service hears of a date with its case list
            raise
    by_case = {row["case_id"]: row for row in returns}
    return render_template("meeting.html", title=f"MARAC on {agenda['marac_date']}",
                           agenda=agenda, by_case=by_case, actions=actions, down=down,
                           manages=who.manages)


@bp.get("/meetings/<meeting_id>/case-list")
def case_list(meeting_id: str) -> str:
    documents = api().get("scheduling", f"/v1/meetings/{meeting_id}/case-lists")
    return render_template("case_list.html", title="Case list", meeting_id=meeting_id,
                           documents=documents)


# --- a case -------------------------------------------------------------------------------------

def _case_page(case_id: str, errors: dict[str, str] | None = None,
               values: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    who = person()
    client = api()
    record = client.get("actions", f"/v1/cases/{case_id}")
    returns = client.get("actions", f"/v1/cases/{case_id}/returns")
    actions = client.get("actions", f"/v1/cases/{case_id}/actions")
    versions = client.get("actions", f"/v1/cases/{case_id}/updates")
    catalogue = client.get("actions", f"/v1/areas/{record['area_id']}/action-catalogue")
    return render_template(
        "case.html", title=f"Case {case_id}", record=record, returns=returns, actions=actions,
        versions=versions, catalogue=catalogue, agencies=_agencies(record["area_id"]),
        for_whom=FOR_WHOM, errors=errors or {}, values=values or {}, who=who,
        today=clock.uk_today().isoformat()), status


@bp.get("/cases/<case_id>")
def case(case_id: str) -> Any:
    who = person()
    if who.role == "referrer":
        # A referrer reads the case through their own referral of it (the e-mail links here).
        page = api().get("referral", "/v1/referrals", limit=200)
        for item in page["items"]:
            if item["case_id"] == case_id:
                return redirect(url_for("referrals.one", referral_id=item["id"]))
        abort(404)
    return _case_page(case_id)


@bp.post("/meetings/<meeting_id>/outcome")
def record_outcome(meeting_id: str) -> Any:
    """Meeting model: the chair or coordinator records a case heard or deferred."""
    case_id = request.form.get("case_id", "")
    outcome = request.form.get("outcome", "")
    if not case_id or outcome not in ("heard", "deferred"):
        abort(400)
    api().post("scheduling", f"/v1/allocations/{case_id}/outcome", {"outcome": outcome},
               create=True)
    flash(f"Case {case_id}: {outcome}.")
    return redirect(url_for("work.meeting", meeting_id=meeting_id))


@bp.post("/cases/<case_id>/actions")
def add_action(case_id: str) -> Any:
    form = request.form
    body: dict[str, Any] = {
        "owner_agency": form.get("owner_agency", ""), "for_whom": form.get("for_whom", ""),
        "status": "agreed" if form.get("agreed") == "yes" else "proposed"}
    errors: dict[str, str] = {}
    if form.get("catalogue_code"):
        body["catalogue_code"] = form["catalogue_code"]
    if form.get("what", "").strip():
        body["what"] = form["what"].strip()
    if form.get("asked_by_agency"):
        body["asked_by_agency"] = form["asked_by_agency"]
    if form.get("risk", "").strip():
        body["risk"] = form["risk"].strip()
    if not body.get("catalogue_code") and not body.get("what"):
        errors["action-what"] = "Choose an action from the catalogue or describe it"
    if not body["owner_agency"]:
        errors["action-owner_agency"] = "Select the agency that owns the action"
    if body["for_whom"] not in dict(FOR_WHOM):
        errors["action-for_whom"] = "Select who the action is for"
    due = _date_from(form, "action-due_by")
    if due is None:
        errors["action-due_by"] = "Enter the date it is due by, with a day, month and year"
    else:
        body["due_by"] = due
    if not errors:
        try:
            api().post("actions", f"/v1/cases/{case_id}/actions", body, create=True)
        except Refused as refused:
            if refused.status not in (409, 422):
                raise
            errors = {f"action-{k}": v for k, v in refused.field_errors().items()} or {
                "action-what": refused.detail}
    if errors:
        return _case_page(case_id, errors, dict(form), 422)
    flash("The action was recorded.")
    return redirect(url_for("work.case", case_id=case_id))


def _date_from(form: Any, prefix: str) -> str | None:
    from services.console.forms import read_date

    found, error = read_date(form, prefix)
    return None if error else found


# --- research returns ------------------------------------------------------------------------

@bp.get("/research")
def research() -> str:
    owed = api().get("actions", "/v1/returns")
    sent = api().get("actions", "/v1/returns", outstanding="false", limit=50)
    return render_template("research.html", title="Research owed", owed=owed,
                           sent=[r for r in sent if r["status"] == "submitted"])


@bp.get("/research/<return_id>")
def research_return(return_id: str) -> str:
    found = api().get("actions", f"/v1/returns/{return_id}")
    return render_template("research_return.html", title="Research return", item=found,
                           values=_return_values(found), errors={}, for_whom=FOR_WHOM)


def _return_values(found: dict[str, Any]) -> dict[str, str]:
    content = found.get("content") or {}
    values = {"involvement": found.get("involvement") or ""}
    for who in ("victim", "perpetrator"):
        for key in ("known", "current_involvement", "risks"):
            values[f"{who}-{key}"] = ((content.get(who) or {}).get(key)) or ""
    values["safeguarding_in_place"] = content.get("safeguarding_in_place") or ""
    proposed = content.get("proposed_actions") or []
    if proposed:
        values["proposed-what"] = proposed[0]["what"]
        values["proposed-for_whom"] = proposed[0]["for_whom"]
    return values


@bp.post("/research/<return_id>")
def send_return(return_id: str) -> Any:
    client = api()
    found = client.get("actions", f"/v1/returns/{return_id}")
    form = request.form
    errors: dict[str, str] = {}
    involvement = form.get("involvement", "")
    if involvement not in ("held", "nothing_held"):
        errors["involvement"] = "Select whether your agency holds information"
    body: dict[str, Any] = {"involvement": involvement,
                            "status": "draft" if form.get("action") == "draft" else "submitted",
                            "safeguarding_in_place": form.get("safeguarding_in_place", "").strip()}
    for who in ("victim", "perpetrator"):
        part = {key: form.get(f"{who}-{key}", "").strip()
                for key in ("known", "current_involvement", "risks")}
        body[who] = part if any(part.values()) else None
    what = form.get("proposed-what", "").strip()
    if what:
        if form.get("proposed-for_whom") not in dict(FOR_WHOM):
            errors["proposed-for_whom"] = "Select who the proposed action is for"
        body["proposed_actions"] = [{"what": what, "for_whom": form.get("proposed-for_whom")}]
    if not errors:
        try:
            client.post("actions", f"/v1/cases/{found['case_id']}/returns", body, create=True)
        except Refused as refused:
            if refused.status not in (409, 422):
                raise
            errors = {k.replace(".", "-"): v for k, v in refused.field_errors().items()} or {
                "involvement": refused.detail}
    if errors:
        return render_template("research_return.html", title="Research return", item=found,
                               values=dict(form), errors=errors, for_whom=FOR_WHOM), 422
    flash("Your research return was saved as a draft." if body["status"] == "draft"
          else "Your research return was sent.")
    return redirect(url_for("work.research"))


# --- actions -----------------------------------------------------------------------------------

@bp.get("/actions")
def actions() -> str:
    who = person()
    client = api()
    found = client.get("actions", "/v1/actions")
    report = None
    if who.manages:
        report = client.get("actions", f"/v1/areas/{_area(who)}/action-report")
    return render_template("actions.html", title="Actions", actions=found, report=report)


@bp.get("/actions/<action_id>")
def action(action_id: str) -> str:
    found = api().get("actions", f"/v1/actions/{action_id}")
    return render_template("action.html", title=f"Action {action_id}", action=found,
                           moves=ACTION_MOVES.get(found["status"], ()), errors={}, values={})


@bp.post("/actions/<action_id>/status")
def move_action(action_id: str) -> Any:
    client = api()
    status = request.form.get("status", "")
    note = request.form.get("note", "").strip()
    body: dict[str, Any] = {"status": status}
    if note:
        body["note"] = note
    errors: dict[str, str] = {}
    if not status:
        errors["status"] = "Select the action's new status"
    else:
        try:
            client.post("actions", f"/v1/actions/{action_id}/status", body, create=True)
        except Refused as refused:
            if refused.status not in (409, 422):
                raise
            errors = {"status": refused.detail}
    if errors:
        found = client.get("actions", f"/v1/actions/{action_id}")
        return render_template("action.html", title=f"Action {action_id}", action=found,
                               moves=ACTION_MOVES.get(found["status"], ()), errors=errors,
                               values=dict(request.form)), 422
    flash(f"The action is now {status.replace('_', ' ')}.")
    return redirect(url_for("work.action", action_id=action_id))


# --- the information-and-updates document --------------------------------------------------------

@bp.get("/updates/<updates_id>")
def updates(updates_id: str) -> str:
    found = api().get("actions", f"/v1/updates/{updates_id}")
    return render_template("updates.html", title=f"Information and updates, version "
                                                 f"{found['version']}", doc=found)


@bp.get("/updates/<updates_id>/<kind>")
def updates_file(updates_id: str, kind: str) -> Response:
    if kind not in ("html", "pdf"):
        abort(404)
    answer = api().raw("actions", "GET", f"/v1/updates/{updates_id}/{kind}")
    response = Response(answer.content, mimetype="application/pdf" if kind == "pdf"
                        else "text/html")
    if kind == "pdf":
        response.headers["Content-Disposition"] = answer.headers.get(
            "Content-Disposition", "inline")
    else:
        # The service's own rendering, shown alone: no script runs in it.
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'"
    return response


# --- deliveries and audit --------------------------------------------------------------------

@bp.get("/deliveries")
def deliveries() -> str:
    status = request.args.get("status") or None
    if status not in (None, "queued", "sending", "sent", "failed", "refused"):
        status = None
    found = api().get("notify", "/v1/deliveries", status=status, limit=100)
    return render_template("deliveries.html", title="Delivery log", deliveries=found,
                           status=status)


@bp.get("/audit")
def audit() -> str:
    service = request.args.get("service", "referral")
    if service not in AUDITED:
        service = "referral"
    client = api()
    trail = client.get(service, "/v1/audit", limit=50)
    checks: list[dict[str, Any]] = []
    for name in AUDITED:
        try:
            checks.append({"service": name, **client.get(name, "/v1/audit/verify")})
        except Unavailable:
            checks.append({"service": name, "unavailable": True})
    return render_template("audit.html", title="Audit trail", service=service, trail=trail,
                           checks=checks, services=AUDITED)
