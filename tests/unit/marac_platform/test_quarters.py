"""The quarterly return's arithmetic: quarters in UK dates at their edges (midnight, both clock
changes, leap years), the per-10,000 rate, rounding, medians, small-count suppression."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_platform.quarters import (
    SUPPRESSED,
    BadQuarter,
    Quarter,
    median_days,
    per_10k,
    round_half_up,
    suppressed,
    uk_midnight,
)

UK = ZoneInfo("Europe/London")


def uk(*args: int) -> datetime:
    return datetime(*args, tzinfo=UK)


def test_31_march_2359_uk_is_q1_and_1_april_0000_uk_is_q2() -> None:
    # 1 April is in BST (from the last Sunday of March): UK midnight is 23:00 UTC on 31 March.
    assert Quarter.of_instant(uk(2026, 3, 31, 23, 59, 59)) == Quarter(2026, 1)
    assert Quarter.of_instant(uk(2026, 4, 1, 0, 0)) == Quarter(2026, 2)
    assert Quarter.of_instant(datetime(2026, 3, 31, 23, 0, tzinfo=UTC)) == Quarter(2026, 2)
    assert Quarter.of_instant(datetime(2026, 3, 31, 22, 59, 59, tzinfo=UTC)) == Quarter(2026, 1)
    q2 = Quarter(2026, 2)
    assert q2.start == datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
    assert not q2.contains_instant(uk(2026, 3, 31, 23, 59, 59))
    assert q2.contains_instant(uk(2026, 4, 1, 0, 0))


def test_new_year_and_1_october_edges_in_gmt_and_bst() -> None:
    # 1 January is GMT: UK midnight is UTC midnight.
    assert Quarter(2027, 1).start == datetime(2027, 1, 1, tzinfo=UTC)
    assert Quarter.of_instant(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)) == Quarter(2026, 4)
    # 1 October is still BST (until the last Sunday of October).
    assert Quarter(2026, 4).start == datetime(2026, 9, 30, 23, 0, tzinfo=UTC)
    assert Quarter(2026, 3).end == Quarter(2026, 4).start
    assert Quarter.of_instant(uk(2026, 9, 30, 23, 59)) == Quarter(2026, 3)


def test_a_quarter_holding_a_clock_change_has_all_its_days() -> None:
    # Q1 2026 holds the change to BST (29 March), Q4 the change back (25 October): the bounds
    # are UK midnights, so the quarter is an hour short or long in UTC and still whole days.
    q1, q4 = Quarter(2026, 1), Quarter(2026, 4)
    assert (q1.end - q1.start).total_seconds() == 90 * 86400 - 3600
    assert (q4.end - q4.start).total_seconds() == 92 * 86400 + 3600
    assert q1.contains(date(2026, 3, 29)) and q1.contains(date(2026, 3, 31))
    assert q4.contains(date(2026, 10, 25))
    assert Quarter.of_instant(uk(2026, 3, 29, 1, 30)) == q1  # the missing hour's neighbour
    repeated = datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=UK)  # the second 01:30 (GMT)
    assert Quarter.of_instant(repeated) == q4


def test_leap_years() -> None:
    assert Quarter(2028, 1).days == 91 and Quarter(2028, 1).last_day == date(2028, 3, 31)
    assert Quarter(2027, 1).days == 90
    assert Quarter(2100, 1).days == 90  # a century that is not a leap year
    assert Quarter(2000, 1).days == 91
    assert Quarter.of_date(date(2028, 2, 29)) == Quarter(2028, 1)
    assert sum(Quarter(2028, n).days for n in range(1, 5)) == 366


def test_bounds_and_neighbours() -> None:
    assert [str(Quarter(2026, n).first_day) for n in range(1, 5)] == [
        "2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01"]
    assert [str(Quarter(2026, n).last_day) for n in range(1, 5)] == [
        "2026-03-31", "2026-06-30", "2026-09-30", "2026-12-31"]
    assert Quarter(2026, 4).next() == Quarter(2027, 1)
    assert Quarter(2026, 1).previous() == Quarter(2025, 4)
    assert uk_midnight(date(2026, 7, 1)) == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-Q0", "2026-Q5", "2026Q1", "26-Q1", "2026-q1", "",
                                  "2026-Q1 ", "2026-Q1\n", "0000-Q1", "9999-Q4",
                                  "\uff12\uff10\uff12\uff16-Q1"])
def test_a_quarter_is_written_yyyy_qn(text: str) -> None:
    with pytest.raises(BadQuarter):
        Quarter.parse(text)


def test_parse_and_write_round_trip() -> None:
    assert Quarter.parse("2026-Q3") == Quarter(2026, 3)
    assert Quarter.parse("9998-Q4").end == datetime(9999, 1, 1, tzinfo=UTC)  # the last one
    assert str(Quarter(2026, 3)) == "2026-Q3"


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Quarter.of_instant(datetime(2026, 4, 1))


@given(st.dates(min_value=date(1901, 1, 1), max_value=date(9990, 12, 31)))
def test_every_date_is_in_exactly_its_quarter(day: date) -> None:
    quarter = Quarter.of_date(day)
    assert quarter.contains(day)
    assert not quarter.next().contains(day) and not quarter.previous().contains(day)
    assert quarter.contains_instant(uk_midnight(day))


def test_rate_per_10000_adult_women_is_yearly_from_the_quarter() -> None:
    # 30 cases in a quarter among 30,000 adult women: 120 a year, 40 per 10,000.
    assert per_10k(30, 30_000) == 40.0
    assert per_10k(0, 30_000) == 0.0
    assert per_10k(7, 123_457) == 2.3  # 2.268... a year
    assert per_10k(5, None) is None
    assert per_10k(5, 0) is None


def test_rounding_is_half_up() -> None:
    assert round_half_up(2.25) == 2.3
    assert round_half_up(2.35) == 2.4
    assert round_half_up(0.05) == 0.1
    assert round_half_up(2.5, 0) == 3.0


def test_median_days() -> None:
    assert median_days([]) is None
    assert median_days([10]) == 10.0
    assert median_days([10, 14, 30]) == 14.0
    assert median_days([10, 15]) == 12.5


@pytest.mark.parametrize(("count", "shown"), [(0, SUPPRESSED), (1, SUPPRESSED), (4, SUPPRESSED),
                                              (5, 5), (40, 40)])
def test_counts_under_5_read_fewer_than_5(count: int, shown: int | str) -> None:
    assert suppressed(count) == shown
    assert SUPPRESSED == "fewer than 5"
