"""JSON request bodies every service accepts: parsed once, refused whole when they cannot be stored.

Python's parser takes JSON that no view can use safely: nesting deep enough to exhaust the
recursion limit (a 500 from anywhere) and strings holding lone UTF-16 surrogates (`"\\ud800"`),
which no database driver, cipher or JSON encoder downstream accepts. Refusing them here, before
any view runs, means no half-done work (a case key made, a row written) is ever left behind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from marac_platform.problems import Problem

# Far deeper than any form (a referral is five levels) and far below the recursion limit.
MAX_DEPTH = 32
# A lone surrogate, or NUL (PostgreSQL cannot store it in text; the path and query refuse it too).
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def _path(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(body)"


def _walk(value: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, problem) of every offending place; iterative, so depth cannot overflow it."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if len(path) > MAX_DEPTH:
            yield path[:MAX_DEPTH], f"Nested deeper than {MAX_DEPTH} levels."
            continue
        if isinstance(item, dict):
            for key, child in item.items():
                if _UNSTORABLE.search(key):
                    yield (*path, "(key)"), _reason(key)
                    continue
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, index), child) for index, child in enumerate(item))
        elif isinstance(item, str) and _UNSTORABLE.search(item):
            yield path, _reason(item)


def _reason(text: str) -> str:
    if "\x00" in text:
        return "NUL characters are not allowed."
    return "Not valid Unicode: holds a lone surrogate (\\ud800-\\udfff)."


def check_json(raw: bytes) -> Any:
    """The parsed body, or a 400 problem naming each field that cannot be taken and why."""
    try:
        parsed = json.loads(raw)
    except RecursionError:
        raise Problem(400, "Bad request", "The request body is nested too deeply.", errors=[
            {"field": "(body)", "reason": f"Nested deeper than {MAX_DEPTH} levels."}]) from None
    except (ValueError, UnicodeDecodeError):
        return None  # not JSON at all: the view's own parsing answers that (400)
    errors = [{"field": _path(path), "reason": reason}
              for path, reason in sorted(_walk(parsed), key=lambda found: _path(found[0]))]
    if errors:
        raise Problem(400, "Bad request", "The request body holds values that cannot be used.",
                      errors=errors[:20])
    return parsed
