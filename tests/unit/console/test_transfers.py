"""The transfer page: when accepting needs an agency of this area to take the open actions."""

from __future__ import annotations

from services.console.session import Person
from services.console.transfers import needs_owner


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
