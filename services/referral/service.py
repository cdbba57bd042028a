"""The referral service's use cases: save drafts, submit, link a victim's referrals to one case,
screen, flag urgent, and follow referrals through risk and scheduling. Each opens no
transaction of its own: the caller's unit of work is the one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import ColumnElement, String, bindparam, cast, delete, event, false, or_, select, update
from sqlalchemy.orm import Session

from marac_platform import checklists, clock, events, payloads
from marac_platform.db import new_id, utcnow
from marac_platform.errors import InvalidInput
from marac_platform.problems import flatten_messages
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security.crypto import KeyErased
from marac_platform.security.roles import Permission, allowed
from marac_platform.security.tokens import Principal
from services.referral import domain, identity, quarterly
from services.referral.config import ReferralConfig
from services.referral.forms import key_store, loaded_form, read_form, store_form
from services.referral.models import Case, Referral, ScreeningDecision, StateChange
from services.referral.schemas import DRAFT, SUBMIT

SCREENING_REASON_FIELD = "referral.screening_reason"
CASE_LIST_FIELDS = ("incidents", "safeguarding_in_place")
INVALID_REFERRAL = "invalid-referral"
S = domain.ReferralState
CaseStatus = domain.CaseStatus




def screening_config(runtime: Runtime, area_id: str) -> domain.ScreeningConfig:
    return runtime.config_as(ReferralConfig).screening.get(area_id) or domain.ScreeningConfig()


def victim_of(form: Mapping[str, Any]) -> domain.VictimIdentity:
    return domain.VictimIdentity.from_form(form.get("victim") or {})


def publish_about(uow: UnitOfWork, referral: Referral, event_type: str,
                  fields: Mapping[str, Any]) -> None:
    """Publish an event about this referral: keyed by its case, with its ids and area."""
    uow.publish(event_type, subject=referral.case_id, area=referral.area_id, data={
        "referral_id": referral.id, "case_id": referral.case_id, "area_id": referral.area_id,
        **fields})


def move(uow: UnitOfWork, referral: Referral, target: domain.ReferralState, by: str) -> None:
    """The one way a referral changes state: checked against the lifecycle, recorded, published."""
    current = S(referral.state)
    referral.state = domain.REFERRAL_MOVES.move(current, target)
    referral.updated_at = utcnow()
    uow.session.add(
        StateChange(
            area_id=referral.area_id,
            referral_id=referral.id,
            from_state=current.value,
            to_state=target.value,
            at=referral.updated_at,
            by=by,
        )
    )
    publish_about(uow, referral, events.REFERRAL_STATUS_CHANGED, {
        "from_state": current.value,
        "to_state": target.value,
    })


# --- the form ----------------------------------------------------------------------------
def check_form(body: Any, *, submit: bool) -> dict[str, Any]:
    """The form loaded with the draft or the full submit schema, its DASH answers checked
    against their checklist; else a 422 naming every field (nothing is stored)."""
    schema = SUBMIT if submit else DRAFT
    try:
        form: dict[str, Any] = schema.load(body)
    except ValidationError as exc:
        raise _invalid(list(flatten_messages(exc.messages)),
                       "The referral has invalid fields; see errors.") from None
    errors = domain.dash_errors(form, checklists.shipped_checklists(), submit=submit)
    if errors:
        raise _invalid(errors, "The DASH answers do not fit the checklist; see errors.")
    return form


def _invalid(errors: list[dict[str, str]], detail: str) -> InvalidInput:
    (first, *more) = errors
    return InvalidInput(first["field"], first["reason"], detail=detail, slug=INVALID_REFERRAL,
                        more=[(e["field"], e["reason"]) for e in more])


def _erase_key_after_commit(uow: UnitOfWork, case_id: str) -> None:
    """Destroy a provisional case's key once the move off it is committed (never before)."""
    store = key_store(uow.runtime)

    def erase(_session: Session) -> None:
        store.erase(case_id)

    event.listen(uow.session, "after_commit", erase, once=True)


def link_to_case(uow: UnitOfWork, referral: Referral, form: Mapping[str, Any],
                 match: identity.CaseMatch) -> None:
    """Move a draft off its provisional case onto the victim's existing case.

    The form is encrypted again under the existing case's key; the provisional case (which
    nothing but this draft used, and no event ever named) goes, and its key after commit.
    """
    provisional = referral.case_id
    referral.case_id = match.case_id
    referral.linked_case_grounds = list(match.grounds)
    store_form(uow.runtime, referral, form)
    uow.session.execute(delete(Case).where(Case.id == provisional))
    _erase_key_after_commit(uow, provisional)


