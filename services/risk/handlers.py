"""Which events the risk service reacts to, and how: the one table to read."""

from __future__ import annotations

from marac_platform import events
from marac_platform.consumer import Handler
from marac_platform.events import Event
from marac_platform.payloads import CaseHeard, ReferralReturned, ReferralSubmitted
from marac_platform.runtime import UnitOfWork
from services.risk import service


def on_referral_submitted(uow: UnitOfWork, event: Event) -> None:
    service.assess_referral(uow, event.payload(ReferralSubmitted))


def on_referral_returned(uow: UnitOfWork, event: Event) -> None:
    service.on_referral_returned(uow, event.payload(ReferralReturned), event.time)


def on_case_heard(uow: UnitOfWork, event: Event) -> None:
    service.on_case_heard(uow, event.payload(CaseHeard))


HANDLERS: dict[str, Handler] = {
    events.REFERRAL_SUBMITTED: on_referral_submitted,
    events.REFERRAL_RETURNED: on_referral_returned,
    events.CASE_HEARD: on_case_heard,
}
