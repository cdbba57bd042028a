"""What a service is, declared in one place (`services/<name>/wiring.py`: `SERVICE = ServiceSpec(...)`).

The runtime, the worker, the migrations, the app factory and the CLI take this declaration;
the library imports nothing of a service by name (a unit test holds it to that).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from marac_platform.areas import Areas
from marac_platform.db import PlatformTables
from marac_platform.settings import Settings

if TYPE_CHECKING:
    from flask_smorest import Blueprint

    from marac_platform.consumer import Handler
    from marac_platform.runtime import Runtime

    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


@dataclass(frozen=True)
class Job:
    """Timed work. It must be safe with several replicas (a row lock or a unique key)."""

    name: str
    interval_s: float
    run: Callable[[Runtime], None]


@dataclass(frozen=True)
class Command:
    """An operator command a service adds to `marac`: `register(subparsers)` adds it under the
    library command `group` (e.g. "keys": `marac keys retention-sweep`), or, without a group,
    as a command of its own (`marac demo`)."""

    register: Callable[[SubParsers], None]
    group: str | None = None


def no_config(_areas: Areas, _settings: Settings) -> None:
    """The configuration of a service that reads no section of the areas file."""
    return None


def no_blueprints() -> Sequence[Blueprint]:
    return ()


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its name, tables, configuration, API, event handlers, timed jobs, commands.

    `configure(areas, settings)` builds the service's typed configuration from its sections of
    the areas file when a process starts (a wrong value stops it there); the runtime keeps it as
    `runtime.config`. `blueprints()` is called only when an app is built, so a worker never
    loads the views. `app_factory` is where gunicorn finds the service's app
    (`module:create_app()`): a web process is a fresh interpreter, and that is its entry point.
    """

    name: str
    title: str
    tables: PlatformTables
    migrations: Path
    app_factory: str
    configure: Callable[[Areas, Settings], object] = no_config
    blueprints: Callable[[], Sequence[Blueprint]] = no_blueprints
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    jobs: Sequence[Job] = ()
    commands: Sequence[Command] = ()


@dataclass(frozen=True)
class WebAppSpec:
    """A web front end (the console): only a web process, no tables, events, worker or
    migrations. It reads and writes through the services' public APIs."""

    name: str
    title: str
    app_factory: str
