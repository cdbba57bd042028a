"""What the risk service is, in one place: its tables, its configuration from the areas file,
its API and the events it handles (marac_platform.service_spec)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask_smorest import Blueprint

from marac_platform.service_spec import ServiceSpec
from services.risk import config, handlers, models


def blueprints() -> Sequence[Blueprint]:
    # Imported when an app is built: a worker never loads the views.
    from services.risk import api

    return [api.blp]


SERVICE = ServiceSpec(
    name="risk",
    title="MARAC risk service",
    tables=models.TABLES,
    migrations=Path(__file__).parent / "migrations",
    app_factory="services.risk.app:create_app()",
    configure=config.configure,
    blueprints=blueprints,
    handlers=handlers.HANDLERS,
)
