"""Which handler errors are a database outage (waited out, the event read again) and which are
the event's own (retried, then dead-lettered)."""

from __future__ import annotations

from sqlalchemy import exc

from marac_platform.db import database_unavailable
from marac_platform.events import MalformedEvent


def test_lost_or_refused_connections_are_an_outage() -> None:
    assert database_unavailable(exc.OperationalError("SELECT 1", {}, Exception("refused")))
    assert database_unavailable(exc.InterfaceError("SELECT 1", {}, Exception("closed")))
    assert database_unavailable(exc.DBAPIError("SELECT 1", {}, Exception("x"),
                                               connection_invalidated=True))


def test_the_events_own_errors_are_not() -> None:
    assert not database_unavailable(exc.IntegrityError("INSERT", {}, Exception("unique")))
    assert not database_unavailable(exc.DataError("INSERT", {}, Exception("range")))
    assert not database_unavailable(MalformedEvent("value is not JSON"))
    assert not database_unavailable(ValueError("a handler's bug"))
