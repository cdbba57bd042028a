"""Which events the referral service reacts to, and how: the one table to read."""

from __future__ import annotations

from marac_platform import events
from marac_platform.consumer import Handler
from marac_platform.events import Event
from marac_platform.payloads import CaseErased, CaseHeard, CaseScheduled, RiskAssessed
from marac_platform.runtime import UnitOfWork
from services.referral import service


def on_risk_assessed(uow: UnitOfWork, event: Event) -> None:
    service.on_assessed(uow, event.payload(RiskAssessed))


def on_case_scheduled(uow: UnitOfWork, event: Event) -> None:
    service.on_scheduled(uow, event.payload(CaseScheduled))


def on_case_heard(uow: UnitOfWork, event: Event) -> None:
    service.on_heard(uow, event.payload(CaseHeard))


def on_case_erased(uow: UnitOfWork, event: Event) -> None:
    # Our own event, back from Kafka: erasure (admin.py) shreds the key and the forms, this
    # drops the blind index and screening reasons it does not know of.
    service.on_case_erased(uow, event.payload(CaseErased))


HANDLERS: dict[str, Handler] = {
    events.RISK_ASSESSED: on_risk_assessed,
    events.CASE_SCHEDULED: on_case_scheduled,
    events.CASE_HEARD: on_case_heard,
    events.CASE_ERASED: on_case_erased,
}
