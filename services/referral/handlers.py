"""Which events the referral service reacts to, and how: the one table to read."""

from __future__ import annotations

from marac_platform.consumer import Handler
from marac_platform.events import Event
from marac_platform.runtime import UnitOfWork
from services.referral import service


def on_risk_assessed(uow: UnitOfWork, event: Event) -> None:
    service.on_assessed(uow, event.data)


def on_case_scheduled(uow: UnitOfWork, event: Event) -> None:
    service.on_scheduled(uow, event.data)


def on_case_heard(uow: UnitOfWork, event: Event) -> None:
    service.on_heard(uow, event.data)


def on_case_erased(uow: UnitOfWork, event: Event) -> None:
    # Our own event, back from Kafka: erasure (admin.py) shreds the key and the forms, this
    # drops the blind index and screening reasons it does not know of.
    service.on_case_erased(uow, event.data)


HANDLERS: dict[str, Handler] = {
    "marac.risk.assessed.v1": on_risk_assessed,
    "marac.case.scheduled.v1": on_case_scheduled,
    "marac.case.heard.v1": on_case_heard,
    "marac.case.erased.v1": on_case_erased,
}
