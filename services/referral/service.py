"""The referral service's use cases: save drafts, submit, link a victim's referrals to one case,
screen, flag urgent, and follow referrals through risk and scheduling. Each opens no
transaction of its own: the caller's unit of work is the one."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import ColumnElement, delete, event, false, func, or_, select, update
from sqlalchemy.orm import Session

from marac_platform import events, payloads
from marac_platform.db import utcnow
from marac_platform.keystore import KeyStore
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security.crypto import KeyErased
from marac_platform.security.roles import Permission, allowed
from marac_platform.security.tokens import Principal
from services.referral import domain
from services.referral.config import ReferralConfig
from services.referral.models import Case, CaseIdentity, Referral, ScreeningDecision, StateChange
from services.referral.schemas import ReferralDraftSchema, merge_personal, split_personal

PERSONAL_FIELD = "referral.personal"
SCREENING_REASON_FIELD = "referral.screening_reason"
CASE_LIST_FIELDS = ("incidents", "safeguarding_in_place")
IDENTITY_INFO = b"marac identity-index v1"
OPEN_CASE = "open"
S = domain.ReferralState

# The coordinator may mark urgency until the referral is accepted (it travels in
# referral.accepted, which is what scheduling reads).
URGENT_STATES = frozenset({S.SUBMITTED, S.ASSESSED, S.IN_SCREENING, S.RETURNED})
EDITABLE_STATES = frozenset({S.DRAFT, S.RETURNED})
# Referrals that met the criteria and were not sent back: earlier MARAC referrals of the case.
COUNTED_STATES = frozenset(
    {S.IN_SCREENING, S.ACCEPTED, S.SCHEDULED, S.HEARD, S.CLOSED, S.TRANSFERRED})


class Conflict(Exception):
    """The referral is not in a state that allows this; the message names states or steps only."""


def keys(runtime: Runtime) -> KeyStore:
    return runtime.config_as(ReferralConfig).keys


def screening_config(runtime: Runtime, area_id: str) -> domain.ScreeningConfig:
    return runtime.config_as(ReferralConfig).screening.get(area_id) or domain.ScreeningConfig()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def publish_about(uow: UnitOfWork, referral: Referral, event_type: str,
                  fields: Mapping[str, Any]) -> None:
    """Publish an event about this referral: keyed by its case, with its ids and area."""
    uow.publish(event_type, subject=referral.case_id, area=referral.area_id, data={
        "referral_id": referral.id, "case_id": referral.case_id, "area_id": referral.area_id,
        **fields})


def move(uow: UnitOfWork, referral: Referral, target: domain.ReferralState, by: str) -> None:
    """The one way a referral changes state: checked against the lifecycle, recorded, published."""
    current = domain.ReferralState(referral.state)
    domain.transition(current, target)
    referral.state = target.value
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
def store_form(runtime: Runtime, referral: Referral, form: Mapping[str, Any]) -> None:
    """Keep a loaded form: its personal part as one ciphertext under the case's key."""
    public, personal = split_personal(ReferralDraftSchema().dump(form))
    referral.form_public = public
    referral.form_personal = keys(runtime).encrypt(referral.case_id, PERSONAL_FIELD, personal)


def read_form(runtime: Runtime, referral: Referral) -> dict[str, Any]:
    """The stored form as JSON (raises KeyErased once the case is erased)."""
    personal = (
        keys(runtime).decrypt(referral.case_id, PERSONAL_FIELD, referral.form_personal)
        if referral.form_personal
        else {}
    )
    return merge_personal(referral.form_public, personal)


def loaded_form(runtime: Runtime, referral: Referral) -> dict[str, Any]:
    """The stored form loaded again (dates as dates), as a use case works with it.

    What was stored passed the draft schema, and its only moving rule (no date in the future)
    only gets easier, so this load does not fail on what the service wrote.
    """
    form: dict[str, Any] = ReferralDraftSchema().load(read_form(runtime, referral))
    return form


# --- identity: finding the victim's open case ----------------------------------------------
@dataclass(frozen=True)
class CaseMatch:
    case_id: str
    grounds: tuple[str, ...]


