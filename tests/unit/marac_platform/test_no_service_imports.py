"""The shared library imports nothing from `services`: it is given the services' declarations
(services/registry.py). No import at module level or inside a function, no `importlib` call with
a `services...` name, and no string naming a `services.` module for something else to load (a
gunicorn app, say)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
DYNAMIC_IMPORTS = frozenset({"import_module", "__import__"})


def _names_services(module: str | None) -> bool:
    return module is not None and (module == "services" or module.startswith("services."))


def _leading_text(node: ast.expr) -> str | None:
    """The literal start of a module name given as a string or an f-string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def service_imports(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for every import of `services` anywhere in `source`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _names_services(alias.name):
                    yield node.lineno, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and _names_services(node.module):
                yield node.lineno, f"from {node.module} import ..."
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            text = _leading_text(node.args[0])
            if name in DYNAMIC_IMPORTS and text is not None and _names_services(text):
                yield node.lineno, f"{name}({text!r}...)"


def library_modules() -> list[Path]:
    return sorted(SHARED.rglob("*.py"))


def test_no_module_under_shared_imports_services() -> None:
    modules = library_modules()
    assert len(modules) > 40, "the scan found too few modules to mean anything"
    found = [f"{path.relative_to(SHARED)}:{line}: {what}"
             for path in modules
             for line, what in service_imports(path.read_text(encoding="utf-8"))]
    assert found == [], "\n".join(found)


def module_names(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) for every string (or f-string start) in `source` naming a `services.` module."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant | ast.JoinedStr):
            text = _leading_text(node)
            if text is not None and text.startswith("services."):
                yield node.lineno, text


def test_no_string_under_shared_names_a_service_module() -> None:
    found = sorted({f"{path.relative_to(SHARED)}:{line}: {text!r}"
                    for path in library_modules()
                    for line, text in module_names(path.read_text(encoding="utf-8"))})
    assert found == [], "\n".join(found)


def test_a_module_named_in_a_string_is_found() -> None:
    assert list(module_names('APP = f"services.{name}.app:create_app()"'))
    assert list(module_names('"services.referral.wiring:SERVICE"'))
    assert list(module_names('parser.add_argument("services", nargs="*")')) == []


@pytest.mark.parametrize("source", [
    "import services",
    "import services.referral.sample as sample",
    "from services.referral.sample import sample_referral",
    "from services import registry",
    "def run():\n    from services.referral.admin import retention_sweep\n",
    "import importlib\nimportlib.import_module('services.referral.service')",
    "import importlib\ndef part(s, p):\n    return importlib.import_module(f'services.{s}.{p}')",
    "from importlib import import_module\nimport_module(f'services.{name}')",
    "__import__('services.risk')",
])
def test_every_kind_of_import_is_found(source: str) -> None:
    assert list(service_imports(source)), source


@pytest.mark.parametrize("source", [
    "import servicesx",
    "from marac_platform import service_spec",
    "from .services import x",
    "import importlib\nimportlib.import_module('marac_platform.commands.keys')",
    "SERVICES = ('referral', 'risk')",
])
def test_other_imports_are_not_taken_for_one(source: str) -> None:
    assert list(service_imports(source)) == [], source
