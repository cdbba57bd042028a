"""Which events the notify service reacts to, and its timed delivery job: the one table to read."""

from __future__ import annotations

from marac_platform import events
from marac_platform.consumer import Handler
from marac_platform.runtime import Runtime
from marac_platform.worker import Job
from services.notify import service


def deliver(runtime: Runtime) -> None:
    service.deliver_pending(runtime)


HANDLERS: dict[str, Handler] = {
    events.CASE_SCHEDULED: service.on_case_scheduled,
    events.REFERRAL_RETURNED: service.on_referral_returned,
    events.CASELIST_PUBLISHED: service.on_case_list_published,
    events.MEETING_CANCELLED: service.on_meeting_cancelled,
}

JOBS = [Job("deliver", 0.5, deliver)]
