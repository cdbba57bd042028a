"""SMART actions: proposing and agreeing them, every status change (who, when, why), the
views agencies and coordinators work from, and the reminder sweep (due soon, overdue,
escalation steps), each step once per action whatever the number of worker replicas."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from opentelemetry import trace
from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marac_platform import clock, events, faults
from marac_platform.db import new_id, utcnow
from marac_platform.errors import InvalidInput, NotFound
from marac_platform.payloads import (
    ActionCreated,
    ActionDueSoon,
    ActionEscalated,
    ActionOverdue,
    ActionReminder,
    ActionStatusChanged,
)
from marac_platform.runtime import Runtime, UnitOfWork
from services.actions import domain, research, service
from services.actions.config import ActionsServiceConfig
from services.actions.domain import ActionStatus, Actor
from services.actions.models import Action, ActionChange
from services.actions.models import ActionReminder as ReminderRow

log = logging.getLogger(__name__)
tracer = trace.get_tracer("services.actions")

DETAILS_FIELD = "actions.action"
NOTE_FIELD = "actions.action_note"
SWEEP_BATCH = 500

# Test-only: `MARAC_FAULT=actions.after_reminder_claim:N` kills the worker right after its
# N-th reminder claim, before that claim's transaction commits (marac_platform/faults.py).
FAULT_AFTER_REMINDER_CLAIM = "actions.after_reminder_claim"


# --- proposing, agreeing, moving -------------------------------------------------------------


def create_action(uow: UnitOfWork, actor: Actor, case_id: str, body: dict[str, Any]) -> Action:
    """A new action on a case: from the area's catalogue (its title is the default `what`) or
    written freely; for an agency of the area, due today or later."""
    research.known_case(uow, case_id)
    record_area = _case_area(uow, case_id)
    area = uow.runtime.area(record_area)
    config = service.area_config(uow.runtime, area.id)
    problems: list[tuple[str, str]] = []
    item = None
    if body.get("catalogue_code"):
        item = config.item(body["catalogue_code"])
        if item is None:
            problems.append(("catalogue_code", "Not an action in this area's catalogue."))
        elif body["for_whom"] not in item.for_whom:
            problems.append(("for_whom", f"This action is for: {', '.join(item.for_whom)}."))
    what = (body.get("what") or "").strip() or (item.title if item else "")
    if not what and not problems:
        problems.append(("what", "Say what is to be done, or pick a catalogue action."))
    asker = body.get("asked_by_agency") or (None if actor.manages else actor.agency)
    if asker is None:
        problems.append(("asked_by_agency", "Say which agency asks for it."))
    elif not actor.manages and asker != actor.agency:
        problems.append(("asked_by_agency", "An agency asks for actions in its own name."))
    for name, agency_id in (("owner_agency", body["owner_agency"]), ("asked_by_agency", asker)):
        if agency_id is not None and area.agency(agency_id) is None:
            problems.append((name, "Not an agency of this area."))
    today = clock.uk_today()
    if body["due_by"] < today:
        problems.append(("due_by", "Must be today or later."))
    status = ActionStatus(body["status"])
    if status is ActionStatus.AGREED and not actor.manages and actor.agency != body["owner_agency"]:
        problems.append(("status", "Only the coordinator or the owning agency agrees an action."))
    if problems:
        raise InvalidInput(*problems[0], more=problems[1:])
    assert asker is not None
    now = utcnow()
    listing = research.current_listing(uow, case_id)
    details = {"what": what, "risk": body.get("risk") or ""}
    action = Action(
        id=new_id("act"), case_id=case_id, area_id=area.id,
        meeting_id=listing.meeting_id if listing else None, owner_agency=body["owner_agency"],
        asked_by_agency=asker, catalogue_code=item.code if item else None,
        details=service.keys(uow.runtime).encrypt(case_id, DETAILS_FIELD, details),
        for_whom=body["for_whom"], due_by=body["due_by"], status=status.value,
        created_at=now, created_by=actor.subject, updated_at=now)
    uow.session.add(action)
    uow.session.add(ActionChange(action_id=action.id, area_id=area.id, from_status=None,
                                 to_status=status.value, at=now, by=actor.subject,
                                 by_agency=actor.agency))
    uow.publish(events.ACTION_CREATED, subject=case_id, area=area.id, data=ActionCreated(
        action_id=action.id, case_id=case_id, area_id=area.id, meeting_id=action.meeting_id,
        owner_agency=action.owner_agency, asked_by_agency=asker,
        catalogue_code=action.catalogue_code, for_whom=action.for_whom, due_by=action.due_by,
        status=status.value, by=actor.subject, at=now))
    return action


def _case_area(uow: UnitOfWork, case_id: str) -> str:
    from services.actions.models import CaseRecord, ListedCase

    record = uow.session.get(CaseRecord, case_id)
    if record is not None:
        return record.area_id
    area = uow.session.scalar(select(ListedCase.area_id).where(ListedCase.case_id == case_id)
                              .limit(1))
    if area is None:
        raise NotFound("No such case.")
    return area


def visible(actor: Actor, action: Action) -> bool:
    """An agency sees the actions it owns or asked for; coordinators and chairs all of theirs."""
    return actor.manages or actor.agency in (action.owner_agency, action.asked_by_agency)


def find_action(uow: UnitOfWork, actor: Actor, action_id: str, *, lock: bool = False) -> Action:
    query = select(Action).where(Action.id == action_id, Action.erased_at.is_(None))
    if lock:
        query = query.with_for_update()
    found = uow.session.scalar(query)
    if found is None or not visible(actor, found):
        raise NotFound("No such action.")
    return found


def move_action(uow: UnitOfWork, actor: Actor, action_id: str, body: dict[str, Any]) -> Action:
    """Change an action's status through its move table (409 for a move it does not allow);
    the change is recorded with who and when, and published."""
    action = find_action(uow, actor, action_id, lock=True)
    asked = ActionStatus(body["status"])
    domain.check_move(actor, action.owner_agency, action.asked_by_agency, asked)
    current = ActionStatus(action.status)
    domain.ACTION_MOVES.move(current, asked)
    problems = domain.move_problems(asked, body.get("note"), body.get("done_on"), clock.uk_today())
    if problems:
        raise InvalidInput(*problems[0], more=problems[1:])
    now = utcnow()
    action.status = asked.value
    action.updated_at = now
    if asked is ActionStatus.COMPLETED:
        action.done_on = body.get("done_on") or clock.uk_today()
    note = (body.get("note") or "").strip()
    uow.session.add(ActionChange(
        action_id=action.id, area_id=action.area_id, from_status=current.value,
        to_status=asked.value, at=now, by=actor.subject, by_agency=actor.agency,
        note=service.keys(uow.runtime).encrypt(action.case_id, NOTE_FIELD, note) if note else None))
    uow.publish(events.ACTION_STATUS_CHANGED, subject=action.case_id, area=action.area_id,
                data=ActionStatusChanged(
                    action_id=action.id, case_id=action.case_id, area_id=action.area_id,
                    owner_agency=action.owner_agency, asked_by_agency=action.asked_by_agency,
                    from_status=current.value, to_status=asked.value, by=actor.subject, at=now))
    return action


def details_of(uow: UnitOfWork, action: Action) -> dict[str, Any]:
    """What and the risk, decrypted (raises KeyErased once the case is erased)."""
    if action.details is None:
        return {"what": None, "risk": None}
    details: dict[str, Any] = service.keys(uow.runtime).decrypt(
        action.case_id, DETAILS_FIELD, action.details)
    return details


def history_of(uow: UnitOfWork, action: Action) -> list[dict[str, Any]]:
    store = service.keys(uow.runtime)
    return [{"from_status": change.from_status, "to_status": change.to_status, "at": change.at,
             "by": change.by, "by_agency": change.by_agency,
             "note": store.decrypt(action.case_id, NOTE_FIELD, change.note) if change.note else None}
            for change in uow.session.scalars(select(ActionChange).where(
                ActionChange.action_id == action.id).order_by(ActionChange.id))]


# --- views -----------------------------------------------------------------------------------


def _visible_to(query: Any, actor: Actor) -> Any:
    if actor.manages:
        return query
    return query.where((Action.owner_agency == actor.agency) | (Action.asked_by_agency == actor.agency))


def case_actions(uow: UnitOfWork, actor: Actor, case_id: str) -> Sequence[Action]:
    research.known_case(uow, case_id)
    query = select(Action).where(Action.case_id == case_id, Action.erased_at.is_(None))
    return uow.session.scalars(_visible_to(query, actor).order_by(Action.due_by, Action.id)).all()


def _overdue_first(today: date) -> Any:
    committed = [s.value for s in domain.COMMITTED]
    return case((Action.status.in_(committed) & (Action.due_by < today), 0), else_=1)


def open_actions(uow: UnitOfWork, actor: Actor, agency_id: str | None,
                 limit: int) -> Sequence[Action]:
    """An agency's open actions across its cases (those it owns), overdue first, then by date."""
    today = clock.uk_today()
    query = select(Action).where(Action.status.in_([s.value for s in domain.OPEN_ACTIONS]),
                                 Action.erased_at.is_(None))
    agencies = research.agency_filter(actor, agency_id)
    if agencies is not None:
        query = query.where(Action.owner_agency.in_(agencies))
    return uow.session.scalars(query.order_by(_overdue_first(today), Action.due_by, Action.id)
                               .limit(limit)).all()


