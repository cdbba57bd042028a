"""Transfer rules: the move table, when B must name an owner agency, the repeat clock a
transfer carries, and the package's version and schema."""

from __future__ import annotations

from datetime import date

import pytest

from marac_platform.errors import IllegalMove, InvalidInput
from services.referral import domain, transfers

T = domain.TransferStatus


def test_a_transfer_is_answered_once_then_completed() -> None:
    assert domain.TRANSFER_MOVES.move(T.REQUESTED, T.ACCEPTED) is T.ACCEPTED
    assert domain.TRANSFER_MOVES.move(T.ACCEPTED, T.COMPLETED) is T.COMPLETED
    for done in (T.DECLINED, T.COMPLETED, T.FAILED):
        for status in T:
            assert not domain.TRANSFER_MOVES.allows(done, status)
    with pytest.raises(IllegalMove):
        domain.TRANSFER_MOVES.move(T.DECLINED, T.ACCEPTED)


def test_owner_agency_needed_only_when_something_is_handed_over() -> None:
    assert domain.needs_owner_agency(domain.HAND_OVER, {})
    assert domain.needs_owner_agency(domain.CLOSE, {"act-1": domain.HAND_OVER})
    assert not domain.needs_owner_agency(domain.CLOSE, {"act-1": domain.CLOSE})


def test_repeat_clock_counts_marac_cases_declared_and_inherited_once() -> None:
    clock = domain.repeat_clock(
        "northshire",
        [(date(2026, 1, 5), True), (date(2026, 3, 1), False), (None, True)],
        [("eastshire", date(2025, 6, 1)), ("northshire", date(2026, 1, 5))],
        [("westshire", date(2024, 2, 2))])
    assert clock == [("westshire", date(2024, 2, 2)), ("eastshire", date(2025, 6, 1)),
                     ("northshire", date(2026, 1, 5))]


def test_package_of_another_version_is_refused_naming_version() -> None:
    with pytest.raises(InvalidInput) as caught:
        transfers.check_package({"version": 2, "form": {"victim": {"name": "x"}}})
    assert caught.value.errors == [{"field": "version", "reason": (
        "Unknown package version; this platform reads version 1.")}]


def test_package_fields_are_checked() -> None:
    with pytest.raises(InvalidInput) as caught:
        transfers.check_package({"version": 1})
    fields = {e["field"] for e in caught.value.errors}
    assert {"transfer_id", "from_area", "to_area", "referral_form", "reason"} <= fields
