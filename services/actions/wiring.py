"""What the actions service is, in one place: its tables, its API and the events it handles
(marac_platform.service_spec): its tables, its `actions` section of the areas file, its
API, the events it handles and its timed jobs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask_smorest import Blueprint

from marac_platform.service_spec import ServiceSpec
from services.actions import config, handlers, models


def blueprints() -> Sequence[Blueprint]:
    # Imported when an app is built: a worker never loads the views.
    from services.actions import api, api_reports

    return [api.blp, api_reports.blp]


SERVICE = ServiceSpec(
    name="actions",
    title="MARAC actions service",
    tables=models.TABLES,
    migrations=Path(__file__).parent / "migrations",
    app_factory="services.actions.app:create_app()",
    configure=config.configure,
    blueprints=blueprints,
    handlers=handlers.HANDLERS,
    jobs=handlers.JOBS,
)