def identity_secret(runtime: Runtime, area_id: str, kid: str) -> bytes:
    """The area's identity-index key: derived from its area key, never stored or logged."""
    cache = runtime.config_as(ReferralConfig).identity_secrets
    found = cache.get((area_id, kid))
    if found is None:
        material = keys(runtime).keyring.key(area_id, kid)
        found = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                     info=IDENTITY_INFO + b"\x00" + area_id.encode()).derive(material)
        cache[(area_id, kid)] = found
    return found


def victim_identity(victim: Mapping[str, Any]) -> domain.VictimIdentity:
    """The identity of a form's victim, loaded (`date`s) or as stored JSON (ISO strings)."""
    dates = frozenset(
        d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))
        for d in victim.get("dates_of_birth") or ()
    )
    return domain.VictimIdentity(
        name=domain.PersonName.from_form(victim.get("name") or {}),
        aliases=tuple(domain.PersonName.from_form(a) for a in victim.get("aliases") or ()),
        dates_of_birth=dates,
    )


def find_open_case(
    uow: UnitOfWork, area_id: str, identity: domain.VictimIdentity, *, exclude: str | None = None
) -> CaseMatch | None:
    """The victim's open case in the area, if the blind index and `match_victim` agree.

    The index gives cases sharing a name and a date of birth (digests under every key id the
    area holds, so rows written before a key rotation still count); the forms of those cases'
    submitted referrals are then decrypted and matched, which also gives the grounds.
    """
    runtime = uow.runtime
    keyring = keys(runtime).keyring
    wanted: set[str] = set()
    for kid in keyring.kids(area_id):
        wanted |= {d for _, d in domain.identity_digests(identity, identity_secret(runtime, area_id, kid))}
    if not wanted:
        return None
    hits = uow.session.execute(
        select(CaseIdentity.case_id, CaseIdentity.kind)
        .where(CaseIdentity.area_id == area_id, CaseIdentity.digest.in_(sorted(wanted)))
    ).all()
    candidates = domain.cases_sharing_name_and_dob((row.case_id, row.kind) for row in hits)
    candidates -= {exclude} if exclude else set()
    if not candidates:
        return None
    open_cases = uow.session.scalars(
        select(Case.id).where(Case.id.in_(sorted(candidates)), Case.status == OPEN_CASE)
    ).all()
    existing: list[domain.ExistingCase] = []
    for referral in uow.session.scalars(
        select(Referral).where(Referral.case_id.in_(sorted(open_cases)),
                               Referral.state != S.DRAFT.value)
    ):
        try:
            victim = read_form(runtime, referral).get("victim") or {}
        except KeyErased:
            continue
        existing.append(domain.ExistingCase(referral.case_id, victim_identity(victim)))
    matches = domain.match_victim(identity, existing)
    return CaseMatch(matches[0].case_id, matches[0].grounds) if matches else None


def index_identity(uow: UnitOfWork, case_id: str, area_id: str,
                   identity: domain.VictimIdentity) -> None:
    """Add the victim's digests (under the area's current key) to the case's blind index."""
    keyring = keys(uow.runtime).keyring
    kid = keyring.current_kid(area_id)
    digests = domain.identity_digests(identity, identity_secret(uow.runtime, area_id, kid))
    known = set(uow.session.scalars(
        select(CaseIdentity.digest).where(CaseIdentity.case_id == case_id)))
    uow.session.add_all(
        CaseIdentity(case_id=case_id, area_id=area_id, kind=kind, kid=kid, digest=digest)
        for kind, digest in sorted(digests)
        if digest not in known
    )


def _erase_key_after_commit(uow: UnitOfWork, case_id: str) -> None:
    """Destroy a provisional case's key once the move off it is committed (never before)."""
    store = keys(uow.runtime)

    def erase(_session: Session) -> None:
        store.erase(case_id)

    event.listen(uow.session, "after_commit", erase, once=True)


