"""The transfer page: when accepting needs an agency of this area to take the open actions."""

from __future__ import annotations

from services.console.session import Person
from services.console.transfers import destinations, needs_owner, transfer_request


def test_an_agency_is_asked_for_only_when_actions_are_handed_over() -> None:
    assert needs_owner({"default": "hand_over", "actions": {}})
    assert needs_owner(None)  # the service's default plan hands them over
    assert not needs_owner({"default": "close", "actions": {"act-1": "close"}})
    assert needs_owner({"default": "close", "actions": {"act-1": "hand_over"}})


def test_what_the_console_offers_follows_the_roles_permissions() -> None:
    def who(role: str) -> Person:
        return Person("s", role, ("northshire",), "marac")

    assert who("coordinator").reads_reports and who("auditor").reads_reports
    assert not who("agency_rep").reads_reports and not who("referrer").reads_reports
    assert not who("not-a-role").reads_reports


def test_a_transfer_request_is_read_from_the_form_with_each_missing_answer_named() -> None:
    body, errors = transfer_request({})
    assert set(errors) == {"transfer-to_area", "transfer-reason", "transfer-heard_in_origin",
                           "transfer-named_on_case_list"}
    body, errors = transfer_request({
        "to_area": "southshire", "reason": "fled_to_refuge", "heard_in_origin": "no",
        "named_on_case_list": "yes", "open_actions": "close", "address": "  ",
        "safeguarding_in_place": " Refuge staff aware ", "note": ""})
    assert errors == {}
    assert body == {"to_area": "southshire", "reason": "fled_to_refuge",
                    "heard_in_origin": False, "named_on_case_list": True,
                    "open_actions": {"default": "close", "actions": {}},
                    "safeguarding_in_place": "Refuge staff aware"}  # blanks are not sent


def test_a_transfer_request_refuses_unknown_choices_and_overlong_text() -> None:
    _, errors = transfer_request({
        "to_area": "southshire", "reason": "holiday", "heard_in_origin": "maybe",
        "named_on_case_list": "no", "open_actions": "forget", "note": "x" * 5_001,
        "address": "y" * 2_001})
    assert set(errors) == {"transfer-reason", "transfer-heard_in_origin",
                           "transfer-open_actions", "transfer-note", "transfer-address"}


def test_the_destinations_are_the_other_areas_served_here_then_partners_elsewhere() -> None:
    from pathlib import Path

    from flask import Flask

    from marac_platform.areas import load_areas

    app = Flask(__name__)
    app.extensions["marac_areas"] = load_areas(
        Path(__file__).resolve().parents[3] / "deploy" / "areas.yaml")
    with app.app_context():
        # southshire is served here and also northshire's partner: offered once.
        assert [id for id, _ in destinations("northshire")] == ["southshire"]
        assert "northshire" in [id for id, _ in destinations("southshire")]
