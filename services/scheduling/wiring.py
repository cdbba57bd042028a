"""What the scheduling service is, in one place: its tables, its configuration from the areas
file (the area calendars), its API, the events it handles and its timed jobs
(marac_platform.service_spec)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask_smorest import Blueprint

from marac_platform.service_spec import ServiceSpec
from services.scheduling import config, handlers, models


def blueprints() -> Sequence[Blueprint]:
    # Imported when an app is built: a worker never loads the views.
    from services.scheduling import api

    return [api.blp]


SERVICE = ServiceSpec(
    name="scheduling",
    title="MARAC scheduling service",
    tables=models.TABLES,
    migrations=Path(__file__).parent / "migrations",
    app_factory="services.scheduling.app:create_app()",
    configure=config.configure,
    blueprints=blueprints,
    handlers=handlers.HANDLERS,
    jobs=handlers.JOBS,
)
