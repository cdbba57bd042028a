"""What every scheduling use case shares: the area's calendar, its dates written as meeting rows
(once, by whichever worker gets there first), finding meetings and allocations, the history.

Writing calendar dates lives here rather than in `meetings.py` because placing cases needs
the rows too, and meetings' own use cases (cancelling, adding a date) place cases.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from opentelemetry import trace
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marac_platform.db import utcnow
from marac_platform.errors import NotFound
from marac_platform.runtime import Runtime, UnitOfWork
from services.scheduling import domain
from services.scheduling.config import SchedulingConfig
from services.scheduling.models import Allocation, AllocationChange, Meeting

tracer = trace.get_tracer("services.scheduling")
log = logging.getLogger(__name__)


def for_each_meeting(runtime: Runtime, targets: Sequence[str], span: str,
                     step: Callable[[UnitOfWork, str], int], failed: str) -> int:
    """A timed job's work, one meeting at a time: each in its own transaction and span (the
    job's own trace), so one meeting's failure (logged, retried on the next run) holds back
    none after it. Returns what the steps counted."""
    done = 0
    for target in targets:
        try:
            with tracer.start_as_current_span(span, attributes={"marac.meeting_id": target}), \
                    runtime.unit_of_work() as uow:
                done += step(uow, target)
        except Exception as exc:
            log.error(failed, extra={"meeting_id": target, "reason_code": type(exc).__name__})
    return done

SYSTEM = "system"  # the actor of changes no coordinator made


def calendar(runtime: Runtime, area_id: str) -> domain.CalendarConfig:
    return runtime.config_as(SchedulingConfig).calendars[area_id]


def local_today(now: datetime | None = None) -> date:
    return domain.local_date(now or utcnow())


def history(uow: UnitOfWork, record: Allocation, change: domain.Change, *, from_meeting: str | None,
            to_meeting: str | None, reason: str | None, actor: str, now: datetime) -> None:
    uow.session.add(AllocationChange(
        case_id=record.case_id, area_id=record.area_id, at=now, change=change.value,
        from_meeting_id=from_meeting, to_meeting_id=to_meeting, reason=reason, actor=actor))


# --- calendar dates as meeting rows -----------------------------------------------------------


def meeting_row(area_id: str, config: domain.CalendarConfig,
                occurrence: domain.MeetingOccurrence) -> dict[str, Any]:
    return {
        "id": domain.meeting_id(area_id, occurrence.date), "area_id": area_id,
        "marac_date": occurrence.date, "starts_at": occurrence.start, "ends_at": occurrence.end,
        "model": config.model, "capacity": occurrence.capacity, "booked": 0,
        "status": domain.MeetingStatus.PLANNED.value,
        "ad_hoc": occurrence.ad_hoc, "moved_from": occurrence.moved_from,
        "caselist_due_at": domain.caselist_publish_at(config, occurrence),
    }


def _insert_missing(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    """Insert meeting rows, leaving any another worker wrote meanwhile (no error, no retry)."""
    if not rows:
        return
    if uow.runtime.db.is_postgres:
        uow.session.execute(postgres_insert(Meeting).values(rows).on_conflict_do_nothing())
    else:
        uow.session.execute(sqlite_insert(Meeting).values(rows).on_conflict_do_nothing())


# Per database engine, the (area, start, end) spans whose meeting rows this process has seen
# committed: meetings are never deleted, so an allocation need not rebuild the 180-day
# calendar and compare it with the rows again (it did, once per case).
_ENSURED: weakref.WeakKeyDictionary[Engine, set[tuple[str, date, date]]] = (
    weakref.WeakKeyDictionary())


def ensure_meetings(uow: UnitOfWork, area_id: str, start: date, end: date) -> None:
    """Write the area's calendar dates between start and end as meeting rows, once."""
    ensured = _ENSURED.setdefault(uow.runtime.db.engine, set())
    span = (area_id, start, end)
    if span in ensured:
        return
    config = calendar(uow.runtime, area_id)
    existing = set(uow.session.scalars(
        select(Meeting.marac_date).where(Meeting.area_id == area_id,
                                         Meeting.marac_date.between(start, end))))
    _insert_missing(uow, [meeting_row(area_id, config, occurrence)
                          for occurrence in domain.meeting_dates(config, start, end)
                          if occurrence.date not in existing])
    if len(ensured) > 10_000:  # a long-lived process: days and areas go by
        ensured.clear()
    uow.after_commit(lambda: ensured.add(span))


def occurrence_of(meeting: Meeting) -> domain.MeetingOccurrence:
    return domain.MeetingOccurrence(
        date=meeting.marac_date, start=meeting.starts_at.astimezone(domain.LONDON),
        end=meeting.ends_at.astimezone(domain.LONDON), capacity=meeting.capacity,
        moved_from=meeting.moved_from, ad_hoc=meeting.ad_hoc)


def find_meeting(uow: UnitOfWork, wanted: str, *, materialize: bool = False) -> Meeting:
    """The meeting; with `materialize`, a calendar date not yet written (e.g. months ahead, as
    the calendar preview shows it) is written first so a coordinator can act on it."""
    found = uow.session.scalar(select(Meeting).where(Meeting.id == wanted))
    if found is None and materialize and materialize_meeting(uow, wanted):
        found = uow.session.scalar(select(Meeting).where(Meeting.id == wanted))
    if found is None:
        raise NotFound("No such meeting.")
    return found


def materialize_meeting(uow: UnitOfWork, wanted: str) -> bool:
    """Write the calendar date a meeting id names, if it names one of the caller's areas."""
    parsed = domain.parse_meeting_id(wanted)
    if parsed is None:
        return False
    area_id, day = parsed
    visible: frozenset[str] | None = uow.session.info.get("areas")
    if area_id not in uow.runtime.areas.by_id or (visible is not None and area_id not in visible):
        return False
    ensure_meetings(uow, area_id, day, day)
    return True


def find_allocation(uow: UnitOfWork, case_id: str, *, lock: bool = False) -> Allocation:
    query = select(Allocation).where(Allocation.case_id == case_id).execution_options(
        populate_existing=True)
    if lock:
        query = query.with_for_update()
    found = uow.session.scalar(query)
    if found is None:
        raise NotFound("No allocation for that case.")
    return found
