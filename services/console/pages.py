"""Home pages per role, and referrals: the referrer's list, the form (a task list of sections,
each saved as a draft as it is filled in, resumable), the check page with risk's score and
criteria preview, submission, and a referral's own page (returned: reasons, amend, resubmit;
coordinators: screening)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from marac_platform import clock
from services.console import forms, targets
from services.console.backend import Api, Refused, Unavailable
from services.console.session import Person, api, person

home_bp = Blueprint("home", __name__)
bp = Blueprint("referrals", __name__)

EDITABLE = ("draft", "returned")


@home_bp.get("/")
def start() -> Response:
    from flask import g

    if g.get("person") is None:
        return redirect(url_for("signin.sign_in_page"))
    return redirect(url_for("home.home"))


@home_bp.get("/home")
def home() -> Any:
    who = person()
    if who.manages:
        return coordinator_home(who)
    if who.agency_member:
        return redirect("/research")
    if who.audits:
        return redirect("/audit")
    return redirect("/referrals")


def _area(who: Person) -> str:
    wanted = request.args.get("area", "")
    return wanted if wanted in who.areas else who.areas[0]


def _try(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """A part of a page: its data, or the name of what is unavailable (the rest still shows)."""
    try:
        return call(*args, **kwargs), None
    except Unavailable as down:
        return None, down.what


def coordinator_home(who: Person) -> str:
    client = api()
    area = _area(who)
    down: list[str] = []

    def part(call: Any, *args: Any, **kwargs: Any) -> Any:
        found, missing = _try(call, *args, **kwargs)
        if missing and missing not in down:
            down.append(missing)
        return found

    meetings = part(client.get, "scheduling", "/v1/meetings", area_id=area, limit=6) or []
    calendar = part(client.get, "scheduling", f"/v1/areas/{area}/calendar", count=6) or []
    cutoffs = {c["marac_date"]: c["cutoff_at"] for c in calendar}
    at_risk = part(client.get, "scheduling", f"/v1/areas/{area}/at-risk") or []
    breaches, at_risk = targets.split(at_risk, clock.uk_today())
    screening = part(client.get, "referral", "/v1/referrals", state="in_screening") or {}
    # Referrals that joined the victim's open case on a name and date-of-birth match: the
    # possible duplicates for the coordinator to confirm (on the referral's page); those
    # confirmed leave the list.
    linked = part(client.get, "referral", "/v1/referrals", linked="true", limit=20) or {}
    incoming = part(client.get, "referral", "/v1/transfers/incoming", status="requested") or []
    report = part(client.get, "actions", f"/v1/areas/{area}/action-report")
    refused = part(client.get, "notify", "/v1/deliveries", status="refused", limit=20) or []
    return render_template(
        "coordinator_home.html", title=f"{area}: MARAC coordination", area=area,
        meetings=meetings, cutoffs=cutoffs, at_risk=at_risk, breaches=breaches,
        screening=[r for r in screening.get("items", []) if r["area_id"] == area],
        duplicates=[r for r in linked.get("items", []) if r["area_id"] == area],
        incoming=[t for t in incoming if t["to_area"] == area],
        report=report, refused=refused, down=down, reads_reports=who.reads_reports)


# --- the referrer's pages -------------------------------------------------------------------

@bp.get("/referrals")
def referral_list() -> str:
    page = api().get("referral", "/v1/referrals", limit=100)
    return render_template("referrals.html", title="Referrals", referrals=page["items"])


@bp.get("/referrals/new")
def new_referral() -> str:
    who = person()
    checklists = api().get("risk", "/v1/checklists")
    return render_template("referral_new.html", title="Start a referral", areas=who.areas,
                           checklists=checklists, errors={})


@bp.post("/referrals/new")
def create_referral() -> Response:
    who = person()
    area = request.form.get("area", "")
    version = request.form.get("checklist_version", "")
    if area not in who.areas:
        abort(400)
    created = api().post("referral", "/v1/referrals", {
        "area_id": area, "referrer": {"agency_id": who.agency},
        "dash": {"checklist_version": version}}, create=True)
    flash("Your draft referral was saved. Fill in each section; each is saved as you go.")
    return redirect(url_for("referrals.one", referral_id=created["id"]))


def _checklist(client: Api, form: dict[str, Any]) -> dict[str, Any] | None:
    version = forms.get_path(form, "dash.checklist_version")
    if not version:
        return None
    found: dict[str, Any] = client.get("risk", f"/v1/checklists/{version}")
    return found


@bp.get("/referrals/<referral_id>")
def one(referral_id: str) -> str:
    who = person()
    client = api()
    referral = client.get("referral", f"/v1/referrals/{referral_id}")
    form = referral.get("form") or {}
    mine = (forms.get_path(form, "referrer.agency_id") == who.agency and who.refers
            and referral["state"] in EDITABLE)
    if mine:
        sections = [(s, forms.started(s, form)) for s in forms.SECTIONS]
        return render_template("referral_tasks.html", title=f"Referral {referral_id}",
                               referral=referral, sections=sections)
    return render_template("referral.html", title=f"Referral {referral_id}", referral=referral,
                           errors={})


def _section(name: str) -> forms.Section:
    section = forms.BY_NAME.get(name)
    if section is None:
        abort(404)
    return section


@bp.get("/referrals/<referral_id>/sections/<name>")
def section_page(referral_id: str, name: str) -> str:
    section = _section(name)
    client = api()
    referral = client.get("referral", f"/v1/referrals/{referral_id}")
    form = referral.get("form") or {}
    fields = forms.fields_of(section, _checklist(client, form))
    return render_template("referral_section.html", title=section.title, referral=referral,
                           section=section, fields=fields, values=forms.values_of(fields, form),
                           errors={})


@bp.post("/referrals/<referral_id>/sections/<name>")
def save_section(referral_id: str, name: str) -> Any:
    who = person()
    section = _section(name)
    client = api()
    referral = client.get("referral", f"/v1/referrals/{referral_id}")
    form = referral.get("form") or {}
    fields = forms.fields_of(section, _checklist(client, form))
    base: dict[str, Any] = {}
    if name == "referrer":
        base = {"referrer": {"agency_id": who.agency}}
    if name == "dash":
        base = {"dash": {"checklist_version": forms.get_path(form, "dash.checklist_version")}}
    changes, errors = forms.to_json(fields, request.form, base)
    if name == "victim" and forms.get_path(changes, "victim.address_unknown") is True:
        changes["area_chosen_by_referrer"] = True
    body = {key: changes[key] for key in section.keys if key in changes}
    if not errors and body:
        try:
            client.call("referral", "PATCH", f"/v1/referrals/{referral_id}", json=body)
        except Refused as refused:
            if refused.status != 422:
                raise
            for _, item, message in forms.place_errors([(section, fields)],
                                                        refused.field_errors()):
                errors.setdefault(item.id, message)
            if not errors:
                errors[fields[0].id] = refused.detail
    if errors:
        return render_template("referral_section.html", title=section.title, referral=referral,
                               section=section, fields=fields,
                               values=forms.values_from_post(fields, request.form),
                               errors=errors), 422
    flash(f"{section.title}: saved.")
    return redirect(url_for("referrals.one", referral_id=referral_id))


@bp.get("/referrals/<referral_id>/check")
def check(referral_id: str) -> str:
    client = api()
    referral = client.get("referral", f"/v1/referrals/{referral_id}")
    form = referral.get("form") or {}
    preview, preview_error = None, None
    answers = forms.get_path(form, "dash.answers") or {}
    if answers:
        claimed = form.get("criteria_claimed") or []
        try:
            preview = client.post("risk", "/v1/assessments/preview", {
                "area_id": referral["area_id"],
                "checklist_version": forms.get_path(form, "dash.checklist_version"),
                "answers": answers,
                "professional_judgement_claimed": "professional_judgement" in claimed,
                "professional_judgement_documented": bool(
                    form.get("professional_judgement_narrative")),
                "police_callouts_last_12_months": form.get("police_callouts_last_12_months"),
                "incident_dates": [i["date"] for i in form.get("incidents") or [] if i.get("date")],
                "police_callout_dates": form.get("police_callout_dates") or [],
            })
        except Refused as refused:
            reasons = "; ".join(f"{k}: {v}" for k, v in refused.field_errors().items())
            preview_error = f"{refused.detail} {reasons}".strip()
    else:
        preview_error = "Answer the DASH risk checklist to see the score."
    return render_template("referral_check.html", title="Check and submit your referral",
                           referral=referral, preview=preview, preview_error=preview_error,
                           errors={}, placed=[])


@bp.post("/referrals/<referral_id>/submit")
def submit(referral_id: str) -> Any:
    client = api()
    try:
        client.post("referral", f"/v1/referrals/{referral_id}/submit", create=True)
    except Refused as refused:
        if refused.status != 422:
            raise
        referral = client.get("referral", f"/v1/referrals/{referral_id}")
        form = referral.get("form") or {}
        checklist = _checklist(client, form)
        sections = [(s, forms.fields_of(s, checklist)) for s in forms.SECTIONS]
        placed = forms.place_errors(sections, refused.field_errors())
        errors = {f"/referrals/{referral_id}/sections/{s.name}#{f.id}": message
                  for s, f, message in placed}
        return render_template("referral_check.html", title="Check and submit your referral",
                               referral=referral, preview=None, preview_error=None,
                               errors=errors or {"#submit": refused.detail}, placed=placed), 422
    flash("Your referral was submitted. It is assessed and given a MARAC date; you are told "
          "by e-mail.")
    return redirect(url_for("referrals.referral_list"))


@bp.post("/referrals/<referral_id>/link-confirmation")
def confirm_link(referral_id: str) -> Any:
    """The coordinator confirms a referral that joined an open case is the same victim."""
    api().post("referral", f"/v1/referrals/{referral_id}/link-confirmation")
    flash("Confirmed: the referral is the same victim as its case's. It has left the list of "
          "possible duplicates.")
    return redirect(url_for("referrals.one", referral_id=referral_id))


@bp.post("/referrals/<referral_id>/separation")
def separate(referral_id: str) -> Any:
    """Not the same victim: the referral leaves the case it joined for a case of its own."""
    api().post("referral", f"/v1/referrals/{referral_id}/separation")
    flash("The referral has a case of its own now, and has left the list of possible "
          "duplicates. If it met the criteria, it is assessed again on its own case.")
    return redirect(url_for("referrals.one", referral_id=referral_id))


@bp.post("/referrals/<referral_id>/screening")
def screen(referral_id: str) -> Any:
    client = api()
    decision = request.form.get("decision", "")
    body: dict[str, Any] = {"step": request.form.get("step", ""), "decision": decision}
    reason = request.form.get("reason", "").strip()
    if reason:
        body["reason"] = reason
    try:
        if request.form.get("urgent") == "yes" and decision == "accept":
            # Before it is accepted: scheduling then places it as urgent (an addendum if need be).
            client.post("referral", f"/v1/referrals/{referral_id}/urgent", {"urgent": True})
        client.post("referral", f"/v1/referrals/{referral_id}/screening", body, create=True)
    except Refused as refused:
        if refused.status not in (409, 422):
            raise
        referral = client.get("referral", f"/v1/referrals/{referral_id}")
        errors = {("screening-" + k if k in ("decision", "reason") else "screening-decision"): v
                  for k, v in refused.field_errors().items()} or {"screening-decision": refused.detail}
        return render_template("referral.html", title=f"Referral {referral_id}",
                               referral=referral, errors=errors), 422
    flash("Screening decision recorded.")
    return redirect(url_for("referrals.one", referral_id=referral_id))
