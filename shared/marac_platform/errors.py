"""Domain errors: what a use case raises when it refuses, with no HTTP status in sight.

`marac_platform/http.py` maps each kind to problem+json in one place (NotFound 404,
Conflict and IllegalMove 409, InvalidInput 422, Gone 410). Messages name ids, fields and
states, never a person's details: they may reach logs and response bodies.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class DomainError(Exception):
    """A use case refused. `detail` is safe to show the caller; `slug` names the problem type."""

    slug: str | None = None

    def __init__(self, detail: str, *, slug: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if slug is not None:
            self.slug = slug


class NotFound(DomainError):
    """Nothing the caller may see has that id (another area's record is not found either)."""


class Gone(DomainError):
    """It existed and was erased."""


class Conflict(DomainError):
    """The request is well formed but the record's state does not allow it now."""


class InvalidInput(DomainError):
    """A value the caller sent breaks a rule: each error names the field and the reason."""

    def __init__(self, field: str, reason: str, *, detail: str | None = None,
                 more: Iterable[tuple[str, str]] = (), slug: str | None = None) -> None:
        super().__init__(detail or reason, slug=slug)
        self.errors = [{"field": field, "reason": reason},
                       *({"field": f, "reason": r} for f, r in more)]


class IllegalMove(Conflict):
    """A status change its move table does not allow: says the current and the asked state."""

    slug = "illegal-move"

    def __init__(self, what: str, current: StrEnum, asked: StrEnum) -> None:
        super().__init__(f"A {what} that is {current.value} cannot become {asked.value}.")
        self.what = what
        self.current = current
        self.asked = asked
