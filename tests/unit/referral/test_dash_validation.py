"""DASH answers checked against their checklist when a referral is saved or submitted."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_platform.checklists import parse_checklist, shipped_checklists
from services.referral.domain import DASH_MISSING_ANSWER, DASH_UNKNOWN_VERSION, dash_errors
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from services.referral.schemas import ReferralDraftSchema, ReferralSubmitSchema

CHECKLISTS = shipped_checklists()
PARTNER = CHECKLISTS[PARTNER_CHECKLIST]
POLICE = CHECKLISTS["dash-police-v1"]


def form_with(answers: dict[str, str] | None, version: str = PARTNER_CHECKLIST) -> dict[str, Any]:
    dash: dict[str, Any] = {"checklist_version": version}
    if answers is not None:
        dash["answers"] = answers
    return {"area_id": "northshire", "dash": dash}


def all_answered(value: str = "no") -> dict[str, str]:
    return {qid: value for qid in PARTNER.question_ids}


@pytest.mark.parametrize("submit", [True, False])
def test_complete_answers_pass(submit: bool) -> None:
    assert dash_errors(form_with(all_answered()), CHECKLISTS, submit=submit) == []


@pytest.mark.parametrize("submit", [True, False])
def test_a_form_without_dash_has_nothing_to_check(submit: bool) -> None:
    assert dash_errors({"area_id": "northshire"}, CHECKLISTS, submit=submit) == []


@pytest.mark.parametrize("submit", [True, False])
def test_unknown_checklist_version(submit: bool) -> None:
    form = form_with(all_answered(), version="dash-nonexistent-v9")
    assert dash_errors(form, CHECKLISTS, submit=submit) == [
        {"field": "dash.checklist_version", "reason": DASH_UNKNOWN_VERSION}
    ]
    assert DASH_UNKNOWN_VERSION == "Unknown checklist version."


def test_missing_answers_on_submit_name_each_question_in_form_order() -> None:
    answers = all_answered()
    del answers["q15-strangulation"], answers["q02-very-frightened"]
    assert dash_errors(form_with(answers), CHECKLISTS, submit=True) == [
        {"field": "dash.answers.q02-very-frightened", "reason": "Missing answer."},
        {"field": "dash.answers.q15-strangulation", "reason": "Missing answer."},
    ]
    assert DASH_MISSING_ANSWER == "Missing answer."


def test_no_answers_on_submit_misses_every_question() -> None:
    errors = dash_errors(form_with({}), CHECKLISTS, submit=True)
    assert [e["field"] for e in errors] == [f"dash.answers.{q}" for q in PARTNER.question_ids]
    assert {e["reason"] for e in errors} == {DASH_MISSING_ANSWER}


@pytest.mark.parametrize("answers", [{}, None, {"q01-injury": "yes"}])
def test_a_draft_may_be_incomplete(answers: dict[str, str] | None) -> None:
    assert dash_errors(form_with(answers), CHECKLISTS, submit=False) == []


@pytest.mark.parametrize("submit", [True, False])
def test_unknown_question_ids_are_rejected_even_in_a_draft(submit: bool) -> None:
    # answers for the police version sent under the partner version: q10 onwards differ
    answers = {"q01-injury": "yes", "q10-children-dependants-present": "no"}
    assert dash_errors(form_with(answers), CHECKLISTS, submit=submit) == [
        {"field": "dash.answers.q10-children-dependants-present", "reason": "unknown_question"}
    ]


@pytest.mark.parametrize("submit", [True, False])
def test_invalid_values_are_rejected_even_in_a_draft(submit: bool) -> None:
    # the form schema already limits values; checked again because risk scores these answers
    answers = {"q01-injury": "maybe", "q02-very-frightened": "yes"}
    assert dash_errors(form_with(answers), CHECKLISTS, submit=submit) == [
        {"field": "dash.answers.q01-injury", "reason": "invalid_answer"}
    ]


def test_invalid_answers_are_reported_instead_of_missing_ones() -> None:
    errors = dash_errors(form_with({"q99-extra": "yes"}), CHECKLISTS, submit=True)
    assert errors == [{"field": "dash.answers.q99-extra", "reason": "unknown_question"}]


def test_a_version_that_allows_missing_answers_accepts_them_on_submit() -> None:
    lenient = parse_checklist(
        {
            "version": "dash-young-person-v1",
            "title": "Young person variant",
            "audience": "partner",
            "allow_missing": True,
            "questions": [
                {"id": "q01-injury", "number": 1, "label": "Injury", "group": "current"},
                {"id": "q02-fear", "number": 2, "label": "Fear", "group": "current"},
            ],
        }
    )
    form = form_with({"q01-injury": "yes"}, version=lenient.version)
    assert dash_errors(form, {lenient.version: lenient}, submit=True) == []


@pytest.mark.parametrize("submit", [True, False])
def test_a_loaded_sample_referral_passes(submit: bool) -> None:
    """The check reads the form exactly as the referral schemas load it."""
    schema = ReferralSubmitSchema() if submit else ReferralDraftSchema()
    form = schema.load(sample_referral(list(PARTNER.question_ids)))
    assert dash_errors(form, CHECKLISTS, submit=submit) == []
    del form["dash"]["answers"]["q24-criminal-history"]
    expected = [{"field": "dash.answers.q24-criminal-history", "reason": DASH_MISSING_ANSWER}]
    assert dash_errors(form, CHECKLISTS, submit=submit) == (expected if submit else [])


@given(st.sets(st.sampled_from(POLICE.question_ids)), st.booleans())
def test_only_unanswered_questions_are_reported(answered: set[str], submit: bool) -> None:
    form = form_with({qid: "dont_know" for qid in answered}, version=POLICE.version)
    errors = dash_errors(form, CHECKLISTS, submit=submit)
    missing = [f"dash.answers.{q}" for q in POLICE.question_ids if q not in answered]
    assert [e["field"] for e in errors] == (missing if submit else [])
