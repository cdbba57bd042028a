"""The risk service's use cases: assess a submitted referral, preview a checklist, look one up."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select

from marac_platform import checklists
from marac_platform.areas import section
from marac_platform.db import utcnow
from marac_platform.runtime import Runtime, UnitOfWork
from services.risk import domain
from services.risk.models import Assessment, ReferralHistory

RISK_ASSESSED = "marac.risk.assessed.v1"


def configure(runtime: Runtime) -> None:
    """Parse every area's `risk` section now, so a bad threshold stops the process at start."""
    runtime.config["policies"] = {
        area.id: section(area, "risk", domain.RiskPolicySchema(), runtime.areas.source)
        for area in runtime.areas.by_id.values()
    }
    runtime.config["checklists"] = checklists.shipped_checklists()


def policy(runtime: Runtime, area_id: str) -> domain.RiskPolicy:
    policies: Mapping[str, domain.RiskPolicy] = runtime.config["policies"]
    return policies.get(area_id) or domain.RiskPolicy()


def assessment_payload(assessment: domain.Assessment) -> dict[str, Any]:
    return {
        "checklist_version": assessment.checklist_version,
        "yes_count": assessment.yes_count,
        "band": assessment.band,
        "high_weight_factors": list(assessment.high_weight_factors),
        "criteria": [
            {
                "criterion": c.criterion,
                "met": c.met,
                "reason_code": c.reason_code,
                "detail": c.detail,
            }
            for c in assessment.criteria
        ],
        "decision": assessment.decision,
        "repeat_of": (
            {
                "area_id": assessment.repeat_of.area_id,
                "date": assessment.repeat_of.referral_date.isoformat(),
            }
            if assessment.repeat_of
            else None
        ),
    }


def previous_referrals(
    uow: UnitOfWork, case_id: str, before_referral: str
) -> list[tuple[str, date]]:
    rows = uow.session.scalars(
        select(ReferralHistory).where(ReferralHistory.case_id == case_id)
    ).all()
    return [(row.area_id, row.referral_date) for row in rows if row.referral_id != before_referral]


def assess_referral(uow: UnitOfWork, submitted: Mapping[str, Any]) -> str:
    """Score a submitted referral against its area's criteria and publish risk.assessed."""
    area_id: str = submitted["area_id"]
    checklist = checklists.get_checklist(submitted["checklist_version"])
    history = previous_referrals(uow, submitted["case_id"], submitted["referral_id"])
    declared: Sequence[Mapping[str, Any]] = submitted.get("previous_referrals", [])
    assessment = domain.assess(
        checklist,
        submitted["dash_answers"],
        policy(uow.runtime, area_id),
        referral_date=submitted["referral_date"],
        professional_judgement_claimed="professional_judgement" in submitted["criteria_claimed"],
        professional_judgement_documented=submitted["professional_judgement_documented"],
        police_callout_dates=submitted.get("police_callout_dates", []),
        previous_referrals=history + [(item["area_id"], item["date"]) for item in declared],
    )
    payload = assessment_payload(assessment)
    assessment_id = str(uuid.uuid4())
    uow.session.add(
        Assessment(
            id=assessment_id, area_id=area_id, referral_id=submitted["referral_id"],
            case_id=submitted["case_id"], assessed_at=utcnow(), **payload,
        )
    )
    known = uow.session.scalar(
        select(ReferralHistory).where(ReferralHistory.referral_id == submitted["referral_id"])
    )
    if known is None:
        uow.session.add(
            ReferralHistory(area_id=area_id, case_id=submitted["case_id"],
                            referral_id=submitted["referral_id"],
                            referral_date=submitted["referral_date"], source="marac")
        )
    recorded = {(row_area, day) for row_area, day in history}
    for item in declared:
        if (item["area_id"], item["date"]) in recorded:
            continue  # declared again on a resubmission
        recorded.add((item["area_id"], item["date"]))
        uow.session.add(
            ReferralHistory(area_id=area_id, case_id=submitted["case_id"], referral_id=None,
                            referral_date=item["date"], source="declared")
        )
    uow.publish(
        RISK_ASSESSED, subject=submitted["case_id"], area=area_id,
        data={"referral_id": submitted["referral_id"], "case_id": submitted["case_id"],
              "area_id": area_id, "assessment_id": assessment_id, **payload},
    )
    return assessment_id


def latest_assessment(uow: UnitOfWork, referral_id: str) -> Assessment | None:
    return uow.session.scalars(
        select(Assessment).where(Assessment.referral_id == referral_id)
        .order_by(Assessment.assessed_at.desc())
    ).first()
