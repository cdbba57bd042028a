"""Rendering a notice: one Jinja2 template per kind (`templates/<kind>.j2`, blocks `subject` and
`body`), wrapped in a plain-text and an HTML layout. An area may override any of them with a
folder of its own (its `notify.templates` key); the rest come from this package."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)

from services.notify.notices import KINDS

LAYOUTS: Final = ("_layout.txt.j2", "_layout.html.j2")

# Facts of every kind as its notice builder gives them (tests/unit/notify holds the two
# together): a start-up render of every template with these catches an area's typo.
SAMPLE_FACTS: Final[Mapping[str, Mapping[str, Any]]] = {
    "case_scheduled": {"referral_id": "ref-1", "marac_date": "2026-12-08", "beyond_target": True},
    "case_rescheduled": {"referral_id": "ref-1", "marac_date": "2026-12-08",
                         "beyond_target": False},
    "referral_returned": {"screening_step": "", "reason_codes": ["below_threshold"]},
    "updates_published": {"version": 2, "marac_date": "2026-12-08"},
    "caselist_published": {"marac_date": "2026-12-08", "edition": 0, "count": 3,
                           "confidentiality_statement": "Confidential."},
    "caselist_addendum": {"marac_date": "2026-12-08", "edition": 1, "count": 4,
                          "confidentiality_statement": "Confidential."},
    "meeting_cancelled": {"marac_date": "2026-12-08", "moved": 2, "waiting": 1},
    "research_owed": {"deadline": "17:00 on 07 December 2026"},
    "research_reminder": {"deadline": "17:00 on 07 December 2026"},
    "action_assigned": {"due_by": "2026-12-22", "status": "agreed"},
    "action_due_soon": {"due_by": "2026-12-22", "days_overdue": -3, "step": "due_soon"},
    "action_overdue": {"due_by": "2026-12-22", "days_overdue": 1, "step": "overdue"},
    "action_escalated": {"due_by": "2026-12-22", "days_overdue": 7, "step": "escalated_7"},
    "transfer_requested": {"from_area": "northshire", "reason": "moved_permanently"},
    "transfer_accepted": {"to_area": "southshire", "decline_reason": ""},
    "transfer_declined": {"to_area": "southshire", "decline_reason": "not_resident"},
    "transfer_failed": {"to_area": "westshire", "attempts": 8, "reason_code": "unreachable"},
    "referral_held": {"grounds": ["name:initial", "dob:exact"]},
}


class TemplateProblem(Exception):
    """An area's template does not compile or render; names the template, never the data."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def environment(override: Path | None = None) -> Environment:
    package = PackageLoader("services.notify", "templates")
    loader = ChoiceLoader([FileSystemLoader(override), package]) if override else package
    # Kinds and the text layout are plain text; only the HTML layout escapes what it is given.
    return Environment(loader=loader, undefined=StrictUndefined, keep_trailing_newline=False,
                       autoescape=select_autoescape(enabled_extensions=("html.j2",),
                                                    default_for_string=False, default=False))


def _one_line(text: str) -> str:
    """A subject is one header line: no newline can smuggle in another header."""
    return re.sub(r"\s+", " ", text).strip()[:200]


def render(env: Environment, kind: str, context: Mapping[str, Any]) -> Rendered:
    template = env.get_template(f"{kind}.j2")
    bound = template.new_context(dict(context))
    subject = _one_line("".join(template.blocks["subject"](bound)))
    body = "".join(template.blocks["body"](bound)).strip()
    shared = {**context, "subject": subject}
    text = env.get_template(LAYOUTS[0]).render(body=body, **shared)
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
    html = env.get_template(LAYOUTS[1]).render(paragraphs=paragraphs, **shared)
    return Rendered(subject=subject, text=text.strip() + "\n", html=html)


def check(env: Environment, where: str) -> None:
    """Render every kind with sample facts; a broken template stops the process at start-up."""
    for kind in KINDS:
        context = {**SAMPLE_FACTS[kind], "reference": "case-1", "case_id": "case-1",
                   "link": "https://marac.example/cases/case-1", "area_name": "Sample MARAC"}
        try:
            template = env.get_template(f"{kind}.j2")
            missing = {"subject", "body"} - set(template.blocks)
            if missing:
                raise TemplateProblem(f"{where}: {kind}.j2: needs blocks {sorted(missing)}")
            render(env, kind, context)
        except TemplateError as exc:
            raise TemplateProblem(f"{where}: {kind}.j2: {type(exc).__name__}: {exc.message}"
                                  ) from None
