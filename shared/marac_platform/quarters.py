"""The arithmetic of the SafeLives quarterly return: calendar quarters in UK dates, rates per
10,000 adult women, rounding, medians, and suppression of small counts.

Pure Python (no I/O). Two services count for the return (referral: cases, victims, timeliness;
actions: actions completed and outstanding); both place figures in quarters with these rules.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from marac_platform.clock import UK

RATE_BASE: Final = 10_000
# SafeLives' recommended MARAC volume: 40 cases a year per 10,000 adult women (SafeLives,
# "MARAC national dataset" guidance); an area may set its own level in its `reporting:` section.
RECOMMENDED_PER_10K: Final = 40.0
# The national level: 47 cases per 10,000 adult females in the 12 months 1 October 2023 to
# 30 September 2024 (SafeLives, Marac national dataset, "Latest UK Marac data",
# safelives.org.uk/research-policy/practitioner-datasets/marac-data). SafeLives republishes it
# every quarter: a deployment sets the current figure as `reporting.national_per_10k`.
NATIONAL_PER_10K: Final = 47.0
# Counts below this are shown as SUPPRESSED on the summary page (small-number disclosure control).
SUPPRESS_BELOW: Final = 5
SUPPRESSED: Final = "fewer than 5"

_QUARTER = re.compile(r"([0-9]{4})-Q([1-4])")


class BadQuarter(ValueError):
    """A quarter not written as YYYY-Qn (n 1 to 4)."""


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter: Q1 January to March, Q2 April to June, Q3 July to September, Q4
    October to December, in UK dates (every MARAC is in England or Wales)."""

    year: int
    number: int

    def __post_init__(self) -> None:
        if not 1 <= self.number <= 4 or not 1 <= self.year <= 9999:
            raise BadQuarter("a quarter is YYYY-Qn with n from 1 to 4")

    @classmethod
    def parse(cls, text: str) -> Quarter:
        found = _QUARTER.fullmatch(text)
        # Year 9999 is refused: its last quarter would end in year 10000.
        if found is None or found[1] in ("0000", "9999"):
            raise BadQuarter("a quarter is YYYY-Qn with n from 1 to 4")
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def of_date(cls, day: date) -> Quarter:
        """The quarter a UK date falls in."""
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def of_instant(cls, instant: datetime) -> Quarter:
        """The quarter an instant falls in, by its date in the UK (31 March 23:30 BST is Q1
        though it is 22:30 UTC; 1 April 00:30 BST is Q2 though UTC still says 31 March)."""
        if instant.tzinfo is None:
            raise ValueError("an instant must carry a time zone")
        return cls.of_date(instant.astimezone(UK).date())

    def __str__(self) -> str:
        return f"{self.year:04d}-Q{self.number}"

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.next().first_day.toordinal() - 1)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    @property
    def start(self) -> datetime:
        """The first instant of the quarter: UK midnight of its first day, in UTC."""
        return uk_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """The first instant after the quarter (exclusive), in UTC."""
        return uk_midnight(self.next().first_day)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def contains_instant(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def uk_midnight(day: date) -> datetime:
    """00:00 UK time of `day` as a UTC instant (GMT in winter, BST in summer)."""
    return datetime.combine(day, time(0), tzinfo=UK).astimezone(UTC)


def round_half_up(value: float, places: int = 1) -> float:
    """Round as people do (2.25 -> 2.3), not as binary floats and Python's round() do."""
    step = Decimal(1).scaleb(-places)
    return float(Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP))


def per_10k(count: int, population: int | None, *, periods_per_year: int = 4) -> float | None:
    """Cases per 10,000 adult women, as a yearly rate from one quarter's count (x4), so it reads
    against SafeLives' yearly recommendation; None when the population is not configured."""
    if population is None or population <= 0:
        return None
    if count < 0:
        raise ValueError("a count cannot be negative")
    return round_half_up(count * periods_per_year * RATE_BASE / population, 1)


def median_days(values: Iterable[int]) -> float | None:
    """The median of a list of day counts, to one place; None for no values."""
    days = list(values)
    if not days:
        return None
    return round_half_up(float(statistics.median(days)), 1)


def suppressed(count: int) -> int | str:
    """A count as the summary shows it: `SUPPRESSED` under 5 (0 too: a zero beside suppressed
    counts would let a reader work them out), the count itself from 5."""
    if count < 0:
        raise ValueError("a count cannot be negative")
    return SUPPRESSED if count < SUPPRESS_BELOW else count
