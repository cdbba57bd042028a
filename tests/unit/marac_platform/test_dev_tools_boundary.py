"""The runtime library does not depend on the development tools (marac_devinfra, devtools/):
no module of marac_platform imports them when it is imported, the CLI offers their commands
only where they are installed, and `marac run` says in one line what to do without them."""

from __future__ import annotations

import argparse
import ast
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import pytest

from marac_platform import cli

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = ROOT / "shared" / "marac_platform"
DEV_PACKAGE = "marac_devinfra"
# The one import of the dev package the runtime library may make, at call time: `marac run`
# starting a local broker when no cluster is configured (the CLI loads the dev commands by
# name through importlib, with no import statement, and skips them when they are absent).
LAZY_IMPORTS_ALLOWED = {("commands/run.py", "run")}


def dev_imports(tree: ast.Module) -> Iterator[tuple[ast.stmt, str | None]]:
    """Each import of the dev package, with the function it sits in (None: module level)."""

    def visit(node: ast.AST, function: str | None) -> Iterator[tuple[ast.stmt, str | None]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                if isinstance(child, ast.Import):
                    names = [alias.name for alias in child.names]
                else:
                    names = [child.module or ""] if child.level == 0 else []
                if any(name.split(".")[0] == DEV_PACKAGE for name in names):
                    yield child, function
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from visit(child, child.name)
            else:
                yield from visit(child, function)

    yield from visit(tree, None)


def test_no_runtime_module_imports_the_dev_package_at_import_time() -> None:
    found: list[str] = []
    modules = sorted(LIBRARY.rglob("*.py"))
    assert len(modules) > 30
    for path in modules:
        relative = path.relative_to(LIBRARY).as_posix()
        for node, function in dev_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if function is None or (relative, function) not in LAZY_IMPORTS_ALLOWED:
                where = "at import time" if function is None else f"in {function}()"
                found.append(f"{relative}:{node.lineno} imports {DEV_PACKAGE} {where}")
    assert found == []


def test_the_scan_sees_module_level_and_nested_imports() -> None:
    tree = ast.parse(
        "import marac_devinfra\n"
        "if True:\n    from marac_devinfra.kafka import LocalKafka\n"
        "def run():\n    from marac_devinfra import processes\n"
        "from marac_platform import ports\n"
    )
    assert [(node.lineno, function) for node, function in dev_imports(tree)] == [
        (1, None), (3, None), (5, "run")]


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_the_cli_offers_kafka_and_postgres_where_the_dev_package_is_installed() -> None:
    commands = subcommands(cli.build_parser())
    assert {"kafka", "postgres", "run", "migrate", "web", "worker"} <= commands


class _NotInstalled(importlib.abc.MetaPathFinder):
    """Makes the dev package absent, as in the production image: importing it raises what a
    missing package raises."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] == DEV_PACKAGE:
            raise ModuleNotFoundError(f"No module named {DEV_PACKAGE!r}", name=DEV_PACKAGE)
        return None


@pytest.fixture
def without_dev_package(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] == DEV_PACKAGE]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NotInstalled(), *sys.meta_path])
    with pytest.raises(ModuleNotFoundError):
        __import__(DEV_PACKAGE)


@pytest.mark.usefixtures("without_dev_package")
def test_without_the_dev_package_the_cli_simply_does_not_offer_its_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = subcommands(cli.build_parser())
    assert "kafka" not in commands and "postgres" not in commands
    assert {"run", "migrate", "topics", "web", "worker", "keys"} <= commands
    with pytest.raises(SystemExit) as exited:
        cli.main(["kafka", "start"])
    assert exited.value.code == 2  # argparse: invalid choice, no traceback
    assert "invalid choice: 'kafka'" in capsys.readouterr().err


@pytest.mark.usefixtures("without_dev_package")
def test_marac_run_without_the_dev_package_or_a_cluster_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("MARAC_DATA_DIR", str(tmp_path))
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("marac run: KAFKA_BOOTSTRAP_SERVERS is not set")
    assert DEV_PACKAGE in err
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written