# --- create, save, submit ------------------------------------------------------------------
def create_referral(
    uow: UnitOfWork, who: Principal, form: Mapping[str, Any], *, submit: bool
) -> Referral:
    """A new referral: a draft (on a provisional case of its own), or submitted at once.

    Submitted at once, it joins the victim's open case in the area when there is one: no
    second case and no second data key.
    """
    area_id: str = form["area_id"]
    uow.runtime.area(area_id)
    now = utcnow()
    match = None
    if submit:
        match = identity.find_open_case(uow, area_id, victim_of(form))
    if match is None:
        case_id = new_id("case")
        key_store(uow.runtime).create(case_id, area_id)
        uow.session.add(Case(id=case_id, area_id=area_id, status=CaseStatus.OPEN, opened_at=now))
    else:
        case_id = match.case_id
    referral = Referral(
        id=new_id("ref"),
        case_id=case_id,
        area_id=area_id,
        state=S.DRAFT,
        referrer_subject=who.subject,
        referrer_agency=who.agency,
        created_at=now,
        updated_at=now,
        form_public={},
        submissions=0,
        urgent=False,
        repeat=False,
        linked_case_grounds=list(match.grounds) if match else None,
    )
    store_form(uow.runtime, referral, form)
    uow.session.add(referral)
    if submit:
        # Not flushed first: submitting fills in the row, which is then inserted once.
        submit_referral(uow, referral, form, by=who.subject, find_case=False,
                        new_case=match is None)
    uow.session.flush()
    return referral


