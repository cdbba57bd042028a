"""Each service's audit trail in its `audit_log` table: appending to the hash chain, verifying
it, and anchoring its head in the key store's database."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from marac_platform.audit.keys import AuditUnavailable, audit_key
from marac_platform.db import Database, utcnow
from marac_platform.runtime import Runtime
from marac_platform.security.audit_chain import (
    GENESIS_HASH,
    AuditRecord,
    ChainCheck,
    Head,
    Link,
    next_record,
    utc_iso,
    verify_chain,
)
from marac_platform.settings import Settings

log = logging.getLogger("marac_platform.audit")  # one logger for the whole trail

# pg_advisory_xact_lock key serialising appends (each service has its own database).
LOCK_KEY = 0x6D61726163617564  # "maracaud"
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
APPEND_ATTEMPTS = 5


@dataclass(frozen=True)
class Entry:
    """One audited access before it is chained: ids and codes only."""

    subject: str
    agency: str
    role: str
    resource: str
    action: str
    outcome: str
    case_id: str | None = None
    area_id: str | None = None
    source_ip: str | None = None
    trace_id: str | None = None


def _writing(connection: Connection) -> bool:
    """SQLite: this transaction has written already, so it holds the database's write lock
    (pysqlite begins a transaction only at the first INSERT, UPDATE or DELETE)."""
    return bool(getattr(connection.connection.dbapi_connection, "in_transaction", False))


def _record(row: Row[Any]) -> AuditRecord:
    return AuditRecord(
        seq=row.seq, at=utc_iso(row.at), subject=row.subject, agency=row.agency, role=row.role,
        case_id=row.case_id, resource=row.resource, action=row.action, outcome=row.outcome,
        source_ip=row.source_ip, trace_id=row.trace_id, prev_hash=row.prev_hash, hash=row.hash,
        area_id=row.area_id,
    )


class AnchorForged(Exception):
    """The anchored head does not carry a valid MAC: someone wrote it without the audit key."""


class AuditAnchors:
    """Each service's anchored chain head, in a database apart from the service's own.

    Written after each append (after its commit: it may lag, never lead) and only forwards, so
    a head read before the chain is read is one the chain must reach.
    """

    def __init__(self, db: Database, service: str, key: bytes | None) -> None:
        from marac_platform.keystore import audit_heads

        self.db = db
        self.service = service
        self.key = key
        self.table = table = audit_heads
        # Both run at every audited call: built once, not each time.
        self._head = select(table.c.seq, table.c.hash, table.c.mac).where(
            table.c.service == service)
        self._advance = (update(table)
                         .where(table.c.service == service, table.c.seq < bindparam("new_seq"))
                         .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"),
                                 mac=bindparam("new_mac"), at=bindparam("new_at")))

    def mac(self, seq: int, head_hash: str) -> str:
        message = f"marac-audit-head-v1|{self.service}|{seq}|{head_hash}".encode("ascii")
        if self.key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def read(self) -> Head | None:
        """The anchored head, None if there is none; AnchorForged if its MAC is wrong."""
        with self.db.engine.connect() as connection:
            row = connection.execute(self._head).first()
        if row is None:
            return None
        if not hmac.compare_digest(row.mac, self.mac(row.seq, row.hash)):
            raise AnchorForged(self.service)
        return Head(seq=row.seq, hash=row.hash)

    def advance(self, head: Head) -> None:
        """Anchor `head` unless a later one is anchored already.

        Only `start` (at migration) creates a service's anchor: one that went missing stays
        missing, and verify says so, rather than being quietly made again from a cut chain.
        """
        table = self.table
        with self.db.engine.begin() as connection:
            moved = connection.execute(self._advance, {
                "new_seq": head.seq, "new_hash": head.hash,
                "new_mac": self.mac(head.seq, head.hash), "new_at": utcnow()})
            if moved.rowcount:
                return
            exists = connection.execute(
                select(table.c.seq).where(table.c.service == self.service)).first()
        if exists is None:
            log.error("audit trail has no anchored head; `marac migrate` makes one",
                      extra={"reason_code": "audit_anchor_missing"})

    def start(self, head: Head) -> bool:
        """At migration: anchor `head` if the service has no anchor yet; True if it did."""
        try:
            with self.db.engine.begin() as connection:
                connection.execute(insert(self.table).values(
                    service=self.service, seq=head.seq, hash=head.hash,
                    mac=self.mac(head.seq, head.hash), at=utcnow()))
        except IntegrityError:
            return False
        return True


class AuditTrail:
    """Appends to and checks one service's `audit_log` hash chain."""

    def __init__(self, db: Database, table: Table, key: bytes | None,
                 anchors: AuditAnchors | None = None) -> None:
        self.db = db
        self.table = table
        self.key = key
        self.anchors = anchors
        # Built once: an append runs them at every audited call.
        self._take_lock = update(table).where(table.c.seq < 0).values(seq=table.c.seq)
        self._last = select(table).order_by(table.c.seq.desc()).limit(1)
        self._insert = table.insert()

    def append(self, entries: Sequence[Entry]) -> list[int]:
        """Chain and store entries in one short transaction of their own; their seq numbers.

        Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock, on SQLite
        by taking its write lock first; the seq primary key turns any race that slips by into
        a retry.
        """
        if not entries:
            return []
        last_error: Exception | None = None
        for _ in range(APPEND_ATTEMPTS):
            try:
                with self.db.engine.begin() as connection:
                    records = self.append_in(connection, entries)
            except IntegrityError as exc:
                last_error = exc
                continue
            self.anchor(records)
            return [record.seq for record in records]
        raise AuditUnavailable(type(last_error).__name__)

    def append_in(self, connection: Connection, entries: Sequence[Entry]) -> list[AuditRecord]:
        """Chain and store entries in the caller's transaction (which then holds the lock).

        For work that must not happen unrecorded: the record commits with it, or neither does.
        Once it has committed, the caller passes the records to `anchor`.
        """
        if self.db.is_postgres:
            connection.execute(_ADVISORY_LOCK, {"key": LOCK_KEY})
        elif not _writing(connection):
            # SQLite: a write that changes nothing takes the write lock (waiting its turn),
            # so the last record read below is still the last when this one is inserted.
            connection.execute(self._take_lock)
        last = connection.execute(self._last).first()
        previous: Link | None = _record(last) if last is not None else None
        anchored = self._anchored()
        if anchored is not None and (previous is None or anchored.seq > previous.seq):
            previous = anchored  # records were cut off: continue after them, never reuse a seq
        at = utcnow()
        rows: list[dict[str, Any]] = []
        records: list[AuditRecord] = []
        for entry in entries:
            record = next_record(
                previous, subject=entry.subject, agency=entry.agency, role=entry.role,
                resource=entry.resource, action=entry.action, outcome=entry.outcome,
                case_id=entry.case_id, source_ip=entry.source_ip, trace_id=entry.trace_id,
                area_id=entry.area_id, at=at, key=self.key,
            )
            rows.append({
                "seq": record.seq, "at": at, "subject": record.subject,
                "agency": record.agency, "role": record.role, "area_id": entry.area_id,
                "case_id": record.case_id, "resource": record.resource,
                "action": record.action, "outcome": record.outcome,
                "source_ip": record.source_ip, "trace_id": record.trace_id,
                "prev_hash": record.prev_hash, "hash": record.hash,
            })
            records.append(record)
            previous = record
        if rows:
            connection.execute(self._insert, rows)
        return records

    def _anchored(self) -> Head | None:
        # Appending goes on without the anchor (verify reports what is wrong with it): an
        # unreachable key store must not stop every service from recording calls.
        if self.anchors is None:
            return None
        try:
            return self.anchors.read()
        except Exception as exc:
            log.error("audit anchor unreadable", extra={"reason_code": type(exc).__name__})
            return None

    def anchor(self, records: Sequence[AuditRecord]) -> None:
        """After the records committed: anchor the new head. A failure is logged, not raised
        (the records are stored); the anchor then lags until the next append moves it."""
        if self.anchors is None or not records:
            return
        try:
            self.anchors.advance(Head(seq=records[-1].seq, hash=records[-1].hash))
        except Exception as exc:
            log.error("audit head not anchored", extra={"reason_code": type(exc).__name__})

    def records(self, batch: int = 1000) -> Iterator[AuditRecord]:
        """Every record in seq order, read in batches."""
        after = 0
        while True:
            with self.db.engine.connect() as connection:
                rows = connection.execute(
                    select(self.table).where(self.table.c.seq > after)
                    .order_by(self.table.c.seq).limit(batch)).all()
            for row in rows:
                yield _record(row)
            if len(rows) < batch:
                return
            after = rows[-1].seq

    def verify(self) -> ChainCheck:
        """The chain's hashes and links, and that it reaches its anchored head.

        The head is read first: it never leads the chain, so records appended meanwhile do no
        harm. Records without an anchored head, or under a forged one, may have lost their end.
        """
        if self.anchors is None:
            return verify_chain(self.records(), key=self.key)
        try:
            anchored = self.anchors.read()
        except AnchorForged:
            check = verify_chain(self.records(), key=self.key)
            return check if not check.ok else ChainCheck(False, check.checked + 1, check.checked)
        check = verify_chain(self.records(), anchor=anchored, key=self.key)
        if check.ok and anchored is None and check.checked:
            return ChainCheck(False, check.checked + 1, check.checked)
        return check

    def start_anchor(self) -> Head | None:
        """At migration: anchor the trail's head if it has no anchor yet (a new trail, or one
        written by a version that did not anchor: the head it has now is trusted); that head."""
        if self.anchors is None:
            return None
        with self.db.engine.connect() as connection:
            last = connection.execute(
                select(self.table).order_by(self.table.c.seq.desc()).limit(1)).first()
        head = Head(seq=last.seq, hash=last.hash) if last is not None else Head(0, GENESIS_HASH)
        return head if self.anchors.start(head) else None


def trail_for(runtime: Runtime) -> AuditTrail:
    """The service's trail, anchored in the key store's database."""
    return anchored_trail(runtime.service, runtime.settings, runtime.db, runtime.tables.audit)


def anchored_trail(service: str, settings: Settings, db: Database, table: Table) -> AuditTrail:
    from marac_platform.keystore import keystore_database

    key = audit_key(settings)
    return AuditTrail(db, table, key, AuditAnchors(keystore_database(settings), service, key))

