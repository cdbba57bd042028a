"""One service process's runtime: settings, database, areas, and the unit of work use cases open."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from marac_platform import clock, outbox
from marac_platform.areas import Area, Areas, load_areas
from marac_platform.db import Database, PlatformTables
from marac_platform.errors import InvalidInput
from marac_platform.payloads import Payload
from marac_platform.settings import Settings, settings_for


@dataclass
class UnitOfWork:
    """A transaction plus the means to queue events in it (the outbox)."""

    session: Session
    runtime: Runtime
    committed_hooks: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once this unit of work has committed (never if it rolls back)."""
        self.committed_hooks.append(hook)

    def run_committed_hooks(self) -> None:
        hooks, self.committed_hooks = self.committed_hooks, []
        for hook in hooks:
            hook()

    @property
    def tables(self) -> PlatformTables:
        return self.runtime.tables

    def publish(self, event_type: str, *, subject: str, area: str,
                data: Mapping[str, Any] | Payload) -> str:
        return outbox.publish(
            self.session, self.runtime.tables, event_type, source=self.runtime.source,
            subject=subject, area=area, data=data,
        )


class Runtime:
    """Built once per process. `config` holds each service's parsed area sections."""

    def __init__(self, service: str, tables: PlatformTables, settings: Settings | None = None) -> None:
        self.service = service
        self.settings = settings or settings_for(service)
        clock.start_at(self.settings.clock_start)
        self.tables = tables
        self.areas: Areas = load_areas(self.settings.areas_file)
        self.db = Database(self.settings.database_url)
        self.source = f"/marac/{service}"
        self.config: dict[str, Any] = {}
        service_module = importlib.import_module(f"services.{service}.service")
        configure = getattr(service_module, "configure", None)
        if configure is not None:
            configure(self)  # validates the service's area sections: fail at start-up

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
