"""Referral lifecycle moves, area screening steps and the 12-month repeat flag."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from marac_platform.errors import IllegalMove
from services.referral.domain import (
    ALLOWED_TRANSITIONS,
    CASE_MOVES,
    EDITABLE_STATES,
    OPEN_STATES,
    REFERRAL_MOVES,
    TERMINAL_STATES,
    URGENT_STATES,
    CaseStatus,
    InvalidTransition,
    ReferralState,
    ReferralStateConflict,
    ScreeningConfig,
    ScreeningConfigSchema,
    ScreeningDecision,
    ScreeningError,
    ScreeningOutcome,
    ScreeningProgress,
    StepDecision,
    add_months,
    can_transition,
    closes_case,
    ensure_state,
    is_repeat,
    record_step_decision,
    screening_progress,
    transition,
)

S = ReferralState

# Written out independently of the implementation's table, on purpose.
ALLOWED = {
    (S.DRAFT, S.SUBMITTED),
    (S.SUBMITTED, S.ASSESSED),
    (S.ASSESSED, S.IN_SCREENING),
    (S.ASSESSED, S.ACCEPTED),
    (S.ASSESSED, S.RETURNED),
    (S.IN_SCREENING, S.ACCEPTED),
    (S.IN_SCREENING, S.RETURNED),
    (S.RETURNED, S.SUBMITTED),
    (S.ACCEPTED, S.SCHEDULED),
    (S.SCHEDULED, S.HEARD),
    (S.SCHEDULED, S.SCHEDULED),
    (S.HEARD, S.CLOSED),
    (S.HEARD, S.SCHEDULED),
    (S.ASSESSED, S.SUBMITTED),  # separated from a case it joined by mistake
    (S.IN_SCREENING, S.SUBMITTED),
    (S.SUBMITTED, S.TRANSFERRED),
    (S.ASSESSED, S.TRANSFERRED),
    (S.IN_SCREENING, S.TRANSFERRED),
    (S.ACCEPTED, S.TRANSFERRED),
    (S.RETURNED, S.TRANSFERRED),
    (S.SCHEDULED, S.TRANSFERRED),
    (S.HEARD, S.TRANSFERRED),
}
ALL_PAIRS = list(itertools.product(ReferralState, repeat=2))


def test_state_values() -> None:
    assert [s.value for s in ReferralState] == [
        "draft",
        "submitted",
        "assessed",
        "in_screening",
        "accepted",
        "returned",
        "scheduled",
        "heard",
        "closed",
        "transferred",
    ]


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_move(current: ReferralState, target: ReferralState) -> None:
    assert can_transition(current, target)
    assert transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), [pair for pair in ALL_PAIRS if pair not in ALLOWED])
def test_forbidden_move(current: ReferralState, target: ReferralState) -> None:
    assert not can_transition(current, target)
    with pytest.raises(InvalidTransition) as caught:
        transition(current, target)
    assert caught.value.current is current
    assert caught.value.target is target
    assert str(caught.value) == f"cannot move a referral from {current} to {target}"


def test_table_covers_every_state() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(ReferralState)
    assert {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets} == ALLOWED


def test_terminal_states_go_nowhere() -> None:
    assert {S.CLOSED, S.TRANSFERRED} == TERMINAL_STATES
    for state in TERMINAL_STATES:
        assert ALLOWED_TRANSITIONS[state] == frozenset()


def test_every_open_state_can_be_transferred() -> None:
    assert S.DRAFT not in OPEN_STATES
    for state in OPEN_STATES:
        assert can_transition(state, S.TRANSFERRED)


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        ALLOWED_TRANSITIONS[S.CLOSED] = frozenset({S.DRAFT})  # type: ignore[index]


# --- screening -------------------------------------------------------------------------
NORFOLK = ScreeningConfig(steps=("information_unit", "safeguarding_hub"))
AT = dt.datetime(2024, 11, 1, 10, 0, tzinfo=dt.UTC)


def decide(step: str, decision: str = "accept") -> StepDecision:
    return StepDecision(step=step, decision=ScreeningDecision(decision), by="user-1", at=AT)


def test_config_schema_loads_steps() -> None:
    loaded = ScreeningConfigSchema().load({"steps": ["information_unit", "safeguarding_hub"]})
    assert loaded == NORFOLK
    assert ScreeningConfigSchema().load({}) == ScreeningConfig()
    assert ScreeningConfigSchema().load({"steps": []}).required is False
    assert ScreeningConfig().confirm_matches is True  # a join waits for a coordinator by default
    assert ScreeningConfigSchema().load({"confirm_matches": False}).confirm_matches is False
    assert NORFOLK.required is True


@pytest.mark.parametrize(
    "data",
    [
        {"steps": ["a", "a"]},
        {"steps": ["Information Unit"]},
        {"steps": "information_unit"},
        {"steps": [f"s{i}" for i in range(11)]},
        {"steps": [], "other": 1},
    ],
)
def test_config_schema_rejects(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ScreeningConfigSchema().load(data)


def test_config_dataclass_checks_itself() -> None:
    with pytest.raises(ValueError):
        ScreeningConfig(steps=("a", "a"))
    with pytest.raises(ValueError):
        ScreeningConfig(steps=("Not A Code",))


def test_no_decisions_waits_for_the_first_step() -> None:
    assert screening_progress(NORFOLK, []) == ScreeningProgress("information_unit", None)


def test_first_accept_waits_for_the_second_step() -> None:
    progress = screening_progress(NORFOLK, [decide("information_unit")])
    assert progress.pending_step == "safeguarding_hub"
    assert not progress.finished


def test_all_accept_means_accepted() -> None:
    progress = screening_progress(NORFOLK, [decide("safeguarding_hub"), decide("information_unit")])
    assert progress == ScreeningProgress(None, ScreeningOutcome.ACCEPTED, "safeguarding_hub")
    assert progress.finished
    assert progress.outcome is not None and progress.outcome.state is S.ACCEPTED


@pytest.mark.parametrize(
    ("decisions", "at_step"),
    [
        (["return"], "information_unit"),
        (["accept", "return"], "safeguarding_hub"),
    ],
)
def test_a_return_at_any_step_means_returned(decisions: list[str], at_step: str) -> None:
    recorded = [decide(step, d) for step, d in zip(NORFOLK.steps, decisions, strict=False)]
    progress = screening_progress(NORFOLK, recorded)
    assert progress == ScreeningProgress(None, ScreeningOutcome.RETURNED, at_step)
    assert ScreeningOutcome.RETURNED.state is S.RETURNED


def test_no_steps_is_trivially_accepted() -> None:
    progress = screening_progress(ScreeningConfig(), [])
    assert progress == ScreeningProgress(None, ScreeningOutcome.ACCEPTED, None)


@pytest.mark.parametrize(
    "decisions",
    [
        [decide("safeguarding_hub")],  # second before first
        [decide("information_unit"), decide("information_unit")],  # twice
        [decide("police_triage")],  # not configured
        [decide("information_unit", "return"), decide("safeguarding_hub")],  # after a return
    ],
)
def test_decisions_that_do_not_fit_the_steps(decisions: list[StepDecision]) -> None:
    with pytest.raises(ScreeningError):
        screening_progress(NORFOLK, decisions)


def test_record_step_decision_only_takes_the_pending_step() -> None:
    progress = record_step_decision(NORFOLK, [], decide("information_unit"))
    assert progress.pending_step == "safeguarding_hub"
    with pytest.raises(ScreeningError, match="information_unit"):
        record_step_decision(NORFOLK, [], decide("safeguarding_hub"))
    with pytest.raises(ScreeningError, match="finished"):
        record_step_decision(
            NORFOLK, [decide("information_unit", "return")], decide("safeguarding_hub")
        )


# --- repeat ----------------------------------------------------------------------------
D = dt.date


@pytest.mark.parametrize(
    ("referral", "previous", "expected"),
    [
        (D(2024, 5, 10), [], False),
        (D(2024, 5, 10), [D(2023, 5, 10)], True),  # same date 12 months on: inclusive
        (D(2024, 5, 11), [D(2023, 5, 10)], False),  # a day later: a new referral
        (D(2024, 5, 9), [D(2023, 5, 10)], True),
        (D(2024, 1, 2), [D(2024, 1, 1)], True),
        (D(2025, 2, 28), [D(2024, 2, 29)], True),  # leap day: 12 months on is 28 Feb
        (D(2025, 3, 1), [D(2024, 2, 29)], False),
        (D(2025, 2, 28), [D(2024, 2, 28)], True),
        (D(2024, 2, 29), [D(2023, 2, 28)], False),  # 28 Feb 2023 + 12 months = 28 Feb 2024
        (D(2024, 12, 31), [D(2023, 12, 31)], True),
        (D(2025, 1, 1), [D(2023, 12, 31)], False),
        # measured from the last previous referral, in whatever order given
        (D(2024, 6, 1), [D(2023, 7, 1), D(2022, 1, 1)], True),
        (D(2024, 6, 1), [D(2022, 1, 1), D(2023, 7, 1), D(2020, 1, 1)], True),
        (D(2024, 6, 1), [D(2022, 1, 1), D(2023, 5, 31)], False),
        # the referral itself, same-day duplicates and later dates are not "previous"
        (D(2024, 6, 1), [D(2024, 6, 1)], False),
        (D(2024, 6, 1), [D(2024, 7, 1)], False),
        (D(2024, 6, 1), [D(2023, 1, 1), D(2024, 6, 1)], False),
    ],
)
def test_is_repeat(referral: dt.date, previous: list[dt.date], expected: bool) -> None:
    assert is_repeat(referral, previous) is expected


def test_is_repeat_accepts_any_iterable() -> None:
    assert is_repeat(D(2024, 6, 1), iter([D(2024, 1, 1)]))


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2024, 1, 31), 1, D(2024, 2, 29)),
        (D(2023, 1, 31), 1, D(2023, 2, 28)),
        (D(2024, 12, 15), 1, D(2025, 1, 15)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),
        (D(2024, 3, 31), -1, D(2024, 2, 29)),
    ],
)
def test_add_months(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


@given(st.dates(min_value=D(1950, 1, 1), max_value=D(2090, 1, 1)))
def test_repeat_window_is_twelve_months(last: dt.date) -> None:
    end = add_months(last, 12)
    assert is_repeat(last + dt.timedelta(days=1), [last])
    assert is_repeat(end, [last])
    assert not is_repeat(end + dt.timedelta(days=1), [last])
    assert 365 <= (end - last).days <= 366


# --- the lifecycle's refusals and cases ------------------------------------------------------
def test_a_forbidden_move_is_an_illegal_move_naming_both_states() -> None:
    with pytest.raises(IllegalMove) as caught:
        REFERRAL_MOVES.move(S.DRAFT, S.HEARD)
    assert isinstance(caught.value, InvalidTransition)
    assert (caught.value.current, caught.value.asked) == (S.DRAFT, S.HEARD)
    assert caught.value.detail == "cannot move a referral from draft to heard"


@pytest.mark.parametrize(("state", "allowed", "refused"), [
    (S.DRAFT, EDITABLE_STATES, False), (S.SUBMITTED, EDITABLE_STATES, True),
    (S.ACCEPTED, URGENT_STATES, True), (S.RETURNED, URGENT_STATES, False),
])
def test_ensure_state(state: ReferralState, allowed: frozenset[ReferralState],
                      refused: bool) -> None:
    if not refused:
        assert ensure_state(state.value, allowed, "cannot be edited") is state
        return
    with pytest.raises(ReferralStateConflict) as caught:
        ensure_state(state.value, allowed, "cannot be edited")
    assert caught.value.detail == f"a referral in state {state.value} cannot be edited"
    assert caught.value.slug == "referral-state"


def test_a_screening_error_is_a_referral_state_conflict() -> None:
    with pytest.raises(ReferralStateConflict) as caught:
        record_step_decision(NORFOLK, [], decide("safeguarding_hub"))
    assert isinstance(caught.value, ScreeningError) and caught.value.slug == "referral-state"


def test_a_case_closes_with_its_last_open_referral() -> None:
    assert closes_case(CaseStatus.OPEN, ["closed", "transferred"])
    assert not closes_case(CaseStatus.OPEN, ["closed", "heard"])
    assert not closes_case(CaseStatus.ERASED, ["closed"])
    assert not closes_case(CaseStatus.CLOSED, ["closed"])


def test_case_moves() -> None:
    assert CASE_MOVES.allows(CaseStatus.OPEN, CaseStatus.CLOSED)
    assert CASE_MOVES.sources(CaseStatus.ERASED) == {
        CaseStatus.OPEN, CaseStatus.CLOSED, CaseStatus.TRANSFERRED_OUT}
    # Only an open case is transferred out, and a transferred-out case only erased.
    assert CASE_MOVES.sources(CaseStatus.TRANSFERRED_OUT) == {CaseStatus.OPEN}
    assert CASE_MOVES.moves[CaseStatus.TRANSFERRED_OUT] == {CaseStatus.ERASED}
    for status in CaseStatus:
        assert not CASE_MOVES.allows(CaseStatus.ERASED, status)
    with pytest.raises(IllegalMove):
        CASE_MOVES.move(CaseStatus.CLOSED, CaseStatus.OPEN)