def meeting_actions(uow: UnitOfWork, actor: Actor, meeting_id: str) -> Sequence[Action]:
    """A MARAC date's outstanding actions (open ones), overdue first."""
    query = select(Action).where(Action.meeting_id == meeting_id,
                                 Action.status.in_([s.value for s in domain.OPEN_ACTIONS]),
                                 Action.erased_at.is_(None))
    return uow.session.scalars(_visible_to(query, actor).order_by(
        _overdue_first(clock.uk_today()), Action.due_by, Action.id)).all()


def report(uow: UnitOfWork, actor: Actor, area_id: str) -> dict[str, Any]:
    """Per agency (owner) and for the area: completed on time, late, outstanding, overdue, and
    each kind of not done."""
    today = clock.uk_today()
    query = select(Action.owner_agency, Action.status, Action.due_by, Action.done_on).where(
        Action.area_id == area_id, Action.erased_at.is_(None))
    if not actor.manages:
        query = query.where(Action.owner_agency == actor.agency)
    per_agency: dict[str, Counter[str]] = {}
    for owner, status, due_by, done_on in uow.session.execute(query):
        kind = domain.outcome_kind(ActionStatus(status), due_by, done_on, today)
        per_agency.setdefault(owner, Counter())[kind] += 1
    total: Counter[str] = Counter()
    for counts in per_agency.values():
        total.update(counts)

    def row(counts: Counter[str]) -> dict[str, int]:
        return {kind: counts.get(kind, 0) for kind in domain.REPORT_KINDS}

    return {"area_id": area_id, "on": today,
            "agencies": [{"agency_id": agency, **row(counts)}
                         for agency, counts in sorted(per_agency.items())],
            "area": row(total)}


