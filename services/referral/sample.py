"""A complete, fictional referral for demonstrations and tests (no real person's details)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from marac_platform import clock

PARTNER_CHECKLIST = "dash-partner-2009-v1"


def sample_referral(
    question_ids: list[str],
    area_id: str = "northshire",
    *,
    yes_answers: int = 16,
    victim_given: str = "Alex",
    victim_family: str = "Example",
    address_line: str = "1 Sample Street",
    today: date | None = None,
) -> dict[str, Any]:
    """A referral form as a referrer would send it; the first `yes_answers` DASH answers are yes.

    `question_ids` come from the checklist (GET /v1/checklists/<version> on the risk service).
    """
    today = today or clock.uk_today()
    answers = {qid: ("yes" if index < yes_answers else "no")
               for index, qid in enumerate(question_ids)}
    return {
        "referrer": {"name": "Sam Referrer", "agency_id": "police", "role": "Detective Constable",
                     "secure_email": "sam.referrer@police.example"},
        "area_id": area_id,
        "victim": {
            "name": {"given": victim_given, "family": victim_family},
            "dates_of_birth": ["1990-04-01"],
            "address": {"lines": [address_line], "town": "Northtown", "postcode": "NT1 1AA"},
            "phone": "07700 900000", "safe_to_call": True, "safe_times": "weekday mornings",
            "gender": "female", "language": "English", "interpreter_needed": False,
        },
        "diversity": {"ethnicity": "prefer_not_to_say"},
        "perpetrators": [{"name": {"given": "Pat", "family": "Sample"},
                          "relationship_to_victim": "ex_partner"}],
        "incidents": [{"date": (today - timedelta(days=3)).isoformat(),
                       "summary": "Threats made at the home address; police attended.",
                       "police_reference": "NS-0001"}],
        "criteria_claimed": ["visible_high_risk"],
        "police_callouts_last_12_months": 1,
        "consent": {"status": "given"},
        "safeguarding_in_place": "Police marker on the address.",
        "dash": {"checklist_version": PARTNER_CHECKLIST, "answers": answers,
                 "answered_by": {"who": "victim"}},
    }
