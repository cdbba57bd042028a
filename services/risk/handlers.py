"""Which events the risk service reacts to, and how: the one table to read."""

from __future__ import annotations

from marac_platform.consumer import Handler
from marac_platform.events import Event
from marac_platform.runtime import UnitOfWork
from services.risk import service


def on_referral_submitted(uow: UnitOfWork, event: Event) -> None:
    service.assess_referral(uow, event.data)


def on_referral_returned(uow: UnitOfWork, event: Event) -> None:
    service.on_referral_returned(uow, event.data, event.time)


def on_case_heard(uow: UnitOfWork, event: Event) -> None:
    service.on_case_heard(uow, event.data)


HANDLERS: dict[str, Handler] = {
    "marac.referral.submitted.v1": on_referral_submitted,
    "marac.referral.returned.v1": on_referral_returned,
    "marac.case.heard.v1": on_case_heard,
}
