"""The coordinator's home, from scheduling's at-risk list: which cases breach the time-to-
hearing target (6 weeks from the first submission, 4 for an urgent case, by the area's
calendar) and which only wait for a date or risk missing it. Pure: scheduling decides the
target; this sorts what it says."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from marac_platform.clock import UK


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UK).date()
    if isinstance(value, date):
        return value
    text = str(value)
    if len(text) == 10:
        return date.fromisoformat(text)
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UK).date()


def target_weeks(item: Mapping[str, Any]) -> int | None:
    """The target the case is held to, in whole weeks from its first submission (UK date)."""
    received, target = _day(item.get("received_at")), _day(item.get("target_date"))
    if received is None or target is None:
        return None
    return round((target - received).days / 7)


def is_breach(item: Mapping[str, Any], today: date) -> bool:
    """Past the target: its date is after the target, or it waits with the target gone by."""
    if item.get("days_over") is not None and int(item["days_over"]) > 0:
        return True
    target = _day(item.get("target_date"))
    return item.get("marac_date") is None and target is not None and target < today


def days_past(item: Mapping[str, Any], today: date) -> int | None:
    """Days beyond the target: of its date if it has one, else of today."""
    if item.get("days_over") is not None:
        return int(item["days_over"])
    target = _day(item.get("target_date"))
    return (today - target).days if target is not None and target < today else None


def split(at_risk: Iterable[Mapping[str, Any]], today: date,
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(breaches, the rest): each item with its target in weeks and its days past it."""
    breaches: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for item in at_risk:
        shown = {**item, "target_weeks": target_weeks(item), "days_past": days_past(item, today)}
        (breaches if is_breach(item, today) else rest).append(shown)
    return breaches, rest
