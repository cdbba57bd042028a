"""The information-and-updates document for people: HTML and PDF from one Jinja2 template.

The PDF (WeasyPrint) repeats the header (case reference, MARAC date, version) and the area's
confidentiality statement on every page; a browser shows the same blocks at the top and the
end of the HTML.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "updates.html.j2"
FOR_WHOM = {"victim": "Victim", "child": "Child", "perpetrator": "Perpetrator"}


@cache
def environment() -> Environment:
    # Autoescape: every value is what an agency typed, never markup.
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def html(content: dict[str, Any]) -> str:
    return environment().get_template(TEMPLATE).render(doc=content, for_whom=FOR_WHOM)


def pdf(content: dict[str, Any]) -> bytes:
    # Imported here: it loads Pango and HarfBuzz, which only rendering needs.
    from weasyprint import HTML

    rendered: bytes = HTML(string=html(content), base_url=str(TEMPLATES)).write_pdf()
    return rendered
