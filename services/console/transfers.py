"""Inter-MARAC transfers for coordinators and chairs: those offered to their areas (with where
each comes from) and those their areas asked for (with where each stands); one transfer's
page with its state, origin and target, reason, the accept or decline form for the receiving
coordinator, and the notes both coordinators exchange. The referral service keeps them all."""

from __future__ import annotations

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


def _coordinator() -> Person:
    who = person()
    if not who.may(Permission.TRANSFER_RECEIVE):
        raise Refused(403, {"detail": "Transfers are for the coordinators and chairs of the "
                                      "areas concerned."})
    return who


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

