"""The actions part of the SafeLives quarterly return: per MARAC date of an area's quarter, the
SMART actions agreed for its cases, completed and outstanding (counts only, never an action)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any, Final

from sqlalchemy import and_, func, select

from marac_platform import clock
from marac_platform.quarters import Quarter, suppressed
from marac_platform.runtime import UnitOfWork
from services.actions import domain
from services.actions.domain import ActionStatus
from services.actions.models import Action, CaseRecord, ListedCase

# `outstanding` counts every open action, `overdue` those of them past their date.
COUNTS: Final = ("actions", "completed", "completed_on_time", "outstanding", "overdue",
                 "not_possible", "not_done", "cancelled")


def _row(marac_date: date | None, kinds: Counter[str]) -> dict[str, Any]:
    completed = kinds["completed_on_time"] + kinds["completed_late"]
    outstanding = kinds["outstanding"] + kinds["overdue"]
    return {"marac_date": marac_date, "actions": sum(kinds.values()), "completed": completed,
            "completed_on_time": kinds["completed_on_time"], "outstanding": outstanding,
            "overdue": kinds["overdue"], "not_possible": kinds["not_possible"],
            "not_done": kinds["not_done"], "cancelled": kinds["cancelled"]}


def quarterly_actions(uow: UnitOfWork, area_id: str, quarter: Quarter,
                      *, summary: bool = False) -> dict[str, Any]:
    """Actions per MARAC date in the quarter: the date of the case list the action was agreed
    on (or, for one recorded with no list, the case's date), as they stand today."""
    today = clock.uk_today()
    heard_on = func.coalesce(ListedCase.marac_date, CaseRecord.marac_date)
    query = (
        select(heard_on, Action.status, Action.due_by, Action.done_on)
        .select_from(Action)
        .outerjoin(ListedCase, and_(ListedCase.case_id == Action.case_id,
                                    ListedCase.meeting_id == Action.meeting_id))
        .outerjoin(CaseRecord, CaseRecord.case_id == Action.case_id)
        .where(Action.area_id == area_id, Action.erased_at.is_(None),
               heard_on >= quarter.first_day, heard_on <= quarter.last_day))
    per_date: dict[date, Counter[str]] = {}
    for marac_date, status, due_by, done_on in uow.session.execute(query):
        kind = domain.outcome_kind(ActionStatus(status), due_by, done_on, today)
        per_date.setdefault(marac_date, Counter())[kind] += 1
    total: Counter[str] = Counter()
    for kinds in per_date.values():
        total.update(kinds)
    rows = [_row(day, per_date[day]) for day in sorted(per_date)]
    whole = _row(None, total)
    if summary:
        rows = [_hidden(r) for r in rows]
        whole = _hidden(whole)
    return {"area_id": area_id, "quarter": str(quarter), "first_day": quarter.first_day,
              "last_day": quarter.last_day, "on": today, "meeting_dates": rows,
            "total": whole, "suppressed": summary}


def _hidden(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the summary shows it: counts under 5 read "fewer than 5"."""
    return {k: suppressed(v) if k in COUNTS else v for k, v in row.items()}
