"""Inter-MARAC transfers for coordinators and chairs: those offered to their areas (with where
each comes from) and those their areas asked for (with where each stands); one transfer's
page with its state, origin and target, reason, the accept or decline form for the receiving
coordinator, and the notes both coordinators exchange. The referral service keeps them all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from marac_platform.security.roles import Permission
from services.console.backend import Refused
from services.console.session import Person, api, person

bp = Blueprint("transfers", __name__)

REASONS: Final = {"moved_permanently": "The victim moved permanently",
                  "moved_temporarily": "The victim moved temporarily",
                  "fled_to_refuge": "The victim fled to a refuge"}
DECLINE_REASONS: Final = (
    ("not_in_area", "The victim does not live in this area"),
    ("already_known", "The case is already known here"),
    ("insufficient_information", "Not enough information to take it on"),
    ("other", "Another reason (say in the note)"),
)
NOTE_MAX: Final = 5_000


def _permitted(permission: Permission, detail: str) -> Person:
    """The signed-in person, if their role holds `permission`; else a 403 page saying `detail`."""
    who = person()
    if not who.may(permission):
        raise Refused(403, {"detail": detail})
    return who


def _coordinator() -> Person:
    return _permitted(Permission.TRANSFER_RECEIVE,
                      "Transfers are for the coordinators and chairs of the areas concerned.")


def _agencies(area_id: str) -> list[tuple[str, str]]:
    area = current_app.extensions["marac_areas"].get(area_id)
    return [(a.id, a.name) for a in area.agencies] if area else []


def needs_owner(open_actions: dict[str, Any] | None) -> bool:
    """Whether accepting hands actions over, so an agency of this area must take them."""
    plan = open_actions or {}
    decisions = (plan.get("actions") or {}).values()
    return plan.get("default", "hand_over") == "hand_over" or "hand_over" in decisions


@bp.get("/transfers")
def listing() -> str:
    _coordinator()
    client = api()
    incoming = client.get("referral", "/v1/transfers/incoming")
    outgoing = client.get("referral", "/v1/transfers/outgoing")
    return render_template("transfers.html", title="Transfers in and out", incoming=incoming,
                           outgoing=outgoing, reasons=REASONS)


def _find(transfer_id: str) -> dict[str, Any]:
    """The transfer as this area sees it: offered to it (incoming) or asked by it."""
    client = api()
    try:
        found: dict[str, Any] = client.get("referral", f"/v1/transfers/incoming/{transfer_id}")
    except Refused as refused:
        if refused.status != 404:
            raise
        found = client.get("referral", f"/v1/transfers/outgoing/{transfer_id}")
    return found


def _page(transfer_id: str, errors: dict[str, str] | None = None,
          values: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    _coordinator()
    transfer = _find(transfer_id)
    notes = api().get("referral", f"/v1/transfers/{transfer_id}/notes")
    answerable = transfer["direction"] == "incoming" and transfer["status"] == "requested"
    return render_template(
        "transfer.html", title=f"Transfer {transfer_id}", transfer=transfer, notes=notes,
        reasons=REASONS, decline_reasons=DECLINE_REASONS, answerable=answerable,
        needs_owner=needs_owner(transfer.get("open_actions")),
        agencies=_agencies(transfer["to_area"]), errors=errors or {}, values=values or {},
    ), status


@bp.get("/transfers/<transfer_id>")
def one(transfer_id: str) -> tuple[str, int]:
    return _page(transfer_id)


def _refused_errors(refused: Refused, default_field: str, prefix: str) -> dict[str, str]:
    if refused.status not in (409, 422):
        raise refused
    return ({f"{prefix}-{k}": v for k, v in refused.field_errors().items()}
            or {default_field: refused.detail})


@bp.post("/transfers/<transfer_id>/answer")
def answer(transfer_id: str) -> Any:
    _coordinator()
    form = request.form
    decision = form.get("decision", "")
    errors: dict[str, str] = {}
    note = form.get("note", "").strip()
    if decision not in ("accept", "decline"):
        errors["answer-decision"] = "Select whether you accept or decline the transfer"
    elif decision == "decline" and form.get("decline_reason") not in dict(DECLINE_REASONS):
        errors["answer-decline_reason"] = "Select why you decline the transfer"
    if len(note) > NOTE_MAX:
        errors["answer-note"] = f"The note must be {NOTE_MAX:,} characters or fewer"
    if not errors:
        try:
            if decision == "accept":
                body: dict[str, Any] = {}
                if form.get("action_owner_agency"):
                    body["action_owner_agency"] = form["action_owner_agency"]
                api().post("referral", f"/v1/transfers/incoming/{transfer_id}/accept", body)
                if note:
                    api().post("referral", f"/v1/transfers/{transfer_id}/notes", {"text": note})
            else:
                api().post("referral", f"/v1/transfers/incoming/{transfer_id}/decline",
                           {"reason": form["decline_reason"], **({"note": note} if note else {})})
        except Refused as refused:
            errors = _refused_errors(refused, "answer-decision", "answer")
            if "answer-reason" in errors:
                errors["answer-decline_reason"] = errors.pop("answer-reason")
    if errors:
        return _page(transfer_id, errors, dict(form), 422)
    flash("The transfer was accepted: the case opens in this area and is given a date."
          if decision == "accept" else "The transfer was declined; the sending area is told.")
    return redirect(url_for("transfers.one", transfer_id=transfer_id))


@bp.post("/transfers/<transfer_id>/notes")
def add_note(transfer_id: str) -> Any:
    _coordinator()
    text = request.form.get("text", "").strip()
    errors: dict[str, str] = {}
    if not text:
        errors["note-text"] = "Enter the note"
    elif len(text) > NOTE_MAX:
        errors["note-text"] = f"The note must be {NOTE_MAX:,} characters or fewer"
    if not errors:
        try:
            api().post("referral", f"/v1/transfers/{transfer_id}/notes", {"text": text})
        except Refused as refused:
            errors = _refused_errors(refused, "note-text", "note")
    if errors:
        return _page(transfer_id, errors, dict(request.form), 422)
    flash("Your note was added for the other coordinator.")
    return redirect(url_for("transfers.one", transfer_id=transfer_id) + "#notes")



# --- asking another area to take a case over -------------------------------------------------

YES_NO: Final = {"yes": True, "no": False}
ACTION_PLANS: Final = (
    ("hand_over", "Hand them over: the receiving area's agency takes them on"),
    ("close", "Close them: circumstances have changed"),
)
TEXT_MAX: Final = 2_000


def _asker() -> Person:
    return _permitted(Permission.REFERRAL_SCREEN, "Only the case's coordinator or chair may "
                                                  "ask another area to take it over.")


def destinations(area_id: str) -> list[tuple[str, str]]:
    """Where the case may go: the other areas served here, then the area's partners."""
    areas = current_app.extensions["marac_areas"]
    here = [(area.id, area.name) for area in sorted(areas.by_id.values(), key=lambda a: a.name)
            if area.id != area_id]
    own = areas.get(area_id)
    served = {area_id} | {id for id, _ in here}
    partners = [(p.id, f"{p.name} (another deployment)" if p.base_url else p.name)
                for p in (own.partners if own else ()) if p.id not in served]
    return here + partners


