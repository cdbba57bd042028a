"""Which events the actions service reacts to, and how: the one table to read."""

from __future__ import annotations

from marac_platform import events
from marac_platform.consumer import Handler
from marac_platform.events import Event
from marac_platform.payloads import CaseHeard, CaseScheduled
from marac_platform.runtime import UnitOfWork
from services.actions import service


def on_case_scheduled(uow: UnitOfWork, event: Event) -> None:
    service.open_case_record(uow, event.payload(CaseScheduled))


def on_case_heard(uow: UnitOfWork, event: Event) -> None:
    service.mark_heard(uow, event.payload(CaseHeard))


HANDLERS: dict[str, Handler] = {
    events.CASE_SCHEDULED: on_case_scheduled,
    events.CASE_HEARD: on_case_heard,
}
