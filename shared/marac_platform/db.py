"""Database plumbing shared by every service: engine, unit of work, area scoping, platform tables."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

from marac_platform import clock

log = logging.getLogger(__name__)

# A WAL checkpoint waits (busy timeout) for readers of an older snapshot; if one still holds
# it afterwards, it is tried again this many times before the caller is told.
CHECKPOINT_ATTEMPTS = 3

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id(prefix: str) -> str:
    """A new opaque row id, e.g. `ref-3f2a...`: random, so it says nothing about the case."""
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def utcnow() -> datetime:
    """The platform clock's now (see marac_platform/clock.py)."""
    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING)


class AreaScoped:
    """Mixin for every table holding case data: queries see only the caller's areas."""

    area_id: Mapped[str] = mapped_column(String(64), index=True)


class PlatformTables:
    """Outbox, inbox, idempotency keys and audit trail: the same tables in every service database."""

    def __init__(self, metadata: MetaData) -> None:
        self.outbox = Table(
            "outbox",
            metadata,
            # The integer id orders the relay; the event id is what consumers dedupe on.
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("event_id", String(36), nullable=False, unique=True),
            Column("topic", String(200), nullable=False),
            Column("message_key", String(200), nullable=True),
            Column("headers", JSON, nullable=False),
            Column("value", LargeBinary, nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("sent_at", UTCDateTime, nullable=True),
            Index("ix_outbox_unsent", "sent_at", "id"),
        )
        self.inbox = Table(
            "inbox",
            metadata,
            Column("event_id", String(36), primary_key=True),
            Column("event_type", String(200), nullable=False),
            Column("topic", String(200), nullable=False),
            Column("received_at", UTCDateTime, nullable=False),
        )
        self.idempotency = Table(
            "idempotency_keys",
            metadata,
            Column("subject", String(200), primary_key=True),
            Column("key", String(200), primary_key=True),
            Column("request_hash", String(64), nullable=False),
            Column("status", Integer, nullable=False),
            Column("body", JSON, nullable=False),
            Column("location", String(500), nullable=True),
            Column("created_at", UTCDateTime, nullable=False),
        )
        self.audit = Table(
            "audit_log",
            metadata,
            Column("seq", Integer, primary_key=True, autoincrement=False),
            Column("at", UTCDateTime, nullable=False),
            Column("subject", String(200), nullable=False),
            Column("agency", String(200), nullable=False),
            Column("role", String(50), nullable=False),
            Column("area_id", String(64), nullable=True),
            Column("case_id", String(64), nullable=True, index=True),
            Column("resource", String(100), nullable=False),
            Column("action", String(50), nullable=False),
            Column("outcome", String(50), nullable=False),
            Column("source_ip", String(64), nullable=True),
            Column("trace_id", String(32), nullable=True),
            Column("prev_hash", String(64), nullable=False),
            Column("hash", String(64), nullable=False),
        )


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here; other drivers are not installed."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or SQLite in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_private(path: Path) -> None:
    """A SQLite file only its owner can read: created 0600 before SQLite opens it.

    SQLite creates its -wal and -shm files with the database file's permissions; files left
    0644 by an older version are tightened here too. A folder this creates is 0700.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if name.stat().st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            continue


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            make_private(path)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the web and worker processes of one service share the file.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted or overwritten content is zeroed, not left in free space: erasure
            # (keys, cleared forms) must leave nothing behind in the file.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    engine = create_engine(url, pool_size=5, max_overflow=5)
    _ping_when_idle(engine)
    return engine


# A pooled connection unused this long is pinged before it is handed out (a database restarted
# or failed over while it sat idle). Not on every checkout (`pool_pre_ping`): that round trip,
# on each of the many short transactions, cost up to a seventh of the CPU per referral in a
# burst; a connection lost mid-burst fails its transaction instead, which consumers retry and
# the web answers 503 (http.py).
IDLE_PING_S = 10.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < IDLE_PING_S:
            return  # new, or in use a moment ago
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()  # hand it out outside any transaction, as it came back
        except Exception as exc:
            # The pool drops this connection and checks out another (up to three times).
            raise DisconnectionError(type(exc).__name__) from exc


def database_unavailable(exc: BaseException) -> bool:
    """A connection-level failure of the database, not of the event: OperationalError (a lost
    or refused connection, a server shutting down, a lock or serialization conflict),
    InterfaceError, or any driver error that invalidated its connection."""
    if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class PurgeIncomplete(Exception):
    """Old copies of erased data could not be removed from the write-ahead log yet; retry."""


RELAYED_HERE = "marac_relayed_here"  # session.info: this process relays its outbox rows


class Database:
    """One service's database: engine, sessions, and a readiness check."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.sessions, "do_orm_execute", _scope_to_areas)
        # Set by a worker whose own relay publishes this database's outbox rows and is woken
        # in-process (Runtime.outbox_committed): its commits need not NOTIFY (marac_platform.outbox).
        self.relayed_here = False

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def session(self, areas: frozenset[str] | None = None) -> Session:
        """A session whose ORM queries on AreaScoped tables see only `areas` (None: every area)."""
        session = self.sessions()
        if areas is not None:
            session.info["areas"] = areas
        if self.relayed_here:
            session.info[RELAYED_HERE] = True
        return session

    @contextmanager
    def unit_of_work(self, areas: frozenset[str] | None = None) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any error.

        `areas` limits every ORM query on an AreaScoped table to those areas; None means an
        internal caller (an event handler or a timed job) that sees every area.
        """
        session = self.session(areas)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def purge_deleted(self) -> None:
        """After an erasure has committed: leave no earlier copy of what it removed.

        On SQLite the old pages stay in the write-ahead log until a checkpoint; TRUNCATE copies
        the log into the file (where secure_delete has zeroed freed space) and empties it. It
        waits for readers of older snapshots; if one outlasts every attempt, PurgeIncomplete.
        PostgreSQL keeps dead tuples until VACUUM and WAL in its archives: see the README.
        """
        if self.engine.dialect.name != "sqlite" or sqlite_path(self.url) is None:
            return
        for attempt in range(CHECKPOINT_ATTEMPTS):
            with self.engine.connect() as connection:
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
            if not busy:
                return
            time.sleep(0.1 * (attempt + 1))
        log.error("write-ahead log not emptied after an erasure", extra={"reason_code": "wal_busy"})
        raise PurgeIncomplete("the write-ahead log is still in use by a reader")

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _scope_to_areas(state: ORMExecuteState) -> None:
    areas = state.session.info.get("areas")
    if areas is None or state.is_column_load or state.is_relationship_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        allowed = sorted(areas)  # a closure variable, so it is bound per query, not cached
        state.statement = state.statement.options(
            with_loader_criteria(
                AreaScoped,
                lambda cls: cls.area_id.in_(allowed),
                include_aliases=True,
            )
        )