def link_to_case(uow: UnitOfWork, referral: Referral, form: Mapping[str, Any],
                 match: CaseMatch) -> None:
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
        match = find_open_case(uow, area_id, victim_identity(form.get("victim") or {}))
    if match is None:
        case_id = new_id("case")
        keys(uow.runtime).create(case_id, area_id)
        uow.session.add(Case(id=case_id, area_id=area_id, status=OPEN_CASE, opened_at=now))
    else:
        case_id = match.case_id
    referral = Referral(
        id=new_id("ref"),
        case_id=case_id,
        area_id=area_id,
        state=S.DRAFT.value,
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
    uow.session.flush()
    if submit:
        submit_referral(uow, referral, form, by=who.subject, find_case=False)
    return referral


def save_draft(uow: UnitOfWork, referral: Referral, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a draft save into the stored form (whole top-level sections); the merged form."""
    state = S(referral.state)
    if state not in EDITABLE_STATES:
        raise Conflict(f"a referral in state {state.value} cannot be edited")
    merged = domain.merge_draft(loaded_form(uow.runtime, referral), changes)
    store_form(uow.runtime, referral, merged)
    referral.updated_at = utcnow()
    return merged


def earlier_case_referral_dates(uow: UnitOfWork, referral: Referral) -> list[dt.date]:
    """Dates of the case's other referrals that became MARAC cases (met the criteria)."""
    rows = uow.session.scalars(
        select(Referral.referral_date).where(
            Referral.case_id == referral.case_id, Referral.id != referral.id,
            Referral.state.in_(sorted(s.value for s in COUNTED_STATES)),
            Referral.referral_date.is_not(None))
    ).all()
    return [d for d in rows if d is not None]


def submit_referral(
    uow: UnitOfWork, referral: Referral, form: Mapping[str, Any], by: str, *,
    find_case: bool = True,
) -> None:
    """Send a complete referral to risk. The event carries no personal data: only what scoring needs.

    On its first submission a draft joins the victim's open case if there is one (after that
    its case is settled: a returned referral keeps it). `received_at` is set once: the
    time-to-hearing clock runs from the first submission, also for a returned referral sent
    again. The repeat flag set here (declared referrals and the case's own earlier ones) is
    provisional; risk's assessment, which also knows transfers, settles it.
    """
    identity = victim_identity(form.get("victim") or {})
    if find_case and referral.submissions == 0 and referral.linked_case_grounds is None:
        match = find_open_case(uow, referral.area_id, identity, exclude=referral.case_id)
        if match is not None:
            link_to_case(uow, referral, form, match)
    now = utcnow()
    if referral.received_at is None:
        referral.received_at = now
    referral.referral_date = now.date()
    referral.submissions += 1
    referral.returned_at_step = None
    index_identity(uow, referral.case_id, referral.area_id, identity)
    previous = form.get("previous_marac_referrals") or []
    declared = [p["date"] for p in previous if p.get("date")]
    referral.repeat = domain.is_repeat(
        now.date(), declared + earlier_case_referral_dates(uow, referral))
    move(uow, referral, S.SUBMITTED, by)
    dash = form["dash"]
    publish_about(uow, referral, events.REFERRAL_SUBMITTED, {
        "received_at": referral.received_at.isoformat(),
        "referral_date": now.date().isoformat(),
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
    })


def readable_by(who: Principal) -> ColumnElement[bool]:
    """The one rule of which referrals a caller may read (lists and single reads alike), within
    the areas its unit of work sees: with referral.read_own its own, and with referral.read_area
    also every submitted one. A draft stays its referrer's alone."""
    own = Referral.referrer_subject == who.subject
    if allowed(who, Permission.REFERRAL_READ_AREA):
        return or_(own, Referral.state != S.DRAFT.value)
    if allowed(who, Permission.REFERRAL_READ_OWN):
        return own
    return false()


def find(uow: UnitOfWork, referral_id: str, reader: Principal | None = None) -> Referral | None:
    """The referral; with `reader`, only if that caller may read it (`readable_by`)."""
    statement = select(Referral).where(Referral.id == referral_id)
    if reader is not None:
        statement = statement.where(readable_by(reader))
    return uow.session.scalar(statement)


def find_live(uow: UnitOfWork, referral_id: str, reader: Principal | None = None) -> Referral | None:
    """The referral an event is about, unless its case was erased: an erased case goes no
    further (not accepted, scheduled or heard), whatever arrives late."""
    referral = find(uow, referral_id, reader)
    if referral is None:
        return None
    case = uow.session.get(Case, referral.case_id)
    return None if case is None or case.status == domain.CASE_ERASED else referral


# --- risk's answer -------------------------------------------------------------------------
def on_assessed(uow: UnitOfWork, assessed: payloads.RiskAssessed) -> None:
    referral = find_live(uow, assessed.referral_id)
    if referral is None or referral.state != S.SUBMITTED.value:
        return  # erased, or an assessment of an earlier submission
    stored = payloads.RiskAssessedSchema().dump(assessed)  # as JSON, for the referral's record
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
    if assessed.decision != "meets_criteria":
        return_to_referrer(uow, referral, [c for c in stored["criteria"] if not c["met"]])
        return
    if screening_config(uow.runtime, referral.area_id).required:
        move(uow, referral, S.IN_SCREENING, "system")
        return
    accept(uow, referral, by="system")


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
    store = keys(runtime)
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

    Raises Conflict when the referral is not in screening, and domain.ScreeningError when
    `step` is not the step waiting for a decision.
    """
    if referral.state != S.IN_SCREENING.value:
        raise Conflict(f"a referral in state {referral.state} is not in screening")
    config = screening_config(uow.runtime, referral.area_id)
    now = utcnow()
    new = domain.StepDecision(step=step, decision=decision, by=who.subject, at=now)
    earlier = [_step_decision(row) for row in round_decisions(uow, referral)]
    progress = domain.record_step_decision(config, earlier, new)
    note = (keys(uow.runtime).encrypt(referral.case_id, SCREENING_REASON_FIELD, reason)
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
    state = S(referral.state)
    if state not in URGENT_STATES:
        raise Conflict(f"a referral in state {state.value} cannot change urgency")
    if referral.urgent == urgent:
        return
    referral.urgent = urgent
    referral.updated_at = utcnow()
    publish_about(uow, referral, events.REFERRAL_URGENCY_CHANGED, {"urgent": urgent})


def close(uow: UnitOfWork, referral: Referral, by: str) -> None:
    """A heard referral is closed by the coordinator; its case closes with its last open
    referral, which starts the area's retention period."""
    state = S(referral.state)
    if state != S.HEARD:
        raise Conflict(f"a referral in state {state.value} cannot be closed")
    move(uow, referral, S.CLOSED, by)
    uow.session.flush()
    still_open = uow.session.scalar(
        select(func.count()).select_from(Referral)
        .where(Referral.case_id == referral.case_id,
               Referral.state.not_in([S.CLOSED.value, S.TRANSFERRED.value])))
    case = uow.session.get(Case, referral.case_id)
    if case is not None and not still_open and case.status == "open":
        case.status = "closed"
        case.closed_at = utcnow()


def screening_view(uow: UnitOfWork, referral: Referral) -> dict[str, Any]:
    """The area's steps, where this round stands, and every decision recorded (all rounds)."""
    config = screening_config(uow.runtime, referral.area_id)
    rows = list(uow.session.scalars(
        select(ScreeningDecision).where(ScreeningDecision.referral_id == referral.id)
        .order_by(ScreeningDecision.round, ScreeningDecision.at, ScreeningDecision.id)))
    pending = None
    if referral.state == S.IN_SCREENING.value:
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
    if referral.returned_at_step is None or referral.state != S.RETURNED.value:
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
        text: str = keys(runtime).decrypt(case_id, SCREENING_REASON_FIELD, token)
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
    if referral.state == S.SCHEDULED.value:
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
    uow.session.execute(delete(CaseIdentity).where(CaseIdentity.case_id == case_id))
    referral_ids = select(Referral.id).where(Referral.case_id == case_id).scalar_subquery()
    uow.session.execute(
        update(ScreeningDecision).where(ScreeningDecision.referral_id.in_(referral_ids))
        .values(reason=None))

