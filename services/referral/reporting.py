"""The SafeLives quarterly return's use case: read what the return counts of the referrals
heard in an area's quarter (ids, dates, flags; never a form) and hand it to the rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from marac_platform import clock
from marac_platform.quarters import Quarter
from marac_platform.runtime import UnitOfWork
from services.referral import domain, quarterly
from services.referral.config import ReferralConfig
from services.referral.models import Referral

# A case stays heard once closed (or erased: its ids, dates and states are kept for counting).
HEARD_STATES = (domain.ReferralState.HEARD.value, domain.ReferralState.CLOSED.value)


def reporting_config(uow: UnitOfWork, area_id: str) -> quarterly.ReportingConfig:
    return uow.runtime.config_as(ReferralConfig).reporting.get(area_id) or quarterly.ReportingConfig()


def quarterly_return(uow: UnitOfWork, area_id: str, quarter: Quarter) -> dict[str, Any]:
    """The area's return for the quarter: every referral heard on a MARAC date in it."""
    rows = uow.session.execute(
        select(Referral.marac_date, Referral.received_at, Referral.target_date, Referral.repeat,
               Referral.referrer_agency, Referral.monitoring)
        .where(Referral.area_id == area_id, Referral.state.in_(HEARD_STATES),
               Referral.marac_date >= quarter.first_day, Referral.marac_date <= quarter.last_day))
    heard = [
        quarterly.HeardReferral(
            marac_date=marac_date,
            received_on=received_at.astimezone(clock.UK).date() if received_at else None,
            target_date=target_date, repeat=repeat, referrer_agency=agency, monitoring=monitoring)
        for marac_date, received_at, target_date, repeat, agency, monitoring in rows
        if marac_date is not None
    ]
    report = quarterly.figures(quarter, heard, reporting_config(uow, area_id))
    return {"area_id": area_id, **report}
