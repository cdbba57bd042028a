"""Which events the notify service reacts to (every one services/notify/notices.py reads), and
its timed delivery job: the one table to read."""

from __future__ import annotations

from marac_platform.consumer import Handler
from marac_platform.runtime import Runtime
from marac_platform.worker import Job
from services.notify import service
from services.notify.notices import NOTICES


def deliver(runtime: Runtime) -> None:
    # A full batch means more are due: go on (a few rounds, then the loop beats its heartbeat).
    for _ in range(10):
        if service.deliver_due(runtime) < service.BATCH:
            return


HANDLERS: dict[str, Handler] = {event_type: service.on_event for event_type in NOTICES}

JOBS = [Job(service.DELIVER_JOB, 0.5, deliver)]