# --- the reminder sweep ------------------------------------------------------------------------

REMINDERS: dict[str, tuple[str, type[ActionReminder]]] = {
    "due_soon": (events.ACTION_DUE_SOON, ActionDueSoon),
    "overdue": (events.ACTION_OVERDUE, ActionOverdue),
}


def _reminder_kind(step: str) -> tuple[str, type[ActionReminder]]:
    return REMINDERS.get(step, (events.ACTION_ESCALATED, ActionEscalated))


def _claim(uow: UnitOfWork, action: Action, step: str, now: datetime, event_id: str) -> bool:
    """Insert the (action, step) row unless it exists: on PostgreSQL a concurrent insert of the
    same key waits for the first transaction, then does nothing. True if this one claimed it."""
    row = {"action_id": action.id, "step": step, "area_id": action.area_id, "sent_at": now,
           "event_id": event_id}
    insert = postgres_insert if uow.runtime.db.is_postgres else sqlite_insert
    # RETURNING, not rowcount: an ORM-enabled INSERT reports -1 rows whatever it did.
    claimed = uow.session.execute(insert(ReminderRow).values(row).on_conflict_do_nothing()
                                  .returning(ReminderRow.action_id)).first()
    return claimed is not None


def remind(uow: UnitOfWork, action_id: str, step: str, today: date) -> bool:
    """Send one reminder step of one action, once: the claim row and the event are written in
    the same transaction, so a worker killed before commit leaves both for the next sweep."""
    action = uow.session.get(Action, action_id)
    if action is None or ActionStatus(action.status) not in domain.COMMITTED or action.erased_at:
        return False
    kind, payload = _reminder_kind(step)
    data = payload(action_id=action.id, case_id=action.case_id, area_id=action.area_id,
                   owner_agency=action.owner_agency, due_by=action.due_by, step=step,
                   days_overdue=(today - action.due_by).days)
    if not _claim(uow, action, step, utcnow(), ""):  # its event id follows below
        return False
    faults.kill_at(FAULT_AFTER_REMINDER_CLAIM)
    event_id = uow.publish(kind, subject=action.case_id, area=action.area_id, data=data)
    uow.session.execute(update(ReminderRow).where(
        ReminderRow.action_id == action.id, ReminderRow.step == step).values(event_id=event_id))
    return True


def due_reminders(runtime: Runtime, today: date) -> list[tuple[str, str]]:
    """(action id, step) of every reminder step reached and not yet sent."""
    configs = runtime.config_as(ActionsServiceConfig).areas.values()
    horizon = max((c.due_soon_days for c in configs), default=0)
    with runtime.unit_of_work() as uow:
        candidates = uow.session.execute(
            select(Action.id, Action.area_id, Action.due_by).where(
                Action.status.in_([s.value for s in domain.COMMITTED]),
                Action.erased_at.is_(None),
                Action.due_by <= date.fromordinal(today.toordinal() + horizon))
            .order_by(Action.due_by, Action.id).limit(SWEEP_BATCH)).all()
        if not candidates:
            return []
        sent = set(uow.session.execute(select(ReminderRow.action_id, ReminderRow.step).where(
            ReminderRow.action_id.in_([row.id for row in candidates]))).tuples())
    due: list[tuple[str, str]] = []
    for row in candidates:
        config = service.area_config(runtime, row.area_id)
        due += [(row.id, step) for step in domain.reminder_steps(config, row.due_by, today)
                if (row.id, step) not in sent]
    return due


def sweep_reminders(runtime: Runtime) -> int:
    """The timed job: every reminder step reached, once each, one transaction per step."""
    today = clock.uk_today()
    due = due_reminders(runtime, today)
    if not due:
        return 0
    sent = 0
    with tracer.start_as_current_span("actions reminders", attributes={"marac.count": len(due)}):
        for action_id, step in due:
            try:
                with runtime.unit_of_work() as uow:
                    sent += remind(uow, action_id, step, today)
            except Exception as exc:  # one action's failure must not hold back the others
                log.error("reminder not sent; retried on the next sweep",
                          extra={"reason_code": type(exc).__name__, "path": step})
    if sent:
        log.info("action reminders sent", extra={"count": sent})
    return sent
