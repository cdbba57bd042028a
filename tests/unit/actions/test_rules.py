"""The actions service's rules: the two move tables, the closing date, saving returns, the
reminder steps, the report's columns, who may move an action, the area settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_platform.areas import AreaConfigError, parse_areas, section
from marac_platform.errors import Conflict, IllegalMove
from services.actions import domain
from services.actions.domain import ActionStatus as A
from services.actions.domain import ReturnStatus as R

CONFIG = domain.ActionsConfig(due_soon_days=3, escalation_days=(7, 14))


def test_research_closes_the_day_before_a_meeting_and_on_a_coordination_date() -> None:
    meeting, coordination = CONFIG.closing["meeting"], CONFIG.closing["coordination"]
    assert domain.closing_of(meeting, date(2026, 12, 8)) == (
        date(2026, 12, 7), datetime(2026, 12, 7, 17, 0, tzinfo=UTC))
    # British Summer Time: 09:00 in London is 08:00 UTC.
    assert domain.closing_of(coordination, date(2027, 6, 16)) == (
        date(2027, 6, 16), datetime(2027, 6, 16, 8, 0, tzinfo=UTC))


def test_a_sent_return_is_amended_until_the_closing_instant_only() -> None:
    deadline = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    before, after = deadline - timedelta(seconds=1), deadline + timedelta(seconds=1)
    assert domain.save_return(R.SUBMITTED, R.SUBMITTED, before, deadline) is R.SUBMITTED
    with pytest.raises(Conflict):
        domain.save_return(R.SUBMITTED, R.SUBMITTED, after, deadline)
    # Unsent: still taken after the closing instant (the caller marks it late).
    assert domain.save_return(R.OWED, R.SUBMITTED, after, deadline) is R.SUBMITTED
    assert domain.save_return(R.DRAFT, R.DRAFT, after, deadline) is R.DRAFT
    with pytest.raises(IllegalMove):
        domain.save_return(R.SUBMITTED, R.DRAFT, before, deadline)  # once sent, sent
    with pytest.raises(IllegalMove):
        domain.save_return(R.WITHDRAWN, R.SUBMITTED, before, deadline)


def test_what_a_return_must_and_must_not_say() -> None:
    assert domain.return_problems({"involvement": "nothing_held"}, sending=True) == []
    assert domain.return_problems({"involvement": "nothing_held", "victim": {"known": "x"}},
                                  sending=True) == [("victim", "Nothing held: leave it out.")]
    # Blank answers say nothing.
    blank = {"involvement": "held", "victim": {"known": "  ", "risks": ""}, "children": []}
    assert [f for f, _ in domain.return_problems(blank, sending=True)] == ["involvement"]
    assert domain.return_problems(blank, sending=False) == []  # a draft may be empty


def test_the_action_table_and_its_illegal_moves() -> None:
    assert domain.ACTION_MOVES.move(A.PROPOSED, A.AGREED) is A.AGREED
    for done in (A.COMPLETED, A.NOT_POSSIBLE, A.NOT_DONE, A.CANCELLED):
        assert domain.ACTION_MOVES.moves.get(done, frozenset()) == frozenset()  # final
    with pytest.raises(IllegalMove) as refused:
        domain.ACTION_MOVES.move(A.PROPOSED, A.COMPLETED)
    assert (refused.value.current, refused.value.asked) == (A.PROPOSED, A.COMPLETED)
    assert domain.ACTION_MOVES.sources(A.COMPLETED) == {A.AGREED, A.IN_PROGRESS}


def test_who_may_move_an_action() -> None:
    owner = domain.Actor("u1", "police", manages=False)
    asker = domain.Actor("u2", "idva", manages=False)
    other = domain.Actor("u3", "health", manages=False)
    coordinator = domain.Actor("u4", "health", manages=True)
    domain.check_move(owner, "police", "idva", A.COMPLETED)
    domain.check_move(asker, "police", "idva", A.CANCELLED)
    domain.check_move(coordinator, "police", "idva", A.NOT_DONE)
    with pytest.raises(domain.NotYours):
        domain.check_move(asker, "police", "idva", A.COMPLETED)
    with pytest.raises(domain.NotYours):
        domain.check_move(other, "police", "idva", A.CANCELLED)


def test_completing_needs_what_was_done_and_not_doing_needs_why() -> None:
    today = date(2026, 12, 2)
    assert domain.move_problems(A.COMPLETED, None, None, today) == [("note", "Say what was done.")]
    assert domain.move_problems(A.NOT_DONE, " ", None, today)[0][0] == "note"
    assert domain.move_problems(A.COMPLETED, "Done.", today + timedelta(days=1), today)[0][0] == "done_on"
    assert domain.move_problems(A.AGREED, None, today, today)[0][0] == "done_on"
    assert domain.move_problems(A.CANCELLED, None, None, today) == []


def test_reminder_steps_by_day() -> None:
    due = date(2026, 12, 10)

    def on(days: int) -> list[str]:
        return domain.reminder_steps(CONFIG, due, due + timedelta(days=days))

    assert on(-4) == [] and on(-3) == ["due_soon"] and on(0) == ["due_soon"]
    assert on(1) == ["overdue"] and on(6) == ["overdue"]
    assert on(7) == ["overdue", "escalation_7"]
    assert on(30) == ["overdue", "escalation_7", "escalation_14"]


@given(st.integers(-400, 400), st.integers(0, 400))
def test_steps_only_grow_as_days_pass(offset: int, later: int) -> None:
    due = date(2027, 1, 1)
    first = set(domain.reminder_steps(CONFIG, due, due + timedelta(days=offset)))
    then = set(domain.reminder_steps(CONFIG, due, due + timedelta(days=offset + later)))
    # Once over, every step reached stays reached; due_soon is the only one left behind.
    assert first - {"due_soon"} <= then


def test_the_report_column_of_each_action() -> None:
    today, due = date(2026, 12, 2), date(2026, 12, 1)
    assert domain.outcome_kind(A.COMPLETED, due, due, today) == "completed_on_time"
    assert domain.outcome_kind(A.COMPLETED, due, today, today) == "completed_late"
    assert domain.outcome_kind(A.AGREED, due, None, today) == "overdue"
    assert domain.outcome_kind(A.PROPOSED, due, None, today) == "outstanding"
    assert domain.outcome_kind(A.IN_PROGRESS, today, None, today) == "outstanding"
    assert domain.outcome_kind(A.NOT_POSSIBLE, due, None, today) == "not_possible"


AREA = """
areas:
  - id: testshire
    name: Testshire MARAC
    confidentiality_statement: Confidential.
    agencies: [{id: police, name: Police, isa_signed: true}]
    actions: %s
