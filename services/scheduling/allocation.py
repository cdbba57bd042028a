"""Allocation: giving accepted cases their MARAC dates (first come, first served by acceptance),
waiting cases, referrals joining a case, coordinators' moves, hearing outcomes, erasure, and
what coordinators read (a case's allocation and history, the at-risk list)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from marac_platform import events
from marac_platform.db import utcnow
from marac_platform.errors import Conflict, InvalidInput
from marac_platform.payloads import CaseErased, ReferralAccepted, TransferCompleted
from marac_platform.runtime import Runtime, UnitOfWork
from services.scheduling import domain
from services.scheduling.caselists import Addenda, publish_addenda, publish_transfer_notice
from services.scheduling.common import (
    SYSTEM,
    calendar,
    find_allocation,
    find_meeting,
    history,
    local_today,
    materialize_meeting,
    occurrence_of,
    tracer,
)
from services.scheduling.models import (
    Allocation,
    AllocationChange,
    AllocationReferral,
    CaseList,
    Meeting,
)
from services.scheduling.places import (
    Placement,
    assign,
    give_back_place,
    open_meetings,
    place,
    seat_of,
    slot,
    take_place,
    unassign,
)

log = logging.getLogger(__name__)

S = domain.AllocationStatus
C = domain.Change

DISPLACED = "displaced"  # its place went to a case accepted earlier
NEW_REFERRAL = "new_referral"  # a heard case's new referral needs a hearing of its own


# --- telling everyone -------------------------------------------------------------------------


def _when(meeting: Meeting, record: Allocation, referral: tuple[str, str]) -> dict[str, Any]:
    referral_id, referrer_agency = referral
    return {
        "case_id": record.case_id, "referral_id": referral_id, "area_id": record.area_id,
        "meeting_id": meeting.id, "marac_date": meeting.marac_date.isoformat(),
        "meeting_start": meeting.starts_at.isoformat(), "model": meeting.model,
        "slot_index": record.slot_index,
        "slot_start": record.slot_start.isoformat() if record.slot_start else None,
        "target_date": record.target_date.isoformat(), "beyond_target": record.beyond_target,
        "referrer_agency": referrer_agency,
    }


_JOINED = (select(AllocationReferral.referral_id, AllocationReferral.referrer_agency)
           .where(AllocationReferral.case_id == bindparam("case_id"))
           .order_by(AllocationReferral.joined_at, AllocationReferral.referral_id))


def referrals_of(uow: UnitOfWork, record: Allocation) -> list[tuple[str, str]]:
    """(referral id, referrer's agency) of every referral the case's hearing is for: the one it
    was allocated for, then those that joined the case, in the order they joined."""
    joined = uow.session.execute(_JOINED, {"case_id": record.case_id}).all()
    return [(record.referral_id, record.referrer_agency),
            *((row.referral_id, row.referrer_agency) for row in joined)]


def _announce(uow: UnitOfWork, meeting: Meeting, record: Allocation, *,
              previous: Meeting | None, cause: str | None, reason: str | None,
              referrals: Sequence[tuple[str, str]] | None = None) -> None:
    """case.scheduled for every consumer of dates; case.rescheduled when the date changed.

    One of each per referral of the case (by default all of them), so that each referral
    follows the date and each referrer is told.
    """
    for referral in referrals if referrals is not None else referrals_of(uow, record):
        data = _when(meeting, record, referral)
        uow.publish(events.CASE_SCHEDULED, subject=record.case_id, area=record.area_id,
                    data={**data, "rescheduled": previous is not None})
        if previous is not None:
            uow.publish(events.CASE_RESCHEDULED, subject=record.case_id, area=record.area_id, data={
                **data, "previous_meeting_id": previous.id,
                "previous_marac_date": previous.marac_date.isoformat(),
                "cause": cause, "reason": reason,
            })


# --- accepted cases ---------------------------------------------------------------------------


def allocate_case(uow: UnitOfWork, accepted: ReferralAccepted,
                  now: datetime | None = None) -> Allocation:
    """Give an accepted case the earliest MARAC date its area's rules allow, or park it as
    waiting (listed as at risk) when no date within the horizon can take it.

    Places go in order of acceptance: a case accepted after this one gives its place up and
    goes to its next date (case.rescheduled, cause `displaced`). A referral of a case that
    already has an allocation joins it (`join_case`).
    """
    case_id: str = accepted.case_id
    now = now or utcnow()
    existing = uow.session.get(Allocation, case_id)
    if existing is not None:
        return join_case(uow, existing, accepted, now)
    area_id: str = accepted.area_id
    received_at: datetime = accepted.received_at
    config = calendar(uow.runtime, area_id)
    record = Allocation(
        case_id=case_id, area_id=area_id, referral_id=accepted.referral_id,
        received_at=received_at, accepted_at=accepted.accepted_at, allocated_at=now,
        updated_at=now,
        target_date=domain.target_date_for(config, domain.local_date(received_at)),
        beyond_target=False, urgent=accepted.urgent, status=S.WAITING.value, reasons=[],
        referrer_agency=accepted.referrer_agency, summary=_summary(accepted),
    )
    uow.session.add(record)
    _schedule_new(uow, record, reason="urgent" if record.urgent else None, now=now)
    return record


def _summary(accepted: ReferralAccepted) -> dict[str, Any]:
    return {key: getattr(accepted, key) for key in
            ("yes_count", "band", "criteria_met", "repeat", "case_list_entry",
             "transferred_from")}


def _schedule_new(uow: UnitOfWork, record: Allocation, *, reason: str | None,
                  now: datetime) -> None:
    """Place a newly accepted case (first come, first served), announce it, and place again
    the cases it displaced; or let it wait."""
    config = calendar(uow.runtime, record.area_id)
    addenda = Addenda()
    meetings = open_meetings(uow, record.area_id, now)
    try:
        placement = place(uow, config, meetings, record.received_at, record.urgent, now,
                          newcomer=seat_of(record))
    except domain.NoMeetingAvailable as exc:
        unassign(record, exc.reasons, now)
        history(uow, record, C.WAITING, from_meeting=None, to_meeting=None,
                reason="no_meeting_available", actor=SYSTEM, now=now)
        log.warning("no MARAC date can take the case; it waits",
                    extra={"case_id": record.case_id, "area_id": record.area_id})
        return
    assign(record, placement, now)
    history(uow, record, C.SCHEDULED, from_meeting=None, to_meeting=placement.meeting.id,
            reason=reason, actor=SYSTEM, now=now)
    _announce(uow, placement.meeting, record, previous=None, cause=None, reason=None)
    if placement.late:
        addenda.add(placement.meeting, record)
    _place_displaced(uow, placement, now, addenda)
    publish_addenda(uow, addenda, now)


def _place_displaced(uow: UnitOfWork, placement: Placement, now: datetime,
                     addenda: Addenda) -> None:
    """A case that gave its place to one accepted earlier goes to the earliest other date that
    can take it, first come, first served again (which may displace a case accepted later
    still: each step goes to a case accepted later, so it ends), or waits."""
    displaced, left = placement.displaced, placement.meeting
    while displaced is not None:
        record = displaced
        config = calendar(uow.runtime, record.area_id)
        meetings = [m for m in open_meetings(uow, record.area_id, now) if m.id != left.id]
        try:
            moved = place(uow, config, meetings, record.received_at, record.urgent, now,
                          newcomer=seat_of(record))
        except domain.NoMeetingAvailable as exc:
            unassign(record, domain.displaced_reasons(left.marac_date, exc.reasons), now)
            history(uow, record, C.WAITING, from_meeting=left.id, to_meeting=None,
                    reason=DISPLACED, actor=SYSTEM, now=now)
            log.warning("displaced case: no other MARAC date can take it; it waits",
                        extra={"case_id": record.case_id, "area_id": record.area_id})
            return
        moved.choice = replace(moved.choice, reasons=domain.displaced_reasons(
            left.marac_date, moved.choice.reasons))
        assign(record, moved, now)
        history(uow, record, C.RESCHEDULED, from_meeting=left.id, to_meeting=moved.meeting.id,
                reason=DISPLACED, actor=SYSTEM, now=now)
        _announce(uow, moved.meeting, record, previous=left, cause=DISPLACED, reason=None)
        if moved.late:
            addenda.add(moved.meeting, record)
        displaced, left = moved.displaced, moved.meeting


def join_case(uow: UnitOfWork, record: Allocation, accepted: ReferralAccepted,
              now: datetime) -> Allocation:
    """Another accepted referral of a case that already has an allocation (the victim's
    referral joined the open case): it is told the case's date, waits with the case, or, the
    case having been heard, gets a hearing of its own. The same referral accepted again
    (after a resubmission) keeps the date it has."""
    referral_id: str = accepted.referral_id
    known = uow.session.get(AllocationReferral, referral_id)
    if referral_id == record.referral_id or known is not None:
        return record
    action = domain.joining_referral(record.status)
    if action == domain.JOIN_NOTHING:
        return record
    if action == domain.JOIN_NEW_DATE:
        return _new_hearing(uow, record, accepted, now)
    uow.session.add(AllocationReferral(
        referral_id=referral_id, case_id=record.case_id, area_id=record.area_id,
        referrer_agency=accepted.referrer_agency, joined_at=now))
    history(uow, record, C.JOINED, from_meeting=None, to_meeting=record.meeting_id, reason=None,
            actor=SYSTEM, now=now)
    log.info("referral joined the case's allocation",
             extra={"case_id": record.case_id, "referral_id": referral_id})
    meeting = uow.session.get(Meeting, record.meeting_id) if record.meeting_id else None
    if action == domain.JOIN_SAME_DATE and meeting is not None:
        _announce(uow, meeting, record, previous=None, cause=None, reason=None,
                  referrals=[(referral_id, accepted.referrer_agency)])
    return record


def _new_hearing(uow: UnitOfWork, record: Allocation, accepted: ReferralAccepted,
                 now: datetime) -> Allocation:
    """The case was heard; the new referral takes the case (its one allocation row) to a new
    date of its own, as a newly accepted case. The referrals heard before are done with."""
    config = calendar(uow.runtime, record.area_id)
    heard_at = record.meeting_id
    give_back_place(uow, heard_at)  # as a deferral does: booked counts the rows pointing at it
    uow.session.execute(delete(AllocationReferral)
                        .where(AllocationReferral.case_id == record.case_id))
    received_at: datetime = accepted.received_at
    record.previous_meeting_id = heard_at or record.previous_meeting_id
    unassign(record, [], now)
    record.referral_id = accepted.referral_id
    record.referrer_agency = accepted.referrer_agency
    record.received_at = received_at
    record.accepted_at = accepted.accepted_at
    record.allocated_at = now
    record.urgent = accepted.urgent
    record.target_date = domain.target_date_for(config, domain.local_date(received_at))
    record.beyond_target = False
    record.outcome_at = None
    record.summary = _summary(accepted)
    uow.session.flush()
    _schedule_new(uow, record, reason=NEW_REFERRAL, now=now)
    return record


# --- cases that left their date, and cases waiting for one ------------------------------------


def reallocate(uow: UnitOfWork, record: Allocation, *, cause: str, reason: str | None,
               actor: str, now: datetime, addenda: Addenda) -> Meeting | None:
    """Put a case that left its date (cancelled, deferred) on the earliest date that can take it,
    or let it wait. The place it held is given back."""
    previous = uow.session.get(Meeting, record.meeting_id) if record.meeting_id else None
    give_back_place(uow, record.meeting_id)
    if previous is not None:
        record.previous_meeting_id = previous.id
    config = calendar(uow.runtime, record.area_id)
    meetings = [m for m in open_meetings(uow, record.area_id, now)
                if previous is None or m.id != previous.id]
    try:
        placement = place(uow, config, meetings, record.received_at, record.urgent, now)
    except domain.NoMeetingAvailable as exc:
        unassign(record, exc.reasons, now)
        history(uow, record, C.WAITING, from_meeting=previous.id if previous else None,
                to_meeting=None, reason=cause, actor=actor, now=now)
        return None
    assign(record, placement, now)
    history(uow, record, C.RESCHEDULED, from_meeting=previous.id if previous else None,
            to_meeting=placement.meeting.id, reason=cause, actor=actor, now=now)
    _announce(uow, placement.meeting, record, previous=previous, cause=cause, reason=reason)
    if placement.late:
        addenda.add(placement.meeting, record)
    return placement.meeting


def allocate_waiting(uow: UnitOfWork, area_id: str | None, now: datetime | None = None) -> int:
    """Offer the dates now open (an added meeting, the horizon moving on, a place freed) to
    cases waiting for one, oldest referral first; returns how many found a date."""
    now = now or utcnow()
    query = select(Allocation).where(Allocation.status == S.WAITING)
    if area_id is not None:
        query = query.where(Allocation.area_id == area_id)
    query = query.order_by(Allocation.urgent.desc(), Allocation.received_at)
    if uow.runtime.db.is_postgres:
        query = query.with_for_update(skip_locked=True)  # another replica has those in hand
    waiting = list(uow.session.scalars(query))
    placed = 0
    addenda = Addenda()
    for record in waiting:
        config = calendar(uow.runtime, record.area_id)
        try:
            placement = place(uow, config, open_meetings(uow, record.area_id, now),
                              record.received_at, record.urgent, now)
        except domain.NoMeetingAvailable:
            continue
        previous = (uow.session.get(Meeting, record.previous_meeting_id)
                    if record.previous_meeting_id else None)
        assign(record, placement, now)
        history(uow, record, C.SCHEDULED, from_meeting=None, to_meeting=placement.meeting.id,
                reason="waiting_list", actor=SYSTEM, now=now)
        _announce(uow, placement.meeting, record, previous=previous, cause="waiting_list",
                  reason=None)
        if placement.late:
            addenda.add(placement.meeting, record)
        placed += 1
    publish_addenda(uow, addenda, now)
    return placed


def allocate_waiting_job(runtime: Runtime) -> None:
    # A timed job starts its own trace; the events it publishes continue it.
    with tracer.start_as_current_span("scheduling allocate waiting"), runtime.unit_of_work() as uow:
        placed = allocate_waiting(uow, None)
    if placed:
        log.info("waiting cases given a date", extra={"count": placed})


# --- coordinators' moves ----------------------------------------------------------------------


def move_case(uow: UnitOfWork, case_id: str, target_id: str, reason: str, actor: str,
              now: datetime | None = None) -> Allocation:
    """A coordinator moves a case (scheduled or waiting: the move table) to another open date
    of its area.

    The coordinator's decision overrides cut-off and notice; capacity still holds. Both meeting
    rows are locked in id order first, so two opposite moves cannot deadlock.
    """
    now = now or utcnow()
    record = find_allocation(uow, case_id, lock=True)
    domain.ALLOCATION_MOVES.move(S(record.status), S.SCHEDULED)
    if record.meeting_id == target_id:
        raise Conflict("The case is already on that date.", slug="same-meeting")
    if uow.session.scalar(select(Meeting.id).where(Meeting.id == target_id)) is None:
        materialize_meeting(uow, target_id)  # a calendar date months ahead, not yet written
    ids = sorted({target_id, *([record.meeting_id] if record.meeting_id else [])})
    locked = {m.id: m for m in uow.session.scalars(
        select(Meeting).where(Meeting.id.in_(ids)).order_by(Meeting.id).with_for_update()
        .execution_options(populate_existing=True))}
    target = locked.get(target_id)
    if target is None or target.area_id != record.area_id:
        raise InvalidInput("meeting_id", "Not a MARAC date of the case's area.",
                           detail="No such meeting in the case's area.")
    if not domain.takes_cases(target.status, target.starts_at, now):
        raise Conflict("That date is cancelled, held or under way.", slug="meeting-closed")
    previous = locked.get(record.meeting_id) if record.meeting_id else None
    if previous is not None and domain.has_begun(previous.starts_at, now):
        raise Conflict("The case's date has begun: record it as heard or deferred.",
                       slug="meeting-under-way")
    taken, published = take_place(uow, target.id)
    if not taken:
        raise Conflict("That date is full.", slug="meeting-full")
    config = calendar(uow.runtime, record.area_id)
    index, start = slot(uow, config, target)
    give_back_place(uow, record.meeting_id)
    choice = domain.moved_allocation(config, occurrence_of(target), record.received_at,
                                     index, start, reason)
    was_waiting = record.status == S.WAITING
    if previous is not None:
        record.previous_meeting_id = previous.id
    assign(record, Placement(target, choice, late=published is not None), now)
    history(uow, record, C.MOVED, from_meeting=previous.id if previous else None,
            to_meeting=target.id, reason=reason, actor=actor, now=now)
    earlier = previous
    if was_waiting and record.previous_meeting_id:
        earlier = uow.session.get(Meeting, record.previous_meeting_id)
    _announce(uow, target, record, previous=earlier, cause="moved", reason=reason)
    if published is not None:
        addenda = Addenda()
        addenda.add(target, record)
        publish_addenda(uow, addenda, now)
    return record


# --- hearing outcomes -------------------------------------------------------------------------


def hear(uow: UnitOfWork, record: Allocation, meeting: Meeting, outcome: str,
         actor: str, now: datetime) -> bool:
    """case.heard (heard or deferred) once: the conditional UPDATE lets only one caller through."""
    asked = domain.outcome_status(outcome)
    changed = uow.session.execute(
        update(Allocation)
        .where(Allocation.case_id == record.case_id, Allocation.meeting_id == meeting.id,
               Allocation.status.in_(domain.ALLOCATION_MOVES.sources(asked)))
        .values(status=asked.value, outcome_at=now, updated_at=now))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    for referral_id, _agency in referrals_of(uow, record):  # every referral heard with the case
        uow.publish(events.CASE_HEARD, subject=record.case_id, area=record.area_id, data={
            "case_id": record.case_id, "referral_id": referral_id, "area_id": record.area_id,
            "meeting_id": meeting.id, "marac_date": meeting.marac_date.isoformat(),
            "outcome": outcome,
        })
    history(uow, record, C(outcome), from_meeting=meeting.id, to_meeting=None, reason=None,
            actor=actor, now=now)
    return True


def record_outcome(uow: UnitOfWork, case_id: str, outcome: str, actor: str,
                   now: datetime | None = None) -> Allocation:
    """Meeting model: the coordinator records a case as heard, or deferred (it then goes to the
    earliest date that can take it)."""
    now = now or utcnow()
    record = find_allocation(uow, case_id, lock=True)
    domain.ALLOCATION_MOVES.move(S(record.status), domain.outcome_status(outcome))
    if record.meeting_id is None:
        raise Conflict("Only a scheduled case can be recorded as heard or deferred.",
                       slug="not-scheduled")
    meeting = find_meeting(uow, record.meeting_id)
    domain.check_outcome(meeting.model, meeting.starts_at, now)
    if not hear(uow, record, meeting, outcome, actor, now):
        raise Conflict("The outcome was recorded already.", slug="outcome-recorded")
    uow.session.refresh(record)
    if outcome == domain.OUTCOME_DEFERRED:
        addenda = Addenda()
        reallocate(uow, record, cause="deferred", reason=None, actor=actor, now=now, addenda=addenda)
        publish_addenda(uow, addenda, now)
    return record


# --- what coordinators read -------------------------------------------------------------------


def allocation_history(uow: UnitOfWork, case_id: str) -> list[AllocationChange]:
    """Where the case has been: every change of its date, oldest first."""
    return list(uow.session.scalars(
        select(AllocationChange).where(AllocationChange.case_id == case_id)
        .order_by(AllocationChange.id)).all())


@dataclass(frozen=True)
class AtRisk:
    record: Allocation
    target_date: date
    days_over: int | None


def at_risk(uow: UnitOfWork, area_id: str, now: datetime | None = None) -> list[AtRisk]:
    """Cases whose date is after their target, that cannot now meet it, or that wait for a date."""
    config = calendar(uow.runtime, area_id)
    today = local_today(now)
    records = {r.case_id: r for r in uow.session.scalars(
        select(Allocation).where(Allocation.area_id == area_id,
                                 Allocation.status.in_((S.SCHEDULED, S.WAITING))))}
    upcoming = [domain.CaseSchedule(r.case_id, domain.local_date(r.received_at), r.marac_date)
                for r in records.values()
                if r.status == S.SCHEDULED and r.marac_date is not None and r.marac_date >= today]
    found = [AtRisk(records[risk.case_id], risk.target_date, risk.days_over)
             for risk in domain.at_risk_of_missing_target(config, upcoming, today)]
    # A waiting case has no date at all: always the coordinator's to solve.
    found += [AtRisk(r, r.target_date, None) for r in records.values() if r.status == S.WAITING]
    return sorted(found, key=lambda item: (item.target_date, item.record.case_id))


# --- erasure ----------------------------------------------------------------------------------


def erase_case(uow: UnitOfWork, erased: CaseErased, now: datetime | None = None) -> None:
    """Drop what this service holds of an erased case: its encrypted case-list entry (on the
    allocation and in the documents sent) and, if not yet heard, its place on a date."""
    now = now or utcnow()
    case_id: str = erased.case_id
    record = uow.session.scalar(select(Allocation).where(Allocation.case_id == case_id)
                                .with_for_update())
    if record is None:
        return
    meetings = set(uow.session.scalars(
        select(AllocationChange.to_meeting_id).where(AllocationChange.case_id == case_id,
                                                     AllocationChange.to_meeting_id.is_not(None))))
    if record.meeting_id:
        meetings.add(record.meeting_id)
    for document in uow.session.scalars(select(CaseList).where(CaseList.meeting_id.in_(meetings))):
        cases = [
            {**case, "case_list_entry": {}, "erased": True} if case["case_id"] == case_id else case
            for case in document.document["cases"]
        ]
        document.document = {**document.document, "cases": cases}
    record.summary = {**record.summary, "case_list_entry": {}}
    starts = (uow.session.scalar(select(Meeting.starts_at).where(Meeting.id == record.meeting_id))
              if record.meeting_id else None)
    if domain.withdrawn_on_erasure(record.status, starts, now):
        left = record.meeting_id
        give_back_place(uow, left)
        unassign(record, [], now, status=S.WITHDRAWN)
        record.previous_meeting_id = left or record.previous_meeting_id
        history(uow, record, C.WITHDRAWN, from_meeting=left, to_meeting=None,
                reason=erased.reason, actor=SYSTEM, now=now)
    log.info("erased case dropped", extra={"case_id": case_id, "area_id": record.area_id})


# --- transfers --------------------------------------------------------------------------------


def transfer_out(uow: UnitOfWork, completed: TransferCompleted,
                 now: datetime | None = None) -> None:
    """The case went to another area: it gives up its date here (unless heard, or its date
    has begun), and if a case list already named it, the date's next addendum says it was
    transferred. Once per transfer: a second delivery finds the case withdrawn."""
    now = now or utcnow()
    record = uow.session.scalar(select(Allocation).where(Allocation.case_id == completed.case_id)
                                .with_for_update())
    if record is None or record.status == S.WITHDRAWN:
        return
    meeting = uow.session.get(Meeting, record.meeting_id) if record.meeting_id else None
    if not domain.withdrawn_on_erasure(record.status, meeting.starts_at if meeting else None,
                                       now):
        return
    listed = (meeting is not None and record.caselist_edition is not None
              and meeting.caselist_published_at is not None)
    give_back_place(uow, record.meeting_id)
    unassign(record, [], now, status=S.WITHDRAWN)
    record.previous_meeting_id = meeting.id if meeting else record.previous_meeting_id
    history(uow, record, C.WITHDRAWN, from_meeting=meeting.id if meeting else None,
            to_meeting=None, reason="transfer", actor=SYSTEM, now=now)
    if listed and meeting is not None:
        publish_transfer_notice(uow, meeting, record, completed.to_area, now)
    log.info("case transferred out", extra={"case_id": record.case_id, "area_id": record.area_id})
