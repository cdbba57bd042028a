"""One service process's runtime: settings, database, areas, and the unit of work use cases open."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from marac_platform import clock, outbox, outbox_wake
from marac_platform.areas import Area, Areas, load_areas
from marac_platform.db import Database, PlatformTables
from marac_platform.errors import InvalidInput
from marac_platform.payloads import Payload
from marac_platform.service_spec import ServiceSpec
from marac_platform.settings import Settings, settings_for

Config = TypeVar("Config")


@dataclass
class UnitOfWork:
    """A transaction plus the means to queue events in it (the outbox)."""

    session: Session
    runtime: Runtime
    committed_hooks: list[Callable[[], None]] = field(default_factory=list)
    published: bool = False  # it queued an event: the relay is woken once it commits

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once this unit of work has committed (never if it rolls back)."""
        self.committed_hooks.append(hook)

    def run_committed_hooks(self) -> None:
        if self.published:
            self.published = False
            self.runtime.outbox_committed()
        hooks, self.committed_hooks = self.committed_hooks, []
        for hook in hooks:
            hook()

    @property
    def tables(self) -> PlatformTables:
        return self.runtime.tables

    def publish(self, event_type: str, *, subject: str, area: str,
                data: Mapping[str, Any] | Payload) -> str:
        self.published = True
        return outbox.publish(
            self.session, self.runtime.tables, event_type, source=self.runtime.source,
            subject=subject, area=area, data=data,
        )


class Runtime:
    """Built once per process from the service's declaration. `config` is what the declaration's
    `configure` built from the areas file; the service reads it as its own type (`config_as`)."""

    def __init__(self, spec: ServiceSpec, settings: Settings | None = None) -> None:
        self.spec = spec
        self.service = spec.name
        self.settings = settings or settings_for(spec.name)
        clock.start_at(self.settings.clock_start)
        self.tables: PlatformTables = spec.tables
        self.areas: Areas = load_areas(self.settings.areas_file)
        self.db = Database(self.settings.database_url)
        self.source = f"/marac/{spec.name}"
        # Validates the service's area sections: a wrong value stops the process at start-up.
        self.config: object = spec.configure(self.areas, self.settings)
        # Set when a unit of work of this process committed outbox rows: the worker's relay
        # publishes them at once instead of at its next poll.
        self.outbox_written = threading.Event()
        self._wake_sender = outbox_wake.WakeSender(outbox_wake.address(self.db.url))
        # Per timed job: set when this process committed work for it (notify's consumer queued
        # deliveries), so the job runs at once instead of at its next interval.
        self.job_wakes: dict[str, threading.Event] = {job.name: threading.Event()
                                                      for job in spec.jobs}

    def outbox_committed(self) -> None:
        """A unit of work committed outbox rows: wake this process's relay (the worker's) and,
        on SQLite, the worker's relay from another process (the web's); on PostgreSQL a web
        process's commit notifies the listeners itself (marac_platform.outbox)."""
        self.outbox_written.set()
        self._wake_sender.send()

    def wake_job(self, name: str) -> None:
        """Run the timed job `name` now (if this process runs it), not at its next interval."""
        wake = self.job_wakes.get(name)
        if wake is not None:
            wake.set()

    def config_as(self, kind: type[Config]) -> Config:
        """The service's configuration, checked to be of the type its code expects."""
        if not isinstance(self.config, kind):
            raise TypeError(f"the {self.service} runtime holds {type(self.config).__name__}, "
                            f"not {kind.__name__}")
        return self.config

    def area(self, area_id: str) -> Area:
        """An area this deployment serves, by an id the platform itself holds (an event's, a
        row's). An id from an API call goes through `auth.caller_area`, which answers an unknown
        area and another's alike."""
        found = self.areas.get(area_id)
        if found is None:
            raise InvalidInput("area_id", "Unknown area.",
                               detail="This deployment does not serve that area.")
        return found

    @contextmanager
    def unit_of_work(self, areas: frozenset[str] | None = None) -> Iterator[UnitOfWork]:
        with self.db.unit_of_work(areas) as session:
            uow = UnitOfWork(session=session, runtime=self)
            yield uow
        uow.run_committed_hooks()

    def open_unit_of_work(self, areas: frozenset[str] | None = None) -> UnitOfWork:
        """A unit of work the caller commits (or rolls back) and closes itself: an API call's,
        committed together with its audit record (marac_platform.audit)."""
        return UnitOfWork(session=self.db.session(areas), runtime=self)