"""


def load(actions: str) -> domain.ActionsConfig:
    import yaml

    areas = parse_areas(yaml.safe_load(AREA % actions), Path("areas.yaml"))
    config: domain.ActionsConfig = section(areas.by_id["testshire"], "actions",
                                           domain.ActionsConfigSchema(), areas.source)
    return config


def test_the_areas_actions_section_defaults_and_is_checked_at_start_up() -> None:
    defaults = load("{}")
    assert defaults.due_soon_days == 3 and defaults.escalation_days == (7, 14)
    assert {item.code for item in defaults.catalogue} >= {"alarm", "clares_law", "idva_support"}
    assert defaults.closing["meeting"] == domain.ClosingRule(1, time(17, 0))
    custom = load('{research_closing: {meeting: {days_before: 2, time: "12:00"}}, '
                  'catalogue: [{code: alarm, title: Alarm, for_whom: [victim]}]}')
    assert custom.closing["meeting"] == domain.ClosingRule(2, time(12, 0))
    assert custom.closing["coordination"] == defaults.closing["coordination"]
    assert [item.code for item in custom.catalogue] == ["alarm"]
    for wrong, key in [("{escalation_days: [14, 7]}", "escalation_days"),
                       ('{research_closing: {meeting: {days_before: 1, time: "25:00"}}}',
                        "research_closing.meeting.time"),
                       ("{catalogue: [{code: A b, title: x}]}", "catalogue.0.code"),
                       ("{due_soon_days: -1}", "due_soon_days")]:
        with pytest.raises(AreaConfigError, match=rf"areas\[testshire\]\.actions\.{key}"):
            load(wrong)
