"""The services of the platform by name, the one place that maps a name to its declaration
(services/<name>/wiring.py), and the `marac` command, composing the library's commands with them.

The library (marac_platform) imports nothing from `services`: what it runs, it is given here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from marac_platform import cli
from marac_platform.service_spec import ServiceSpec, WebAppSpec
from services.actions.wiring import SERVICE as ACTIONS
from services.console.wiring import APP as CONSOLE
from services.notify.wiring import SERVICE as NOTIFY
from services.referral.wiring import SERVICE as REFERRAL
from services.risk.wiring import SERVICE as RISK
from services.scheduling.wiring import SERVICE as SCHEDULING

SERVICES: Mapping[str, ServiceSpec] = {
    spec.name: spec for spec in (REFERRAL, RISK, SCHEDULING, ACTIONS, NOTIFY)
}

# Web front ends: a web process each, calling the services' APIs (no tables, topics, worker).
APPS: Mapping[str, WebAppSpec] = {app.name: app for app in (CONSOLE,)}

# How a child process (`marac run`'s web and worker processes) runs the `marac` command.
PROGRAM: Sequence[str] = (sys.executable, "-m", "services")


def main(argv: Sequence[str] | None = None) -> int:
    """The `marac` command."""
    return cli.main(argv, services=SERVICES, program=PROGRAM, apps=APPS)
