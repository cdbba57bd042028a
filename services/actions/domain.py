"""Rules of the case record: which events change it and how. Plain Python."""

from __future__ import annotations

from datetime import date

OPEN = "open"
HEARD = "heard"


def record_status(current: str | None, heard_outcome: str | None = None) -> str:
    """A case record opens when scheduled and is marked heard once its MARAC hears it."""
    if heard_outcome == "heard":
        return HEARD
    return current or OPEN


def days_until(marac_date: date, today: date) -> int:
    return (marac_date - today).days
