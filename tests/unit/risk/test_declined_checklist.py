"""A DASH checklist the victim declined (no answers at all) is scored, not refused."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from marac_platform.checklists import IncompleteChecklist, shipped_checklists
from services.risk import domain
from services.risk.domain import scoring_checklist

CHECKLISTS = shipped_checklists()
PARTNER = CHECKLISTS["dash-partner-2009-v1"]
TODAY = date(2026, 11, 25)


@pytest.mark.parametrize("version", sorted(CHECKLISTS))
def test_no_answers_are_scored_as_allow_missing(version: str) -> None:
    checklist = CHECKLISTS[version]
    assert not checklist.allow_missing
    lenient = scoring_checklist(checklist, {})
    assert lenient.allow_missing
    assert lenient.questions == checklist.questions and lenient.version == checklist.version
    score = domain.score(lenient, {})
    assert (score.yes_count, score.band, score.high_weight_factors) == (0, "standard", ())
    assert score.unanswered_count == len(checklist.questions)


def test_a_partly_answered_checklist_keeps_the_versions_rule() -> None:
    answers = {"q01-injury": "yes"}
    assert scoring_checklist(PARTNER, answers) is PARTNER
    with pytest.raises(IncompleteChecklist):
        domain.score(scoring_checklist(PARTNER, answers), answers)


def test_declined_checklist_never_meets_visible_high_risk_and_judgement_decides() -> None:
    policy = domain.RiskPolicy()
    judged = domain.assess(scoring_checklist(PARTNER, {}), {}, policy, referral_date=TODAY,
                           professional_judgement_claimed=True,
                           professional_judgement_documented=True)
    assert judged.yes_count == 0
    assert not judged.criterion("visible_high_risk").met
    assert judged.criteria_met == ("professional_judgement",)
    assert judged.decision == "meets_criteria"
    nothing = domain.assess(scoring_checklist(PARTNER, {}), {}, policy, referral_date=TODAY)
    assert nothing.decision == "below_threshold"


def test_declined_checklist_can_be_a_repeat_or_an_escalation() -> None:
    policy = domain.RiskPolicy()
    repeat = domain.assess(scoring_checklist(PARTNER, {}), {}, policy, referral_date=TODAY,
                           previous_referrals=[("northshire", TODAY - timedelta(days=90))])
    assert repeat.criteria_met == ("repeat",)
    callouts = [TODAY - timedelta(days=d) for d in (5, 50, 100)]
    escalation = domain.assess(scoring_checklist(PARTNER, {}), {}, policy, referral_date=TODAY,
                               police_callout_dates=callouts)
    assert escalation.criteria_met == ("potential_escalation",)
