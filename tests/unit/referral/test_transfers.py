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


def test_the_handover_and_actions_part_are_checked() -> None:
    with pytest.raises(InvalidInput) as caught:
        transfers.check_package({"version": 1, "actions_part": "lost",
                                 "idva": {"name": "Jo", "phone": "0161"}})
    fields = {e["field"] for e in caught.value.errors}
    assert {"actions_part", "idva.agency", "idva.phone"} <= fields


# --- another deployment ------------------------------------------------------------------------
def test_a_refusal_is_final_and_an_outage_is_retried() -> None:
    from services.referral.partners import outcome

    assert [outcome(s) for s in (200, 202)] == ["delivered", "delivered"]
    assert [outcome(s) for s in (400, 401, 403, 404, 422)] == ["failed"] * 5
    assert [outcome(s) for s in (0, 408, 429, 500, 503)] == ["retry"] * 5


def test_retries_back_off_doubling_up_to_an_hour() -> None:
    from datetime import UTC, datetime, timedelta

    from services.referral.partners import next_try

    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert [next_try(n, now, 5.0) - now for n in (1, 2, 3)] == [
        timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20)]
    assert next_try(30, now, 5.0) - now == timedelta(hours=1)


def test_a_partner_reached_over_http_needs_its_keys_and_ours() -> None:
    from pathlib import Path

    from marac_platform.areas import AreaConfigError, parse_areas

    def areas(partner: dict[str, object]) -> object:
        return {"areas": [{"id": "northshire", "name": "N", "confidentiality_statement": "c",
                           "agencies": [{"id": "police", "name": "P", "isa_signed": True}],
                           "partners": [{"id": "westshire", "name": "W", "issuer": "w",
                                         **partner}]}]}

    with pytest.raises(AreaConfigError, match="base_url"):
        parse_areas(areas({"base_url": "https://w.example", "keys_file": "k.json"}), Path("a"))
    with pytest.raises(AreaConfigError, match="keys_file"):
        parse_areas(areas({"base_url": "https://w.example", "jwk": {"kty": "EC"}}), Path("a"))
    parsed = parse_areas(areas({"base_url": "https://w.example", "jwk": {"kty": "EC"},
                                "keys_file": "k.json"}), Path("a"))
    assert parsed.by_id["northshire"].partners[0].base_url == "https://w.example"
