"""Pooled PostgreSQL connections: one the server dropped while it sat idle is replaced before it
is used; one returned a moment ago is handed out without a ping (that round trip, on every
checkout, cost up to a seventh of the CPU per referral in a burst), so a drop mid-burst fails
one transaction, which its caller retries."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from marac_platform import db as db_module
from marac_platform.db import Database
from tests.support.infra import PostgresServer, unique


def drop_connections(postgres: PostgresServer, database: str) -> int:
    """What a restart or a failover does to the pool: the server ends every session."""
    with psycopg.connect(host=postgres.host, port=postgres.port, user=postgres.user,
                         password=postgres.password, dbname="postgres", autocommit=True) as admin:
        rows = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchall()
    return len(rows)


def select_one(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text("SELECT 1")).scalar_one())


def test_a_connection_dropped_while_idle_is_replaced_and_a_busy_one_is_not_pinged(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique("pool")
    postgres.create_database(name)
    database = Database(postgres.url(name))
    try:
        assert select_one(database) == 1
        assert drop_connections(postgres, name) == 1
        # Returned a moment ago: handed out as it is, and its statement meets the drop.
        with pytest.raises(OperationalError):
            select_one(database)
        assert select_one(database) == 1  # the pool let the dead one go
        assert drop_connections(postgres, name) == 1
        monkeypatch.setattr(db_module, "IDLE_PING_S", 0.0)  # as if it had sat idle since
        assert select_one(database) == 1  # pinged, found dead, replaced: no error
    finally:
        database.engine.dispose()
