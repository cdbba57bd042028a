"""The quarterly return page's layout of the services' counts: "fewer than 5" under 5, the
quarter chosen at the year's edges, the rate against the recommended level, rows by date."""

from __future__ import annotations

from datetime import date

import pytest

from marac_platform.quarters import Quarter
from services.console import returns


@pytest.mark.parametrize(("count", "shown"), [
    (0, "fewer than 5"), (1, "fewer than 5"), (4, "fewer than 5"), (5, "5"), (12, "12"),
    (12_345, "12,345"), ("fewer than 5", "fewer than 5"), (None, returns.NONE)])
def test_a_count_under_5_reads_fewer_than_5(count: object, shown: str) -> None:
    assert returns.shown(count) == shown


def test_a_negative_count_or_a_flag_is_not_a_count() -> None:
    with pytest.raises(ValueError):
        returns.shown(-1)
    with pytest.raises(TypeError):
        returns.shown(True)


def test_the_quarter_asked_for_or_the_current_one_with_the_reason() -> None:
    new_year = date(2027, 1, 1)
    assert returns.chosen_quarter(None, new_year) == (Quarter(2027, 1), None)
    assert returns.chosen_quarter("2026-Q4", new_year) == (Quarter(2026, 4), None)
    quarter, error = returns.chosen_quarter("2026-Q5", new_year)
    assert quarter == Quarter(2027, 1) and error is not None and "2026-Q3" in error
    quarter, error = returns.chosen_quarter("2027-Q2", date(2027, 3, 31))
    assert quarter == Quarter(2027, 1) and error == "Choose a quarter that has begun"
    assert returns.chosen_quarter("2027-Q2", date(2027, 4, 1)) == (Quarter(2027, 2), None)


def test_the_quarters_offered_run_back_across_the_year() -> None:
    offered = returns.quarters_offered(date(2027, 2, 14), count=3)
    assert [str(q) for q in offered] == ["2027-Q1", "2026-Q4", "2026-Q3"]
    assert returns.quarter_label(Quarter(2026, 3)) == "July to September 2026"
    assert returns.quarter_label(Quarter(2026, 4)) == "October to December 2026"


def test_the_rate_reads_against_the_recommended_level() -> None:
    assert returns.rate_text(35.3, 40) == "35.3 a year, below the recommended 40"
    assert returns.rate_text(40.0, 40) == "40 a year, at the recommended 40"
    assert returns.rate_text(47.5, 40) == "47.5 a year, above the recommended 40"
    assert returns.rate_text(None, 40).startswith("Not worked out")


def test_rows_by_date_put_each_services_counts_side_by_side() -> None:
    cases = {"meeting_dates": [
        {"marac_date": "2026-12-15", "cases": 7, "repeats": 2, "median_days_to_hearing": 13.0},
        {"marac_date": "2026-12-01", "cases": "fewer than 5", "median_days_to_hearing": 1.0}],
        "total": {"marac_date": None, "cases": 9, "median_days_to_hearing": 12.5}}
    actions = {"meeting_dates": [{"marac_date": "2026-12-08", "actions": 6, "completed": 1}],
               "total": {"marac_date": None, "actions": 6, "completed": 1}}
    rows = returns.by_date(cases, actions)
    assert [r["marac_date"] for r in rows] == ["2026-12-01", "2026-12-08", "2026-12-15", None]
    first, second, third, total = rows
    assert (first["cases"], first["median_days_to_hearing"]) == ("fewer than 5", "1 day")
    assert first["actions_actions"] == returns.NONE  # no action agreed for that date
    assert (second["cases"], second["actions_actions"], second["actions_completed"]) == (
        returns.NONE, "6", "fewer than 5")
    assert (third["cases"], third["repeats"], third["median_days_to_hearing"]) == (
        "7", "fewer than 5", "13 days")
    assert (total["cases"], total["actions_actions"]) == ("9", "6")
    assert returns.by_date(cases, None)[-1]["actions_completed"] == returns.NONE
