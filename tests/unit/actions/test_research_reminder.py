"""The research reminder's window: from the area's hours before a return's closing instant up
to that instant, never after it, never with 0 hours; and its setting in the areas file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from marac_platform.areas import AreaConfigError, parse_areas, section
from services.actions import domain

DEADLINE = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_the_window_opens_exactly_its_hours_before_the_closing_instant() -> None:
    opens = DEADLINE - timedelta(hours=24)
    assert not domain.research_reminder_due(DEADLINE, opens - SECOND, 24)
    assert domain.research_reminder_due(DEADLINE, opens, 24)
    assert domain.research_reminder_due(DEADLINE, DEADLINE - SECOND, 24)


def test_no_reminder_at_or_after_the_closing_instant() -> None:
    assert not domain.research_reminder_due(DEADLINE, DEADLINE, 24)  # too late to act on
    assert not domain.research_reminder_due(DEADLINE, DEADLINE + SECOND, 24)  # late: another matter
    assert not domain.research_reminder_due(DEADLINE, DEADLINE + timedelta(days=3), 336)


def test_zero_hours_turns_reminders_off() -> None:
    for now in (DEADLINE - timedelta(hours=1), DEADLINE - SECOND, DEADLINE - timedelta(days=1)):
        assert not domain.research_reminder_due(DEADLINE, now, 0)


def test_a_list_published_inside_the_window_is_reminded_at_once() -> None:
    # The case list went out 3 hours before closing: the window (24 h) is already open.
    assert domain.research_reminder_due(DEADLINE, DEADLINE - timedelta(hours=3), 24)


@given(st.integers(1, 336), st.integers(-400 * 3600, 400 * 3600))
def test_due_exactly_inside_the_window(hours: int, offset_s: int) -> None:
    now = DEADLINE + timedelta(seconds=offset_s)
    inside = -hours * 3600 <= offset_s < 0
    assert domain.research_reminder_due(DEADLINE, now, hours) is inside


AREA = """
areas:
  - id: testshire
    name: Testshire MARAC
    confidentiality_statement: Confidential.
    agencies: [{id: police, name: Police, isa_signed: true}]
    actions: %s
"""


def load(actions: str) -> domain.ActionsConfig:
    areas = parse_areas(yaml.safe_load(AREA % actions), Path("areas.yaml"))
    config: domain.ActionsConfig = section(areas.by_id["testshire"], "actions",
                                           domain.ActionsConfigSchema(), areas.source)
    return config


def test_the_setting_defaults_to_24_hours_and_is_checked_at_start_up() -> None:
    assert load("{}").research_reminder_hours == 24
    assert load("{research_reminder_hours: 0}").research_reminder_hours == 0
    assert load("{research_reminder_hours: 336}").research_reminder_hours == 336
    for wrong in ("-1", "337", "soon"):
        with pytest.raises(AreaConfigError,
                           match=r"areas\[testshire\]\.actions\.research_reminder_hours"):
            load(f"{{research_reminder_hours: {wrong}}}")
