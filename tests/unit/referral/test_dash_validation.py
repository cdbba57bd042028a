"""DASH answers checked against their checklist when a referral is saved or submitted."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_platform.checklists import parse_checklist, shipped_checklists
from services.referral.domain import (
    DASH_DECLINED_NOTE,
    DASH_MISSING_ANSWER,
    DASH_UNKNOWN_VERSION,
    checklist_declined,
    dash_errors,
)
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from services.referral.schemas import ReferralDraftSchema, ReferralSubmitSchema

CHECKLISTS = shipped_checklists()
PARTNER = CHECKLISTS[PARTNER_CHECKLIST]
POLICE = CHECKLISTS["dash-police-v1"]


def form_with(
    answers: dict[str, str] | None,
    version: str = PARTNER_CHECKLIST,
    claimed: tuple[str, ...] = ("visible_high_risk",),
    note: str | None = None,
) -> dict[str, Any]:
    dash: dict[str, Any] = {"checklist_version": version}
    if answers is not None:
        dash["answers"] = answers
    if note is not None:
        dash["answered_by"] = {"who": "professional", "note": note}
    return {"area_id": "northshire", "criteria_claimed": list(claimed), "dash": dash}


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


def test_no_answers_on_submit_misses_every_question_when_visible_high_risk_is_claimed() -> None:
    errors = dash_errors(form_with({}, note="victim declined"), CHECKLISTS, submit=True)
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


# --- a checklist the victim declined ------------------------------------------------------
OTHER_CRITERIA = ("professional_judgement", "potential_escalation", "repeat")


@pytest.mark.parametrize("claimed", [(c,) for c in OTHER_CRITERIA] + [OTHER_CRITERIA])
def test_declined_checklist_with_a_note_passes_on_submit(claimed: tuple[str, ...]) -> None:
    form = form_with({}, claimed=claimed, note="The victim did not want to answer.")
    assert checklist_declined(form)
    assert dash_errors(form, CHECKLISTS, submit=True) == []


def test_declined_checklist_needs_the_note_saying_so() -> None:
    form = form_with({}, claimed=("professional_judgement",))
    assert dash_errors(form, CHECKLISTS, submit=True) == [
        {"field": "dash.answered_by.note", "reason": DASH_DECLINED_NOTE}
    ]


def test_declined_checklist_cannot_claim_visible_high_risk() -> None:
    form = form_with({}, claimed=("visible_high_risk", "professional_judgement"), note="declined")
    assert not checklist_declined(form)
    errors = dash_errors(form, CHECKLISTS, submit=True)
    assert [e["field"] for e in errors] == [f"dash.answers.{q}" for q in PARTNER.question_ids]


def test_partly_answered_checklist_is_not_declined_but_incomplete() -> None:
    form = form_with({"q01-injury": "no"}, claimed=("professional_judgement",), note="partly")
    assert not checklist_declined(form)
    errors = dash_errors(form, CHECKLISTS, submit=True)
    assert len(errors) == len(PARTNER.question_ids) - 1
    assert {e["reason"] for e in errors} == {DASH_MISSING_ANSWER}


def test_declined_checklist_still_needs_a_known_version() -> None:
    form = form_with({}, version="dash-nonexistent-v9", claimed=("repeat",), note="declined")
    assert dash_errors(form, CHECKLISTS, submit=True) == [
        {"field": "dash.checklist_version", "reason": DASH_UNKNOWN_VERSION}
    ]


def test_declined_sample_referral_loads_and_passes_through_the_submit_schema() -> None:
    body = sample_referral(list(PARTNER.question_ids))
    body["criteria_claimed"] = ["professional_judgement"]
    body["professional_judgement_narrative"] = "Strangulation in the last incident."
    body["dash"]["answers"] = {}
    body["dash"]["answered_by"] = {"who": "professional", "note": "Victim declined the checklist."}
    form = ReferralSubmitSchema().load(body)
    assert dash_errors(form, CHECKLISTS, submit=True) == []
