"""Each service declared once (services/<name>/wiring.py), the registry mapping every name the
settings know to its declaration, and the CLI composing the services' own commands with the
library's."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from flask_smorest import Blueprint

from marac_platform import cli
from marac_platform.service_spec import Command, ServiceSpec
from marac_platform.settings import SERVICES as NAMES
from services.registry import SERVICES


def choices(parser: argparse.ArgumentParser) -> list[str]:
    (subparsers,) = (action for action in parser._actions
                     if isinstance(action, argparse._SubParsersAction))
    return list(subparsers.choices)


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (subparsers,) = (action for action in parser._actions
                     if isinstance(action, argparse._SubParsersAction))
    found: argparse.ArgumentParser = subparsers.choices[name]
    return found


def test_the_registry_declares_every_service_the_settings_know_in_their_order() -> None:
    assert list(SERVICES) == list(NAMES)
    for name, spec in SERVICES.items():
        assert isinstance(spec, ServiceSpec) and spec.name == name


@pytest.mark.parametrize("name", NAMES)
def test_a_declaration_names_what_its_service_is(name: str) -> None:
    spec = SERVICES[name]
    assert (spec.migrations / "env.py").is_file()
    assert spec.migrations == Path(__file__).resolve().parents[3] / "services" / name / "migrations"
    assert spec.app_factory == f"services.{name}.app:create_app()"
    blueprints = spec.blueprints()
    assert blueprints and all(isinstance(blueprint, Blueprint) for blueprint in blueprints)
    assert spec.handlers, "every service reacts to some event"
    assert spec.tables.audit is not None and spec.tables.outbox is not None


def test_timed_jobs_are_declared_by_the_services_that_have_them() -> None:
    assert {name for name, spec in SERVICES.items() if spec.jobs} == {
        "referral", "scheduling", "notify", "actions"}


def test_the_services_own_commands_join_the_librarys_in_their_places() -> None:
    parser = cli.build_parser(SERVICES)
    top = choices(parser)
    assert top.index("web") < top.index("demo") < top.index("token")
    assert choices(subparser(parser, "keys"))[0] == "retention-sweep"
    assert {"rotate-area", "rewrap", "status"} <= set(choices(subparser(parser, "keys")))


def test_without_the_services_the_library_offers_only_its_own_commands() -> None:
    parser = cli.build_parser()
    assert "demo" not in choices(parser)
    assert "retention-sweep" not in choices(subparser(parser, "keys"))
    args = parser.parse_args(["worker", "risk"])
    with pytest.raises(cli.CommandError, match="no declaration of the risk service"):
        cli.spec_of(args, "risk")


def test_a_command_for_a_group_marac_does_not_have_is_refused() -> None:
    def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        subparsers.add_parser("stray")

    spec = SERVICES["risk"]
    odd = ServiceSpec(name=spec.name, title=spec.title, tables=spec.tables,
                      migrations=spec.migrations, app_factory=spec.app_factory,
                      commands=[Command(register, group="nowhere")])
    with pytest.raises(ValueError, match="'nowhere'"):
        cli.build_parser({"risk": odd})


def test_a_service_reads_its_typed_configuration_from_the_areas_file() -> None:
    from marac_platform.areas import load_areas
    from marac_platform.runtime import Runtime
    from marac_platform.settings import load_settings
    from services.risk.config import RiskConfig
    from services.scheduling.config import SchedulingConfig

    areas = load_areas(Path(__file__).resolve().parents[3] / "deploy" / "areas.yaml")
    risk = SERVICES["risk"].configure(areas, load_settings("risk", {}))
    assert isinstance(risk, RiskConfig) and set(risk.policies) == areas.ids()
    scheduling = SERVICES["scheduling"].configure(areas, load_settings("scheduling", {}))
    assert isinstance(scheduling, SchedulingConfig) and set(scheduling.calendars) == areas.ids()
    from services.notify.config import NotifyConfig

    notify = SERVICES["notify"].configure(areas, load_settings("notify", {}))
    assert isinstance(notify, NotifyConfig) and set(notify.areas) == areas.ids()

    runtime = Runtime.__new__(Runtime)  # what config_as checks, without a database
    runtime.service, runtime.config = "risk", risk
    assert runtime.config_as(RiskConfig) is risk
    with pytest.raises(TypeError, match="holds RiskConfig, not SchedulingConfig"):
        runtime.config_as(SchedulingConfig)


def test_the_console_is_a_web_app_beside_the_services_not_one_of_them() -> None:
    from marac_platform.launcher import Platform
    from marac_platform.settings import WEB_APPS, service_port
    from services.registry import APPS, PROGRAM

    assert list(APPS) == list(WEB_APPS) == ["console"]
    assert "console" not in SERVICES and "console" not in NAMES  # no tables, topics, worker
    assert APPS["console"].app_factory == "services.console.app:create_app()"
    assert service_port("console", {}) == 8000  # where MARAC_PUBLIC_URL points by default
    parser = cli.build_parser(SERVICES, PROGRAM, APPS)
    assert parser.parse_args(["web", "console"]).apps == dict(APPS)
    run = parser.parse_args(["run"])
    assert run.services == [*NAMES, "console"]
    assert Platform(env={}, log_dir=Path("."), apps=["console"]).url("console") == \
        "http://127.0.0.1:8000"
