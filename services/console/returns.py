"""What the quarterly return page shows, worked out from the two services' summaries: the
quarter chosen (or the current one), the quarters offered, each count as the summary shows it
("fewer than 5" under 5), the yearly rate against the recommended level, and the referral
service's rows per MARAC date side by side with the actions service's.

Pure Python (no Flask, no I/O): the services count; this only lays their counts out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

from marac_platform.quarters import SUPPRESS_BELOW, SUPPRESSED, BadQuarter, Quarter

# The referral service's columns per MARAC date, with the page's headings: the cases, then
# who they were about (SafeLives' monitoring categories).
REFERRAL_COLUMNS: Final = (
    ("cases", "Cases heard"),
    ("repeats", "Repeats"),
    ("police_referrals", "From police"),
    ("partner_referrals", "From partner agencies"),
    ("heard_within_target", "Heard within the target"),
)
MONITORING_COLUMNS: Final = (
    ("children", "Children in the households"),
    ("minoritised", "Black, Asian or minoritised victims"),
    ("lgbt_plus", "LGBT+ victims"),
    ("disabled", "Disabled victims"),
    ("male", "Male victims"),
    ("aged_16_17", "Victims aged 16-17"),
    ("perpetrator_under_18", "Perpetrators under 18"),
)
CASE_COLUMNS: Final = REFERRAL_COLUMNS + MONITORING_COLUMNS
ACTION_COLUMNS: Final = (
    ("actions", "Actions"),
    ("completed", "Completed"),
    ("outstanding", "Outstanding"),
    ("overdue", "Overdue"),
)
QUARTERS_OFFERED: Final = 8
NONE: Final = "\u2013"  # an en dash: no value


def chosen_quarter(text: str | None, today: date) -> tuple[Quarter, str | None]:
    """The quarter asked for (YYYY-Qn), or the current one with the reason when the text is
    not a quarter; a quarter after the current one is refused too (nothing to count yet)."""
    current = Quarter.of_date(today)
    if not text:
        return current, None
    try:
        quarter = Quarter.parse(text.strip())
    except BadQuarter:
        return current, "Enter a quarter like 2026-Q3 (Q1 is January to March)"
    if quarter > current:
        return current, "Choose a quarter that has begun"
    return quarter, None


def quarters_offered(today: date, count: int = QUARTERS_OFFERED) -> list[Quarter]:
    """The current quarter and those before it, newest first."""
    found = [Quarter.of_date(today)]
    while len(found) < count:
        found.append(found[-1].previous())
    return found


def quarter_label(quarter: Quarter) -> str:
    """2026-Q3 -> "July to September 2026"."""
    first = quarter.first_day.strftime("%B")
    last = quarter.last_day.strftime("%B")
    return f"{first} to {last} {quarter.year}"


def shown(value: Any) -> str:
    """A count as the summary shows it: under 5 (0 too) "fewer than 5", else the number;
    what a service already suppressed stays so; no value is a dash."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        raise TypeError("a count, not a flag")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a count cannot be negative")
        return SUPPRESSED if value < SUPPRESS_BELOW else f"{value:,}"
    return str(value)


def rate_text(rate: float | None, recommended: float) -> str:
    """The yearly rate per 10,000 adult women against the recommended level, in words."""
    if rate is None:
        return ("Not worked out: the area's adult female population is not configured "
                "(its reporting section in the areas file).")
    if rate < recommended:
        where = "below"
    elif rate > recommended:
        where = "above"
    else:
        where = "at"
    return f"{rate:g} a year, {where} the recommended {recommended:g}"


def days_text(days: float | None) -> str:
    if days is None:
        return NONE
    return f"{days:g} day" if days == 1 else f"{days:g} days"


def by_date(cases: Mapping[str, Any], actions: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One row per MARAC date of the quarter with the referral service's counts and the
    actions service's (a date only one of them knows has the other's counts as dashes),
    oldest first; the quarter's total last, with "marac_date" None."""
    rows: dict[str, dict[str, Any]] = {}
    for row in cases.get("meeting_dates") or []:
        rows.setdefault(str(row["marac_date"]), {})["cases"] = row
    for row in (actions or {}).get("meeting_dates") or []:
        rows.setdefault(str(row["marac_date"]), {})["actions"] = row
    merged = [_line(day, parts.get("cases"), parts.get("actions")) for day, parts in sorted(rows.items())]
    merged.append(_line(None, cases.get("total"), (actions or {}).get("total")))
    return merged


def _line(day: str | None, cases: Mapping[str, Any] | None,
          actions: Mapping[str, Any] | None) -> dict[str, Any]:
    line: dict[str, Any] = {"marac_date": day}
    for key, _ in CASE_COLUMNS:
        line[key] = shown(cases.get(key)) if cases else NONE
    line["median_days_to_hearing"] = days_text(cases.get("median_days_to_hearing")
                                               if cases else None)
    for key, _ in ACTION_COLUMNS:
        line[f"actions_{key}"] = shown(actions.get(key)) if actions else NONE
    return line


def headings(columns: Sequence[tuple[str, str]]) -> list[str]:
    return [title for _, title in columns]