def save_draft(uow: UnitOfWork, referral: Referral, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a draft save into the stored form (whole top-level sections); the merged form.
    The area a draft names is its for good."""
    if "area_id" in changes and changes["area_id"] != referral.area_id:
        raise InvalidInput("area_id", "Cannot be changed.", slug=INVALID_REFERRAL,
                           detail="The area of a referral cannot change.")
    domain.ensure_state(referral.state, domain.EDITABLE_STATES, "cannot be edited")
    merged = domain.merge_draft(loaded_form(uow.runtime, referral), changes)
    store_form(uow.runtime, referral, merged)
    referral.updated_at = utcnow()
    return merged


def earlier_case_referral_dates(uow: UnitOfWork, referral: Referral) -> list[dt.date]:
    """Dates of the case's other referrals that became MARAC cases (met the criteria)."""
    rows = uow.session.scalars(
        select(Referral.referral_date).where(
            Referral.case_id == referral.case_id, Referral.id != referral.id,
            Referral.state.in_(sorted(domain.COUNTED_STATES)),
            Referral.referral_date.is_not(None))
    ).all()
    return [d for d in rows if d is not None]


def submitted_payload(referral: Referral, form: Mapping[str, Any]) -> dict[str, Any]:
    """referral.submitted's data: only what scoring needs, nothing personal."""
    dash = form["dash"]
    previous = form.get("previous_marac_referrals") or []
    received, day = referral.received_at, referral.referral_date
    if received is None or day is None:
        raise ValueError("a referral is dated before it goes to risk")
    return {
        "received_at": received.isoformat(),
        "referral_date": day.isoformat(),
        "checklist_version": dash["checklist_version"],
        "dash_answers": dict(dash.get("answers") or {}),
        "criteria_claimed": list(form["criteria_claimed"]),
        "professional_judgement_documented": bool(form.get("professional_judgement_narrative")),
        "police_callout_dates": [d.isoformat() for d in form.get("police_callout_dates") or []],
        "police_callouts_last_12_months": form.get("police_callouts_last_12_months") or 0,
        "incident_dates": [i["date"].isoformat() for i in form.get("incidents") or []
                           if i.get("date")],
        # The area's id only: a name typed instead is free text, kept encrypted in the form.
        "previous_referrals": [
            {"area_id": p.get("area_id") or payloads.UNKNOWN_AREA, "date": p["date"].isoformat()}
            for p in previous if p.get("date")
        ],
        "urgent": referral.urgent,
        "resubmission": referral.submissions - 1,
    }


def declared_dates(form: Mapping[str, Any]) -> list[dt.date]:
    """The dates of the earlier MARAC referrals the referrer declared on the form."""
    return [p["date"] for p in form.get("previous_marac_referrals") or [] if p.get("date")]


def submit_referral(
    uow: UnitOfWork, referral: Referral, form: Mapping[str, Any], by: str, *,
    find_case: bool = True, new_case: bool = False,
) -> None:
    """Send a complete referral to risk. The event carries no personal data: only what scoring needs.

    On its first submission a draft joins the victim's open case if there is one (after that
    its case is settled: a returned referral keeps it). `received_at` is set once: the
    time-to-hearing clock runs from the first submission, also for a returned referral sent
    again. The repeat flag set here (declared referrals and the case's own earlier ones) is
    provisional; risk's assessment, which also knows transfers, settles it. `new_case`: the
    case was opened for this referral in this transaction, so it has no other referral and
    no index entry yet to look up.
    """
    victim = victim_of(form)
    if find_case and referral.submissions == 0 and referral.linked_case_grounds is None:
        match = identity.find_open_case(uow, referral.area_id, victim, exclude=referral.case_id)
        if match is not None:
            link_to_case(uow, referral, form, match)
    now = utcnow()
    if referral.received_at is None:
        referral.received_at = now
    referral.referral_date = now.date()
    referral.submissions += 1
    referral.returned_at_step = None
    earlier = [] if new_case else earlier_case_referral_dates(uow, referral)
    referral.repeat = domain.is_repeat(now.date(), declared_dates(form) + earlier)
    # The return's categories, from the form while it is in hand: counting never decrypts.
    referral.monitoring = quarterly.monitoring_flags(form, now.astimezone(clock.UK).date())
    move(uow, referral, S.SUBMITTED, by)
    publish_about(uow, referral, events.REFERRAL_SUBMITTED, submitted_payload(referral, form))
    # Last: its INSERT flushes the referral's pending row once, with everything set above.
    identity.index_identity(uow, referral.case_id, referral.area_id, victim, new_case=new_case)


def confirm_link(uow: UnitOfWork, referral: Referral, by: str) -> None:
    """A coordinator confirms that a referral which joined an open case is the same victim
    (confirming again keeps the first confirmation). One that joined no case has nothing to
    confirm (409). A referral held for this confirmation goes on: to screening, or accepted."""
    if not referral.linked_case_grounds:
        raise domain.ReferralStateConflict(
            "The referral did not join an existing case: there is no match to confirm.")
    if referral.link_confirmed_at is not None:
        return
    referral.link_confirmed_by = by
    referral.link_confirmed_at = referral.updated_at = utcnow()
    if referral.state == S.ASSESSED and met_criteria(referral):  # it was held for this
        go_on(uow, referral, by)


def unconfirmed_join(referral: Referral) -> bool:
    """It joined the victim's open case on a match no coordinator has confirmed yet."""
    return bool(referral.linked_case_grounds) and referral.link_confirmed_at is None


def awaits_confirmation(runtime: Runtime, referral: Referral) -> bool:
    """An unconfirmed join in an area whose coordinators confirm joins
    (`ScreeningConfig.confirm_matches`). A transfer's referral is not held: B's coordinator
    accepted the transfer, which was its check."""
    return (unconfirmed_join(referral) and referral.transfer_id is None
            and screening_config(runtime, referral.area_id).confirm_matches)


def met_criteria(referral: Referral) -> bool:
    return (referral.assessment or {}).get("decision") == "meets_criteria"


def is_held(referral: Referral) -> bool:
    """Met the criteria and waits, assessed, for a coordinator to confirm or separate its join.
    (Not the area's setting as it is now: one held before it was turned off still waits.)"""
    return referral.state == S.ASSESSED and met_criteria(referral) and unconfirmed_join(referral)


def go_on(uow: UnitOfWork, referral: Referral, by: str) -> None:
    """An assessed referral that met the criteria, its case settled: screening, or accepted."""
    if screening_config(uow.runtime, referral.area_id).required:
        move(uow, referral, S.IN_SCREENING, by)
    else:
        accept(uow, referral, by=by)


def submit_draft(uow: UnitOfWork, referral: Referral, by: str) -> None:
    """Submit a stored draft (or an amended returned referral): its whole form is checked
    first, and a 422 leaves it as it was."""
    domain.ensure_state(referral.state, domain.EDITABLE_STATES, "cannot be submitted")
    form = check_form(read_form(uow.runtime, referral), submit=True)
    submit_referral(uow, referral, form, by=by)


def readable_by(who: Principal) -> ColumnElement[bool]:
    """The one rule of which referrals a caller may read (lists and single reads alike), within
    the areas its unit of work sees: with referral.read_own its own, and with referral.read_area
    also every submitted one. A draft stays its referrer's alone."""
    own = Referral.referrer_subject == who.subject
    if allowed(who, Permission.REFERRAL_READ_AREA):
        return or_(own, Referral.state != S.DRAFT)
    if allowed(who, Permission.REFERRAL_READ_OWN):
        return own
    return false()


def readable_page(uow: UnitOfWork, who: Principal, *, state: str | None, offset: int,
                  limit: int, linked: bool = False) -> tuple[list[Referral], bool]:
    """A page of the referrals `who` may read, newest first, and whether more follow;
    `linked`: only those that joined the victim's existing open case, not yet confirmed."""
    statement = (select(Referral).where(readable_by(who))
                 .order_by(Referral.created_at.desc(), Referral.id))
    if state:
        statement = statement.where(Referral.state == state)
    if linked:
        # None is stored as JSON null (SQLAlchemy's JSON default), or as SQL NULL. Those a
        # coordinator has confirmed are settled: the list is of those still to confirm.
        statement = statement.where(Referral.linked_case_grounds.is_not(None),
                                    cast(Referral.linked_case_grounds, String) != "null",
                                    Referral.link_confirmed_at.is_(None))
    rows = uow.session.scalars(statement.offset(offset).limit(limit + 1)).all()
    return list(rows[:limit]), len(rows) > limit


def find(uow: UnitOfWork, referral_id: str, reader: Principal | None = None) -> Referral | None:
    """The referral; with `reader`, only if that caller may read it (`readable_by`)."""
    statement = select(Referral).where(Referral.id == referral_id)
    if reader is not None:
        statement = statement.where(readable_by(reader))
    return uow.session.scalar(statement)


# One round trip, not two; built once (each event about a referral runs it).
_LIVE = (select(Referral, Case.status).join(Case, Case.id == Referral.case_id)
         .where(Referral.id == bindparam("referral_id")))


def find_live(uow: UnitOfWork, referral_id: str, reader: Principal | None = None, *,
              lock: bool = False) -> Referral | None:
    """The referral an event is about, unless its case was erased: an erased case goes no
    further (not accepted, scheduled or heard), whatever arrives late. `lock`: its row is
    held to the end of the transaction (PostgreSQL; SQLite has one writer anyway), so two
    coordinators deciding at once decide one after the other."""
    statement = _LIVE
    if reader is not None:
        statement = statement.where(readable_by(reader))
    if lock:
        statement = statement.with_for_update(of=Referral)
    row = uow.session.execute(statement, {"referral_id": referral_id}).first()
    return None if row is None or row[1] == CaseStatus.ERASED else row[0]


# --- risk's answer -------------------------------------------------------------------------
def on_assessed(uow: UnitOfWork, assessed: payloads.RiskAssessed) -> None:
    referral = find_live(uow, assessed.referral_id)
    if referral is None or referral.state != S.SUBMITTED:
        return  # erased, or an assessment of an earlier submission
    if assessed.case_id != referral.case_id:
        return  # of the case it was separated from: its assessment on its own case follows
    stored = events.schema_of(events.spec_for(events.RISK_ASSESSED)).dump(assessed)  # as JSON
    referral.assessment = {
        key: stored[key]
        for key in (
            "assessment_id",
            "checklist_version",
            "yes_count",
            "band",
            "high_weight_factors",
            "criteria",
            "decision",
        )
    }
    # Risk knows every earlier referral (this case's, declared, transferred in): its word
    # on repeat replaces the provisional flag set at submission.
    referral.repeat = any(c.criterion == "repeat" and c.met for c in assessed.criteria)
    move(uow, referral, S.ASSESSED, "system")
    if referral.transfer_id is not None:
        # B's coordinator accepted the transfer: that was its screening. The assessment under
        # B's rules is kept on the record; the case was a MARAC case in A either way.
        accept(uow, referral, by="system")
        return
    if assessed.decision != "meets_criteria":
        return_to_referrer(uow, referral, [c for c in stored["criteria"] if not c["met"]])
        return
    if awaits_confirmation(uow.runtime, referral):
        # Held, assessed, until a coordinator confirms the join or separates it: notify tells
        # the area's coordinators, who may have no screening to look at otherwise.
        publish_about(uow, referral, events.REFERRAL_HELD,
                      {"grounds": list(referral.linked_case_grounds or [])})
        return
    go_on(uow, referral, "system")


def return_to_referrer(
    uow: UnitOfWork, referral: Referral, reasons: list[dict[str, Any]], *,
    by: str = "system", step: str | None = None, note: str | None = None,
) -> None:
    """Back to the referrer: with risk's unmet criteria, or a screening step and its reason."""
    referral.return_reasons = reasons
    referral.returned_at_step = step
    move(uow, referral, S.RETURNED, by)
    publish_about(uow, referral, events.REFERRAL_RETURNED, {
        "referrer_agency": referral.referrer_agency,
        "reasons": reasons,
        "screening_step": step,
        "note": note,
    })


def case_list_entry(runtime: Runtime, referral: Referral) -> dict[str, str]:
    """What agencies will see on the case list, encrypted with the case's key."""
    form = read_form(runtime, referral)
    store = key_store(runtime)
    return {
        name: store.encrypt(referral.case_id, f"case_list.{name}", form[name])
        for name in CASE_LIST_FIELDS
        if form.get(name)
    }


def accept(uow: UnitOfWork, referral: Referral, by: str) -> None:
    move(uow, referral, S.ACCEPTED, by)
    assessment = referral.assessment or {}
    received: datetime = referral.received_at or utcnow()
    publish_about(uow, referral, events.REFERRAL_ACCEPTED, {
        "received_at": received.isoformat(),
        "accepted_at": utcnow().isoformat(),
        "urgent": referral.urgent,
        "yes_count": assessment.get("yes_count", 0),
        "band": assessment.get("band", "standard"),
        "criteria_met": [c["criterion"] for c in assessment.get("criteria", []) if c["met"]],
        "repeat": referral.repeat,
        "referrer_agency": referral.referrer_agency,
        "case_list_entry": case_list_entry(uow.runtime, referral),
        "transferred_from": referral.transferred_from,
    })


# --- screening and urgency -------------------------------------------------------------------
def round_decisions(uow: UnitOfWork, referral: Referral) -> list[ScreeningDecision]:
    """This submission's screening decisions, oldest first (a resubmission starts afresh)."""
    return list(uow.session.scalars(
        select(ScreeningDecision)
        .where(ScreeningDecision.referral_id == referral.id,
               ScreeningDecision.round == referral.submissions)
        .order_by(ScreeningDecision.at, ScreeningDecision.id)))


def _step_decision(row: ScreeningDecision) -> domain.StepDecision:
    return domain.StepDecision(step=row.step, decision=domain.ScreeningDecision(row.decision),
                               by=row.by, at=row.at)


def screen(
    uow: UnitOfWork, referral: Referral, who: Principal, step: str,
    decision: domain.ScreeningDecision, reason: str | None,
) -> domain.ScreeningProgress:
    """Record one step's decision; the last accept accepts the referral, a return returns it.

    Refuses (409) a referral not in screening, and (domain.ScreeningError) a `step` that is
    not the step waiting for a decision.
    """
    domain.ensure_state(referral.state, frozenset({S.IN_SCREENING}), "is not in screening")
    config = screening_config(uow.runtime, referral.area_id)
    now = utcnow()
    new = domain.StepDecision(step=step, decision=decision, by=who.subject, at=now)
    earlier = [_step_decision(row) for row in round_decisions(uow, referral)]
    progress = domain.record_step_decision(config, earlier, new)
    note = (key_store(uow.runtime).encrypt(referral.case_id, SCREENING_REASON_FIELD, reason)
            if reason else None)
    uow.session.add(ScreeningDecision(
        area_id=referral.area_id, referral_id=referral.id, round=referral.submissions,
        step=step, decision=decision.value, reason=note, by=who.subject, at=now))
    uow.session.flush()  # a concurrent decision on the same step fails here (unique key)
    referral.updated_at = now
    publish_about(uow, referral, events.REFERRAL_SCREENED, {
        "round": referral.submissions, "step": step, "decision": decision.value,
        "pending_step": progress.pending_step,
        "outcome": progress.outcome.value if progress.outcome else None})
    if progress.outcome is domain.ScreeningOutcome.ACCEPTED:
        accept(uow, referral, by=who.subject)
    elif progress.outcome is domain.ScreeningOutcome.RETURNED:
        return_to_referrer(uow, referral, [], by=who.subject, step=step, note=note)
    return progress


def set_urgent(uow: UnitOfWork, referral: Referral, urgent: bool) -> None:
    """The coordinator's urgency mark, until acceptance; an unchanged value publishes nothing."""
    domain.ensure_state(referral.state, domain.URGENT_STATES, "cannot change urgency")
    if referral.urgent == urgent:
        return
    referral.urgent = urgent
    referral.updated_at = utcnow()
    publish_about(uow, referral, events.REFERRAL_URGENCY_CHANGED, {"urgent": urgent})


def close(uow: UnitOfWork, referral: Referral, by: str) -> None:
    """A heard referral is closed by the coordinator; its case closes with its last open
    referral (`domain.closes_case`), which starts the area's retention period."""
    domain.ensure_state(referral.state, frozenset({S.HEARD}), "cannot be closed")
    move(uow, referral, S.CLOSED, by)
    uow.session.flush()
    case = uow.session.get(Case, referral.case_id)
    states = uow.session.scalars(select(Referral.state).where(Referral.case_id == referral.case_id))
    if case is not None and domain.closes_case(CaseStatus(case.status), states):
        case.status = domain.CASE_MOVES.move(CaseStatus(case.status), CaseStatus.CLOSED)
        case.closed_at = utcnow()


def screening_view(uow: UnitOfWork, referral: Referral) -> dict[str, Any]:
    """The area's steps, where this round stands, and every decision recorded (all rounds)."""
    config = screening_config(uow.runtime, referral.area_id)
    rows = list(uow.session.scalars(
        select(ScreeningDecision).where(ScreeningDecision.referral_id == referral.id)
        .order_by(ScreeningDecision.round, ScreeningDecision.at, ScreeningDecision.id)))
    pending = None
    if referral.state == S.IN_SCREENING:
        current = [_step_decision(r) for r in rows if r.round == referral.submissions]
        pending = domain.screening_progress(config, current).pending_step
    return {
        "steps": list(config.steps),
        "pending_step": pending,
        "decisions": [
            {"round": r.round, "step": r.step, "decision": r.decision, "by": r.by, "at": r.at,
             "reason": _reason(uow.runtime, referral.case_id, r.reason)}
            for r in rows
        ],
    }


def return_note(uow: UnitOfWork, referral: Referral) -> str | None:
    """The screener's reason for the last return at a screening step, for the referrer."""
    if referral.returned_at_step is None or referral.state != S.RETURNED:
        return None
    row = uow.session.scalars(
        select(ScreeningDecision)
        .where(ScreeningDecision.referral_id == referral.id,
               ScreeningDecision.round == referral.submissions,
               ScreeningDecision.step == referral.returned_at_step)).first()
    return _reason(uow.runtime, referral.case_id, row.reason) if row else None


def _reason(runtime: Runtime, case_id: str, token: str | None) -> str | None:
    if token is None:
        return None
    try:
        text: str = key_store(runtime).decrypt(case_id, SCREENING_REASON_FIELD, token)
    except KeyErased:
        return None
    return text


# --- scheduling and erasure ----------------------------------------------------------------
def on_scheduled(uow: UnitOfWork, scheduled: payloads.CaseScheduled) -> None:
    referral = find_live(uow, scheduled.referral_id)
    if referral is None:
        return
    referral.marac_date = scheduled.marac_date
    referral.meeting_id = scheduled.meeting_id
    referral.target_date = scheduled.target_date
    if referral.state == S.SCHEDULED:
        referral.updated_at = utcnow()  # rescheduled: same state, new date
        return
    move(uow, referral, S.SCHEDULED, "system")


def on_heard(uow: UnitOfWork, heard: payloads.CaseHeard) -> None:
    referral = find_live(uow, heard.referral_id)
    if referral is None or heard.outcome != "heard":
        return
    move(uow, referral, S.HEARD, "system")


def on_case_erased(uow: UnitOfWork, erased: payloads.CaseErased) -> None:
    """Drop what erasure leaves behind here: the case's blind index and screening reasons.

    The digests are keyed, but still stand for a person; the reasons are unreadable without
    the destroyed key anyway and go so that nothing of them is kept.
    """
    case_id = erased.case_id
    identity.drop_index(uow, case_id)
    referral_ids = select(Referral.id).where(Referral.case_id == case_id).scalar_subquery()
    uow.session.execute(
        update(ScreeningDecision).where(ScreeningDecision.referral_id.in_(referral_ids))
        .values(reason=None))

