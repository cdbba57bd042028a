"""Each kind of domain error becomes its problem+json status in the one mapping."""

from __future__ import annotations

from enum import StrEnum

import pytest

from marac_platform.errors import Conflict, DomainError, Gone, IllegalMove, InvalidInput, NotFound
from marac_platform.problems import domain_problem


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@pytest.mark.parametrize(("error", "status"), [
    (NotFound("No such case."), 404),
    (Gone("This case has been erased.", slug="case-erased"), 410),  # had no title: a KeyError
    (Conflict("Not now."), 409),
    (InvalidInput("due_by", "Must be today or later."), 422),
    (IllegalMove("action", Colour.RED, Colour.BLUE), 409),
])
def test_every_domain_error_has_its_status_and_a_title(error: DomainError, status: int) -> None:
    problem = domain_problem(error)
    assert problem.code == status
    assert problem.title
    assert problem.description == error.detail


def test_an_illegal_move_names_the_current_and_the_asked_status() -> None:
    problem = domain_problem(IllegalMove("action", Colour.RED, Colour.BLUE))
    assert problem.extra_body == {"current": "red", "asked": "blue"}
