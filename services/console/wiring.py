"""The console declared: a web process only (no tables, events, worker or migrations)."""

from __future__ import annotations

from marac_platform.service_spec import WebAppSpec

APP = WebAppSpec(name="console", title="MARAC console",
                 app_factory="services.console.app:create_app()")
