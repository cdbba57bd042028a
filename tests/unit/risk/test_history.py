"""Which of a victim's known referrals count as previous ones for the repeat criterion."""

from __future__ import annotations

from datetime import date

from services.risk.domain import HistorySource, KnownReferral, earlier_referrals

DAY = date(2026, 5, 10)


def test_the_platforms_own_referrals_count_from_the_day_before() -> None:
    known = [KnownReferral(HistorySource.MARAC, "northshire", DAY),
             KnownReferral(HistorySource.MARAC, "northshire", date(2026, 5, 9))]
    assert earlier_referrals(DAY, known) == [("northshire", date(2026, 5, 9))]


def test_declared_and_transferred_referrals_count_as_given() -> None:
    known = [KnownReferral(HistorySource.DECLARED, "southshire", DAY),
             KnownReferral(HistorySource.TRANSFER, "westshire", date(2025, 6, 1))]
    assert earlier_referrals(DAY, known) == [("southshire", DAY), ("westshire", date(2025, 6, 1))]


def test_source_values_are_the_stored_ones() -> None:
    assert [s.value for s in HistorySource] == ["marac", "declared", "transfer"]
