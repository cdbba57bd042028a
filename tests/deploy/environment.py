"""The environment variables the platform's code reads, found in its source (every string
literal and f-string shaped like one under shared/ and services/), so that a deployment file
setting a name nothing reads (a typo, a renamed setting) fails a test."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHAPE = re.compile(r"^(?:(?:MARAC|KAFKA|OTEL)_[A-Z0-9_]+|[A-Z0-9_]*DATABASE_URL|WEB_CONCURRENCY)$")
# The OpenTelemetry SDK reads its own OTEL_* variables (the README says they apply as usual).
SDK_PREFIX = "OTEL_"


def _patterns(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SHAPE.match(node.value):
            found.add(re.escape(node.value))
        elif isinstance(node, ast.JoinedStr):
            # f"MARAC_{service.upper()}_PORT": any upper-case word where a value is formatted in.
            parts = [re.escape(part.value) if isinstance(part, ast.Constant) else "[A-Z0-9]+"
                     for part in node.values]
            pattern = "".join(parts)
            if SHAPE.match(pattern.replace("[A-Z0-9]+", "X")):
                found.add(pattern)
    return found


@cache
def settings_the_code_reads() -> Callable[[str], bool]:
    """Whether the code reads a variable of this name."""
    patterns: set[str] = set()
    for folder in ("shared", "services"):
        for path in (REPO / folder).rglob("*.py"):
            if "migrations" not in path.parts:
                patterns |= _patterns(ast.parse(path.read_text(encoding="utf-8")))
    known = re.compile("|".join(f"(?:{pattern})" for pattern in sorted(patterns)))

    def reads(name: str) -> bool:
        return name.startswith(SDK_PREFIX) or known.fullmatch(name) is not None

    return reads
