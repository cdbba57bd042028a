"""DASH scoring: only "yes" counts, bands, high-weight factors, missing and invalid answers."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_platform import checklists
from marac_platform.checklists import get_checklist
from services.risk import domain
from services.risk.domain import (
    INVALID_ANSWER,
    UNKNOWN_QUESTION,
    AnswerProblem,
    Band,
    Checklist,
    IncompleteChecklist,
    InvalidAnswers,
    RiskPolicy,
    score,
)

PARTNER = get_checklist("dash-partner-2009-v1")
POLICE = get_checklist("dash-police-v1")
SHIPPED = [PARTNER, POLICE]


def answers_with(checklist: Checklist, yes: int, rest: str = "no") -> dict[str, str]:
    """The first `yes` questions answered yes, the others `rest`."""
    return {q.id: ("yes" if i < yes else rest) for i, q in enumerate(checklist.questions)}


@pytest.mark.parametrize(
    ("yes", "band"),
    [
        (0, "standard"),
        (1, "standard"),
        (9, "standard"),
        (10, "medium"),
        (13, "medium"),
        (14, "high"),
        (17, "high"),
        (24, "high"),
    ],
)
def test_default_bands(yes: int, band: str) -> None:
    result = score(PARTNER, answers_with(PARTNER, yes))
    assert (result.yes_count, result.band) == (yes, band)
    assert result.checklist_version == "dash-partner-2009-v1"
    assert (result.answered_count, result.unanswered_count) == (24, 0)


def test_configured_bands() -> None:
    policy = RiskPolicy(bands=(Band("standard", 0), Band("high", 17)))
    assert score(POLICE, answers_with(POLICE, 16), policy).band == "standard"
    assert score(POLICE, answers_with(POLICE, 17), policy).band == "high"


@pytest.mark.parametrize("checklist", SHIPPED, ids=lambda c: c.version)
@pytest.mark.parametrize("rest", ["no", "dont_know"])
def test_no_and_dont_know_never_count(checklist: Checklist, rest: str) -> None:
    assert score(checklist, answers_with(checklist, 0, rest)).yes_count == 0
    assert score(checklist, answers_with(checklist, 5, rest)).yes_count == 5


def test_high_weight_factors_present_are_sorted_and_unique() -> None:
    answers = answers_with(PARTNER, 0)
    for qid in (
        "q15-strangulation",
        "q10-more-often",
        "q11-getting-worse",
        "q08-stalking-harassment",
        "q01-injury",
    ):
        answers[qid] = "yes"
    answers["q14-threats-to-kill"] = "dont_know"  # only "yes" brings a factor
    assert score(PARTNER, answers).high_weight_factors == (
        "escalation",
        "stalking",
        "strangulation",
    )


def test_police_factors_follow_the_renumbering() -> None:
    answers = answers_with(POLICE, 0)
    answers["q18-strangulation"] = "yes"
    answers["q12-children-dependants-threatened"] = "yes"
    result = score(POLICE, answers)
    assert result.high_weight_factors == ("strangulation",)
    assert result.yes_count == 2


def test_missing_answers_raise_with_the_missing_ids_in_form_order() -> None:
    answers = answers_with(PARTNER, 3)
    del answers["q24-criminal-history"]
    del answers["q02-very-frightened"]
    with pytest.raises(IncompleteChecklist) as info:
        score(PARTNER, answers)
    assert info.value.missing_question_ids == ("q02-very-frightened", "q24-criminal-history")
    assert "2 question(s) unanswered" in str(info.value)


def test_missing_answers_allowed_when_the_version_says_so() -> None:
    lenient = dataclasses.replace(PARTNER, allow_missing=True)
    answers = {"q01-injury": "yes", "q02-very-frightened": "dont_know", "q03-what-feared": "yes"}
    result = score(lenient, answers)
    assert result.yes_count == 2
    assert (result.answered_count, result.unanswered_count) == (3, 21)
    assert result.unanswered_question_ids[0] == "q04-isolated"
    assert score(lenient, {}).yes_count == 0


def test_unknown_question_ids_raise_without_echoing_them_in_the_message() -> None:
    answers = answers_with(PARTNER, 0)
    answers["Jane Doe 01/02/1980"] = "yes"
    answers["q25-extra"] = "no"
    with pytest.raises(InvalidAnswers) as info:
        score(PARTNER, answers)
    assert info.value.problems == (
        AnswerProblem("Jane Doe 01/02/1980", UNKNOWN_QUESTION),
        AnswerProblem("q25-extra", UNKNOWN_QUESTION),
    )
    assert "Jane" not in str(info.value)
    assert "2 unknown question id(s)" in str(info.value)


@pytest.mark.parametrize("value", ["Yes", "y", "", "maybe, he hit her", None, True, 1])
def test_invalid_answer_values_raise_without_the_value(value: object) -> None:
    answers: dict[str, object] = dict(answers_with(PARTNER, 0))
    answers["q05-depressed-suicidal"] = value
    with pytest.raises(InvalidAnswers) as info:
        score(PARTNER, answers)  # type: ignore[arg-type]
    assert info.value.problems == (AnswerProblem("q05-depressed-suicidal", INVALID_ANSWER),)
    assert info.value.question_ids == ("q05-depressed-suicidal",)
    assert str(info.value) == "invalid answers: q05-depressed-suicidal: invalid_answer"


def test_invalid_answers_are_reported_before_missing_ones() -> None:
    with pytest.raises(InvalidAnswers):
        score(PARTNER, {"q01-injury": "perhaps"})


def test_answers_for_another_version_are_unknown() -> None:
    with pytest.raises(InvalidAnswers) as info:
        score(PARTNER, answers_with(POLICE, 0))
    assert {p.reason for p in info.value.problems} == {UNKNOWN_QUESTION}


def test_answer_errors_are_still_risk_domain_errors() -> None:
    """The checklist names moved to marac_platform; risk code catching them keeps working."""
    assert domain.Checklist is checklists.Checklist
    assert domain.IncompleteChecklist is checklists.IncompleteChecklist
    assert domain.InvalidAnswers is checklists.InvalidAnswers
    assert issubclass(domain.IncompleteChecklist, domain.RiskDomainError)
    assert issubclass(domain.InvalidAnswers, domain.RiskDomainError)
    with pytest.raises(domain.RiskDomainError):
        score(PARTNER, {"q01-injury": "perhaps"})


# --------------------------------------------------------------------------- properties

ANSWER_VALUES = st.sampled_from(["yes", "no", "dont_know"])


@st.composite
def checklist_and_answers(draw: st.DrawFn) -> tuple[Checklist, dict[str, str]]:
    checklist = draw(st.sampled_from(SHIPPED))
    values = draw(st.lists(ANSWER_VALUES, min_size=len(checklist), max_size=len(checklist)))
    return checklist, dict(zip(checklist.question_ids, values, strict=True))


@st.composite
def policies(draw: st.DrawFn) -> RiskPolicy:
    starts = draw(st.lists(st.integers(1, 27), max_size=5, unique=True))
    bands = tuple(Band(f"band{i}", m) for i, m in enumerate([0, *sorted(starts)]))
    return RiskPolicy(bands=bands)


def band_rank(policy: RiskPolicy, name: str) -> int:
    return [b.name for b in policy.bands].index(name)


@given(checklist_and_answers(), st.data(), policies())
def test_changing_an_answer_to_yes_never_lowers_count_or_band(
    case: tuple[Checklist, dict[str, str]], data: st.DataObject, policy: RiskPolicy
) -> None:
    checklist, answers = case
    qid = data.draw(st.sampled_from(checklist.question_ids))
    before = score(checklist, answers, policy)
    after = score(checklist, {**answers, qid: "yes"}, policy)
    assert after.yes_count >= before.yes_count
    assert after.yes_count - before.yes_count in (0, 1)
    assert band_rank(policy, after.band) >= band_rank(policy, before.band)
    assert set(after.high_weight_factors) >= set(before.high_weight_factors)


@given(checklist_and_answers(), st.data())
def test_answers_other_than_yes_never_change_the_count(
    case: tuple[Checklist, dict[str, str]], data: st.DataObject
) -> None:
    checklist, answers = case
    not_yes = [qid for qid, value in answers.items() if value != "yes"]
    changed = {qid: data.draw(st.sampled_from(["no", "dont_know"])) for qid in not_yes}
    assert score(checklist, {**answers, **changed}).yes_count == score(checklist, answers).yes_count
    assert score(checklist, answers).yes_count == sum(v == "yes" for v in answers.values())


@given(policies(), st.integers(0, 27), st.integers(0, 27))
def test_band_is_monotonic_in_yes_count(policy: RiskPolicy, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert band_rank(policy, policy.band_for(low)) <= band_rank(policy, policy.band_for(high))
    # and it is the highest band whose start the count reaches
    rank = band_rank(policy, policy.band_for(high))
    assert policy.bands[rank].min_yes <= high
    assert rank == len(policy.bands) - 1 or policy.bands[rank + 1].min_yes > high


@given(checklist_and_answers())
def test_scoring_is_deterministic(case: tuple[Checklist, dict[str, str]]) -> None:
    checklist, answers = case
    reordered = dict(reversed(list(answers.items())))
    assert score(checklist, answers) == score(checklist, reordered)
