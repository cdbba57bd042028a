"""Which events the scheduling service reacts to, and how: the one table to read."""

from __future__ import annotations

from marac_platform.consumer import Handler
from marac_platform.events import Event
from marac_platform.runtime import UnitOfWork
from services.scheduling import service


def on_referral_accepted(uow: UnitOfWork, event: Event) -> None:
    service.allocate_case(uow, event.data)


HANDLERS: dict[str, Handler] = {
    "marac.referral.accepted.v1": on_referral_accepted,
}
