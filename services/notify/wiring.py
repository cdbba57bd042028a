"""What the notify service is, in one place: its tables, its `notify` section of the areas file
(coordinators, template overrides) with the agency directories, its API, the events it handles
and its timed delivery job (marac_platform.service_spec)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask_smorest import Blueprint

from marac_platform.service_spec import ServiceSpec
from services.notify import config, handlers, models


def blueprints() -> Sequence[Blueprint]:
    # Imported when an app is built: a worker never loads the views.
    from services.notify import api

    return [api.blp]


SERVICE = ServiceSpec(
    name="notify",
    title="MARAC notify service",
    tables=models.TABLES,
    migrations=Path(__file__).parent / "migrations",
    app_factory="services.notify.app:create_app()",
    configure=config.configure,
    blueprints=blueprints,
    handlers=handlers.HANDLERS,
    jobs=handlers.JOBS,
)