def _ask_page(case_id: str, errors: dict[str, str] | None = None,
              values: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    _asker()
    record = api().get("actions", f"/v1/cases/{case_id}")
    return render_template(
        "transfer_new.html", title="Ask another area to take the case over", case_id=case_id,
        record=record, destinations=destinations(record["area_id"]), reasons=REASONS,
        action_plans=ACTION_PLANS, errors=errors or {}, values=values or {}), status


@bp.get("/cases/<case_id>/transfer")
def ask_form(case_id: str) -> tuple[str, int]:
    return _ask_page(case_id)


def transfer_request(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The API's body from the form, and the errors found before sending it (field ids)."""
    errors: dict[str, str] = {}
    if not form.get("to_area"):
        errors["transfer-to_area"] = "Select the area that is to take the case over"
    if form.get("reason") not in REASONS:
        errors["transfer-reason"] = "Select why the case is moving"
    for name, question in (("heard_in_origin", "whether the case was heard here"),
                           ("named_on_case_list", "whether a case list sent named the case")):
        if form.get(name) not in YES_NO:
            errors[f"transfer-{name}"] = f"Select {question}"
    if form.get("open_actions", "hand_over") not in dict(ACTION_PLANS):
        errors["transfer-open_actions"] = "Select what becomes of the case's open actions"
    texts = {name: form.get(name, "").strip()
             for name in ("address", "safeguarding_in_place", "note")}
    for name, text in texts.items():
        limit = NOTE_MAX if name == "note" else TEXT_MAX
        if len(text) > limit:
            errors[f"transfer-{name}"] = f"This must be {limit:,} characters or fewer"
    body: dict[str, Any] = {
        "to_area": form.get("to_area", ""), "reason": form.get("reason", ""),
        "heard_in_origin": YES_NO.get(form.get("heard_in_origin", ""), False),
        "named_on_case_list": YES_NO.get(form.get("named_on_case_list", ""), False),
        "open_actions": {"default": form.get("open_actions", "hand_over"), "actions": {}},
        **{name: text for name, text in texts.items() if text}}
    return body, errors


@bp.post("/cases/<case_id>/transfer")
def ask(case_id: str) -> Any:
    _asker()
    body, errors = transfer_request(request.form)
    if not errors:
        try:
            created = api().post("referral", f"/v1/cases/{case_id}/transfers", body,
                                 create=True)
        except Refused as refused:
            errors = _refused_errors(refused, "transfer-to_area", "transfer")
    if errors:
        return _ask_page(case_id, errors, dict(request.form), 422)
    flash("The transfer was asked for. The receiving area's coordinator is told; nothing of "
          "the case changes until they answer.")
    return redirect(url_for("transfers.one", transfer_id=created["id"]))
