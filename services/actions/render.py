"""The information-and-updates document for people: HTML and PDF from one Jinja2 template.

The PDF (WeasyPrint) repeats the header (case reference, MARAC date, version) and the area's
confidentiality statement on every page; a browser shows the same blocks at the top and the
end of the HTML.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from marac_platform.clock import UK

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "updates.html.j2"
# fontTools (under WeasyPrint) logs every table of every font it subsets at INFO, and
# WeasyPrint warns on every render where HarfBuzz's subsetter is older than it would like.
logging.getLogger("fontTools").setLevel(logging.WARNING)
logging.getLogger("weasyprint").setLevel(logging.ERROR)
FOR_WHOM = {"victim": "Victim", "child": "Child", "perpetrator": "Perpetrator"}


def when(value: str | None) -> str:
    """An ISO instant as UK local time, e.g. `7 Jan 2030 16:59`."""
    if not value:
        return ""
    local = datetime.fromisoformat(value).astimezone(UK)
    return f"{local.day} {local:%b %Y %H:%M}"


def day(value: str) -> str:
    """An ISO date as `8 Jan 2030`."""
    parsed = date.fromisoformat(value)
    return f"{parsed.day} {parsed:%b %Y}"


@cache
def environment() -> Environment:
    # Autoescape: every value is what an agency typed, never markup.
    built = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    built.filters.update(when=when, day=day)
    return built


def html(content: dict[str, Any]) -> str:
    return environment().get_template(TEMPLATE).render(doc=content, for_whom=FOR_WHOM)


def pdf(content: dict[str, Any]) -> bytes:
    # Imported here: it loads Pango and HarfBuzz, which only rendering needs.
    from weasyprint import HTML

    rendered: bytes = HTML(string=html(content), base_url=str(TEMPLATES)).write_pdf()
    return rendered
