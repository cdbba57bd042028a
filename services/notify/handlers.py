"""Which events the notify service reacts to, and its timed delivery job: the one table to read."""

from __future__ import annotations

from marac_platform.consumer import Handler
from marac_platform.runtime import Runtime
from marac_platform.worker import Job
from services.notify import service


def deliver(runtime: Runtime) -> None:
    service.deliver_pending(runtime)


HANDLERS: dict[str, Handler] = {
    "marac.case.scheduled.v1": service.on_case_scheduled,
    "marac.referral.returned.v1": service.on_referral_returned,
    "marac.caselist.published.v1": service.on_case_list_published,
    "marac.meeting.cancelled.v1": service.on_meeting_cancelled,
}

JOBS = [Job("deliver", 0.5, deliver)]
