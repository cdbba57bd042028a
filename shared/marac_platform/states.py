"""Status enums with one move table each: every status change goes through `MoveTable.move`."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Generic, TypeVar

from marac_platform.errors import IllegalMove

S = TypeVar("S", bound=StrEnum)


class MoveTable(Generic[S]):
    """The moves one kind of record may make: status -> statuses it may become."""

    def __init__(self, what: str, moves: Mapping[S, frozenset[S]]) -> None:
        self.what = what  # "meeting", "allocation": names the record in the error
        self.moves: Mapping[S, frozenset[S]] = MappingProxyType(dict(moves))

    def allows(self, current: S, asked: S) -> bool:
        return asked in self.moves.get(current, frozenset())

    def move(self, current: S, asked: S) -> S:
        """`asked` if the table allows it from `current`; else IllegalMove (409)."""
        if not self.allows(current, asked):
            raise IllegalMove(self.what, current, asked)
        return asked

    def sources(self, asked: S) -> frozenset[S]:
        """Every status from which `asked` may be reached (for conditional UPDATEs)."""
        return frozenset(status for status, targets in self.moves.items() if asked in targets)
