"""What the referral service is, in one place: its tables, its configuration from the areas
file, its API, the events it handles and its own operator commands (marac_platform.service_spec)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask_smorest import Blueprint

from marac_platform.service_spec import Command, ServiceSpec
from services.referral import commands, config, demo, handlers, models


def blueprints() -> Sequence[Blueprint]:
    # Imported when an app is built: a worker never loads the views.
    from services.referral import admin, api, api_reports, transfers_api

    return [api.blp, admin.blp, api_reports.blp, transfers_api.blp]


SERVICE = ServiceSpec(
    name="referral",
    title="MARAC referral service",
    tables=models.TABLES,
    migrations=Path(__file__).parent / "migrations",
    app_factory="services.referral.app:create_app()",
    configure=config.configure,
    blueprints=blueprints,
    handlers=handlers.HANDLERS,
    jobs=handlers.JOBS,
    commands=[Command(demo.register), Command(commands.register_retention_sweep, group="keys")],
)
