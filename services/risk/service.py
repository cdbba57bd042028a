"""The risk service's use cases: assess a submitted referral (keeping, from events, the case's
referral history that repeats are judged on), preview a checklist, look one up."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from marac_platform import checklists, clock, events
from marac_platform.db import utcnow
from marac_platform.errors import InvalidInput
from marac_platform.payloads import CaseHeard, ReferralReturned, ReferralSubmitted
from marac_platform.runtime import Runtime, UnitOfWork
from services.risk import domain
from services.risk.config import RiskConfig
from services.risk.models import Assessment, ReferralHistory


def policy(runtime: Runtime, area_id: str) -> domain.RiskPolicy:
    return runtime.config_as(RiskConfig).policies.get(area_id) or domain.RiskPolicy()


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


def preview(runtime: Runtime, checklist: domain.Checklist,
            body: Mapping[str, Any]) -> dict[str, Any]:
    """Score a checklist against an area's criteria, storing nothing; answers that do not fit
    the checklist are a 422 naming each one."""
    try:
        assessment = domain.assess(
            domain.scoring_checklist(checklist, body["answers"]), body["answers"],
            policy(runtime, body["area_id"]),
            referral_date=body["referral_date"] or clock.uk_today(),
            professional_judgement_claimed=body["professional_judgement_claimed"],
            professional_judgement_documented=body["professional_judgement_documented"],
            police_callout_dates=body["police_callout_dates"],
            incident_dates=body["incident_dates"],
            declared_callouts=body["police_callouts_last_12_months"],
            previous_referrals=[(p.area_id, p.date) for p in body["previous_referrals"]],
        )
    except domain.RiskDomainError as exc:
        (field, reason), *more = answer_errors(exc)
        raise InvalidInput(field, reason, more=more,
                           detail="The checklist answers are not valid.") from None
    return assessment_payload(assessment)


def answer_errors(exc: domain.RiskDomainError) -> list[tuple[str, str]]:
    """(field, reason) of each answer the checklist refused."""
    errors: list[tuple[str, str]] = []
    if isinstance(exc, domain.IncompleteChecklist):
        errors = [(f"answers.{qid}", "Missing answer.") for qid in exc.missing_question_ids]
    elif isinstance(exc, domain.InvalidAnswers):
        errors = [(f"answers.{p.question_id}", p.reason) for p in exc.problems]
    return errors or [("answers", type(exc).__name__)]


# Run for every referral assessed: built once (building a statement cost about as much as
# running it).
_OF_CASE = select(ReferralHistory).where(ReferralHistory.case_id == bindparam("case_id"))
_OF_REFERRAL = select(ReferralHistory).where(
    ReferralHistory.referral_id == bindparam("referral_id"))


def previous_referrals(
    uow: UnitOfWork, case_id: str, before_referral: str, referral_date: date
) -> list[tuple[str, date]]:
    """The case's earlier referrals to any MARAC: recorded here, declared, or transferred in
    (which of them count: `domain.earlier_referrals`)."""
    rows = uow.session.scalars(_OF_CASE, {"case_id": case_id}).all()
    return domain.earlier_referrals(referral_date, (
        domain.KnownReferral(domain.HistorySource(row.source), area_of(row), row.referral_date)
        for row in rows if row.referral_id != before_referral))


def area_of(row: ReferralHistory) -> str:
    """The MARAC a known referral was made to (a declared or transferred one's own area)."""
    return row.referral_area or row.area_id


def known_referrals(uow: UnitOfWork, case_id: str) -> set[tuple[str, date]]:
    """(area, date) of every referral the case's history holds, whatever its source."""
    return {(area_of(row), row.referral_date)
            for row in uow.session.scalars(_OF_CASE, {"case_id": case_id})}


def record_referral(uow: UnitOfWork, submitted: ReferralSubmitted, meets: bool) -> None:
    """Keep a referral that met the criteria in the case's history (the latest submission's
    date); one that did not went back to its referrer and was never a MARAC case. A
    transferred-in referral was a MARAC case in its old area whatever this area's thresholds
    say now, so it is kept, with its date there."""
    meets = meets or submitted.transferred_from is not None
    known = uow.session.scalar(_OF_REFERRAL, {"referral_id": submitted.referral_id})
    # Possibly separated from a case it joined by mistake (assessed before, or returned and
    # sent again): what its form declared follows it to its own case.
    moved = known.case_id != submitted.case_id if known is not None else submitted.resubmission > 0
    if moved:
        uow.session.execute(
            update(ReferralHistory)
            .where(ReferralHistory.declared_in == submitted.referral_id,
                   ReferralHistory.case_id != submitted.case_id)
            .values(case_id=submitted.case_id))
    if not meets:
        if known is not None:
            uow.session.delete(known)
        return
    if known is not None:
        known.referral_date = submitted.referral_date
        known.case_id = submitted.case_id
        return
    uow.session.add(
        ReferralHistory(area_id=submitted.area_id, case_id=submitted.case_id,
                        referral_id=submitted.referral_id,
                        referral_date=submitted.referral_date,
                        source=domain.HistorySource.MARAC,
                        referral_area=submitted.transferred_from)
    )


def assess_referral(uow: UnitOfWork, submitted: ReferralSubmitted) -> str:
    """Score a submitted referral against its area's criteria and publish risk.assessed."""
    area_id: str = submitted.area_id
    checklist = checklists.get_checklist(submitted.checklist_version)
    history = previous_referrals(uow, submitted.case_id, submitted.referral_id,
                                 submitted.referral_date)
    declared = submitted.previous_referrals
    transferred = submitted.transferred_history
    assessment = domain.assess(
        domain.scoring_checklist(checklist, submitted.dash_answers),
        submitted.dash_answers,
        policy(uow.runtime, area_id),
        referral_date=submitted.referral_date,
        professional_judgement_claimed="professional_judgement" in submitted.criteria_claimed,
        professional_judgement_documented=submitted.professional_judgement_documented,
        police_callout_dates=submitted.police_callout_dates,
        incident_dates=submitted.incident_dates,
        declared_callouts=submitted.police_callouts_last_12_months,
        previous_referrals=history + [(item.area_id, item.date)
                                      for item in (*declared, *transferred)],
    )
    payload = assessment_payload(assessment)
    assessment_id = str(uuid.uuid4())
    uow.session.add(
        Assessment(
            id=assessment_id, area_id=area_id, referral_id=submitted.referral_id,
            case_id=submitted.case_id, assessed_at=utcnow(), **payload,
        )
    )
    record_referral(uow, submitted, assessment.decision == "meets_criteria")
    # Compared by the area the referral was made to (not the row's own, whose case it is):
    # one declared again on a resubmission, or brought again by a transfer, is kept once.
    recorded = known_referrals(uow, submitted.case_id) if declared or transferred else set()
    for source, items in ((domain.HistorySource.DECLARED, declared),
                          (domain.HistorySource.TRANSFER, transferred)):
        for item in items:
            if (item.area_id, item.date) in recorded:
                continue  # declared again on a resubmission, or already known
            recorded.add((item.area_id, item.date))
            uow.session.add(
                ReferralHistory(area_id=area_id, case_id=submitted.case_id, referral_id=None,
                                referral_date=item.date, source=source,
                                referral_area=item.area_id, declared_in=submitted.referral_id)
            )
    uow.publish(
        events.RISK_ASSESSED, subject=submitted.case_id, area=area_id,
        data={"referral_id": submitted.referral_id, "case_id": submitted.case_id,
              "area_id": area_id, "assessment_id": assessment_id, **payload},
    )
    return assessment_id


def on_referral_returned(uow: UnitOfWork, returned: ReferralReturned, at: datetime) -> None:
    """A referral sent back at screening after meeting the criteria was not a MARAC case.

    `at` is when it was returned: an assessment after that is of the amended referral sent
    again (the events come on different topics, so possibly first), and its record stands.
    """
    latest = latest_assessment(uow, returned.referral_id)
    if latest is not None and latest.assessed_at > at:
        return
    uow.session.execute(
        delete(ReferralHistory).where(ReferralHistory.referral_id == returned.referral_id)
    )


# Transfers: the referral a transfer opens in the receiving area arrives as referral.submitted
# with the victim's earlier referrals in other areas (`transferred_history`), kept above with
# source "transfer" under the receiving area's case: the 12-month clock follows the victim.
# (A transfer event of its own would race the referral it opens: they are different topics.)


def latest_assessment(uow: UnitOfWork, referral_id: str) -> Assessment | None:
    return uow.session.scalars(
        select(Assessment).where(Assessment.referral_id == referral_id)
        .order_by(Assessment.assessed_at.desc())
    ).first()


def on_case_heard(uow: UnitOfWork, heard: CaseHeard) -> None:
    """Record when the MARAC heard a referral; a deferral changes nothing."""
    if heard.outcome != "heard":
        return
    row = uow.session.scalar(
        select(ReferralHistory).where(ReferralHistory.referral_id == heard.referral_id))
    if row is not None:
        row.heard_on = heard.marac_date
