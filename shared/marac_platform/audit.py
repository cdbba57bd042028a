"""The audit trail of every service's API: who read or wrote which case, as a hash chain per service.

One mechanism for all five services: `install(app, runtime)` (called by the app factory) adds an
`after_request` hook that appends one record per case an authenticated /v1 call touched, in the
service's own `audit_log` table, before the response leaves the process. The call's unit of work
(`marac_platform.http.request_unit_of_work`) is committed by that hook, in one transaction with
its record: a change is stored with its record or not at all. A record that cannot be written
means the response is not served either: the caller gets 503 instead (fail closed), and nothing
of the call was stored.

Views that disclose several cases declare each one (`note`, `note_all`); cases in the path, the
query, or anywhere in a JSON response (an object with a `case_id`) are found too.

The head of each chain (its latest seq and hash, MAC'd with the audit key) is anchored after
every append in the key store's database, apart from the service's own: cutting records off the
end shows in `GET /v1/audit/verify`, and seq numbers are never given out twice.

`blp` gives auditors `GET /v1/audit` (filtered, area-scoped) and `GET /v1/audit/verify`.

Records carry ids and codes only: the resource is the route with its id-shaped path arguments,
never a query string or a body.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import Connection, Row, Table, and_, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from marac_platform import telemetry
from marac_platform.auth import principal, requires, scope
from marac_platform.db import Database, utcnow
from marac_platform.problems import Problem, problem_response
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security.audit_chain import (
    GENESIS_HASH,
    AuditRecord,
    ChainCheck,
    Head,
    Link,
    next_record,
    verify_chain,
)
from marac_platform.security.roles import Permission
from marac_platform.security.tokens import Principal
from marac_platform.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE_ENV = "MARAC_AUDIT_KEY_FILE"
DEV_KEY_FILE = "audit-hmac.key"
# pg_advisory_xact_lock key serialising appends (each service has its own database).
LOCK_KEY = 0x6D61726163617564  # "maracaud"
APPEND_ATTEMPTS = 5
RESOURCE_CHARS = 100  # the audit_log.resource column
NAME_CHARS = 200  # the audit_log.subject and .agency columns
ACTIONS: Mapping[str, str] = {
    "GET": "read", "HEAD": "read", "POST": "create", "PUT": "update", "PATCH": "update",
    "DELETE": "delete",
}
METHODS_OF: Mapping[str, tuple[str, ...]] = {
    "read": ("GET",), "create": ("POST", "GET"), "update": ("PATCH", "PUT"), "delete": ("DELETE",),
}
# What may be copied from a path or query into a record: ids, never free text.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class AuditUnavailable(Exception):
    """The trail could not be appended to; carries the cause's type name only."""


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


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


def audit_key(settings: Settings) -> bytes:
    """The HMAC key of the chain: MARAC_AUDIT_KEY_FILE (a mounted secret), else a dev key file.

    Kept outside the database, so someone able to rewrite the table cannot recompute the chain.
    """
    configured = os.environ.get(KEY_FILE_ENV)
    path = Path(configured) if configured else settings.data_dir / "keys" / DEV_KEY_FILE
    if not configured and not path.exists():
        _create_dev_key(path)
    try:
        material = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditUnavailable(f"{KEY_FILE_ENV}: cannot read the audit key ({type(exc).__name__})") from None
    if len(material) < 32:
        raise AuditUnavailable(f"{KEY_FILE_ENV}: the audit key must be at least 32 characters")
    return material.encode("ascii")


def _create_dev_key(path: Path) -> None:
    # Written whole to a private file, then hard-linked into place: a process starting at the
    # same moment sees the complete key or none, and the first one made wins.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _record(row: Row[Any]) -> AuditRecord:
    return AuditRecord(
        seq=row.seq, at=_iso(row.at), subject=row.subject, agency=row.agency, role=row.role,
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
        self.table = audit_heads

    def mac(self, seq: int, head_hash: str) -> str:
        message = f"marac-audit-head-v1|{self.service}|{seq}|{head_hash}".encode("ascii")
        if self.key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def read(self) -> Head | None:
        """The anchored head, None if there is none; AnchorForged if its MAC is wrong."""
        table = self.table
        with self.db.engine.connect() as connection:
            row = connection.execute(select(table.c.seq, table.c.hash, table.c.mac)
                                     .where(table.c.service == self.service)).first()
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
            moved = connection.execute(
                update(table).where(table.c.service == self.service, table.c.seq < head.seq)
                .values(seq=head.seq, hash=head.hash, mac=self.mac(head.seq, head.hash),
                        at=utcnow()))
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
        table = self.table
        if self.db.is_postgres:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        else:
            # SQLite: a write that changes nothing takes the write lock (waiting its turn),
            # so the last record read below is still the last when this one is inserted.
            connection.execute(update(table).where(table.c.seq < 0).values(seq=table.c.seq))
        last = connection.execute(select(table).order_by(table.c.seq.desc()).limit(1)).first()
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
            connection.execute(table.insert(), rows)
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


def trail(app: Flask | None = None) -> AuditTrail:
    found: AuditTrail = (app or current_app).extensions["marac_audit"]
    return found


# --- what a call touched -------------------------------------------------------------------


def note(case_id: str, area_id: str | None = None) -> None:
    """Views call this when the case a call touched is not in its path or response body."""
    noted: list[tuple[str, str | None]] = g.setdefault("audit_cases", [])
    noted.append((case_id, area_id))


def note_all(disclosed: Iterable[Any], area_id: str | None = None) -> None:
    """Views that disclose several cases declare each one: rows or mappings with a `case_id`
    (and an `area_id`, else `area_id` given here). Each becomes a record of its own."""
    for item in disclosed:
        if isinstance(item, Mapping):
            case_id, area = item.get("case_id"), item.get("area_id")
        else:
            case_id, area = getattr(item, "case_id", None), getattr(item, "area_id", None)
        if isinstance(case_id, str) and is_id(case_id):
            note(case_id, area if is_id(area) else area_id)


def outcome_of(status: int) -> str:
    """The status class, then the code: `2xx:200`, `4xx:403`."""
    return f"{status // 100}xx:{status}"


def resource_of(response: Response) -> str:
    """The route with its id-shaped arguments filled in; a created resource is its Location."""
    if response.status_code == 201 and response.location:
        created = urlsplit(response.location).path
        if len(created) <= RESOURCE_CHARS and all(is_id(part) for part in created.strip("/").split("/")):
            return created
    rule = request.url_rule
    if rule is None:
        return "(no route)"
    arguments = request.view_args or {}
    if all(is_id(value) for value in arguments.values()) and len(request.path) <= RESOURCE_CHARS:
        return request.path
    return rule.rule[:RESOURCE_CHARS]  # an argument that is not an id is not copied


def _cases_in(body: Any) -> Iterator[tuple[str, str | None]]:
    """Every object in a JSON body with an id-shaped `case_id`, however deep (a case list's
    cases, a cancellation's moved cases); its area, else the nearest enclosing one's."""
    stack: list[tuple[Any, str | None]] = [(body, None)]
    while stack:
        item, area = stack.pop()
        if isinstance(item, Mapping):
            own = item.get("area_id")
            area = own if is_id(own) else area
            if is_id(item.get("case_id")):
                yield item["case_id"], area
            stack.extend((child, area) for child in reversed(list(item.values()))
                         if isinstance(child, Mapping | list))
        elif isinstance(item, list):
            stack.extend((child, area) for child in reversed(item)
                         if isinstance(child, Mapping | list))


def cases_of(response: Response) -> list[tuple[str, str | None]]:
    """The cases a call touched: noted by the view, in its path or query, in its JSON response."""
    found: list[tuple[str, str | None]] = list(g.get("audit_cases", []))
    for source in (request.view_args or {}, request.args):
        value = source.get("case_id")
        if isinstance(value, str) and is_id(value):
            found.append((value, None))
    # The audit API's own responses list other calls' cases: those were not read here.
    if response.is_json and response.status_code < 400 and request.blueprint != blp.name:
        found.extend(_cases_in(response.get_json(silent=True)))
    areas: dict[str, str | None] = {}
    for case_id, area_id in found:
        if areas.get(case_id) is None:
            areas[case_id] = area_id
    return list(areas.items())


def _area_hint(who: Principal, response: Response) -> str | None:
    """The area of a call that names no case: its body's or query's area, else the caller's one."""
    body = response.get_json(silent=True) if response.is_json and response.status_code < 400 else None
    for source in (body if isinstance(body, Mapping) else {}, request.view_args or {}, request.args):
        if is_id(source.get("area_id")):
            return str(source["area_id"])
    return next(iter(who.areas)) if len(who.areas) == 1 else None


def fit(value: str, limit: int = NAME_CHARS) -> str:
    """A token's subject or agency (up to 256 characters) in its column: long ones keep a prefix
    and a digest of the whole, so two of them never read the same."""
    if len(value) <= limit:
        return value
    return f"{value[: limit - 17]}#{hashlib.sha256(value.encode()).hexdigest()[:16]}"


def entries_for(who: Principal, response: Response) -> list[Entry]:
    """One entry per case the call touched, or one without a case."""
    def entry(case_id: str | None, area_id: str | None) -> Entry:
        return Entry(
            subject=fit(who.subject), agency=fit(who.agency), role=who.role.value,
            resource=resource_of(response), action=ACTIONS.get(request.method, "other"),
            outcome=outcome_of(response.status_code), case_id=case_id, area_id=area_id,
            source_ip=request.remote_addr if is_ip(request.remote_addr) else None,
            trace_id=telemetry.current_trace_id(),
        )

    cases = cases_of(response)
    if not cases:
        return [entry(None, _area_hint(who, response))]
    hint = None if all(area for _, area in cases) else _area_hint(who, response)
    return [entry(case_id, area_id or hint) for case_id, area_id in cases]


def is_ip(value: str | None) -> bool:
    return value is not None and len(value) <= 64 and re.fullmatch(r"[0-9A-Fa-f:.]+", value) is not None


# --- the call's unit of work, committed with its record --------------------------------------

_HELD = "audit_unit_of_work"


def held() -> UnitOfWork | None:
    """The unit of work this call opened, waiting to commit with its audit record."""
    found: UnitOfWork | None = g.get(_HELD)
    return found


def hold(uow: UnitOfWork) -> None:
    setattr(g, _HELD, uow)


def release() -> UnitOfWork | None:
    """Take the held unit of work (the caller commits or rolls back, then closes it)."""
    uow: UnitOfWork | None = g.pop(_HELD, None)
    return uow


def _withheld(exc: Exception, response: Response) -> Response:
    rule = request.url_rule.rule if request.url_rule else None
    log.error("audit append failed; response withheld", extra={
        "reason_code": type(exc).__name__, "path": rule, "method": request.method,
        "status": response.status_code})
    return problem_response(Problem(
        503, "Service unavailable",
        "This call could not be recorded in the audit trail, so nothing of it was kept and its "
        "result is withheld; try again.",
        slug="audit-unavailable", headers={"Retry-After": "5"}))


def _commit_unaudited(uow: UnitOfWork | None) -> None:
    # Outside /v1 nothing is audited: the unit of work commits on its own, as it always did.
    if uow is None:
        return
    try:
        uow.session.commit()
    finally:
        uow.session.close()
    uow.run_committed_hooks()


def install(app: Flask, runtime: Runtime) -> AuditTrail:
    """Record every authenticated /v1 call before its response is sent; 503 if that fails.

    A call that succeeded commits its unit of work together with its records; one that failed
    (4xx/5xx) rolls it back, and its records are written on their own.
    """
    audit_trail = trail_for(runtime)
    app.extensions["marac_audit"] = audit_trail

    @app.after_request
    def _audit(response: Response) -> Response:
        who: Principal | None = g.get("principal")
        uow = release()
        if who is None or not request.path.startswith("/v1/"):
            _commit_unaudited(uow)
            return response
        records: list[AuditRecord] = []
        try:
            entries = entries_for(who, response)
            if uow is not None and response.status_code < 400:
                records = audit_trail.append_in(uow.session.connection(), entries)
                uow.session.commit()
            else:
                if uow is not None:
                    uow.session.rollback()
                audit_trail.append(entries)
                uow = None  # nothing of it was kept: its after-commit hooks do not run
        except Exception as exc:
            if uow is not None:
                uow.session.rollback()
                uow.session.close()
            return _withheld(exc, response)
        if uow is not None:
            uow.session.close()
            audit_trail.anchor(records)
            try:
                uow.run_committed_hooks()
            except Exception as exc:
                log.error("a step after the commit failed", extra={
                    "reason_code": type(exc).__name__, "method": request.method,
                    "path": request.url_rule.rule if request.url_rule else None})
                return problem_response(Problem(
                    503, "Service unavailable",
                    "The change was stored, but a step that must follow it did not finish; "
                    "repeat the call to complete it.", slug="incomplete",
                    headers={"Retry-After": "5"}))
        return response

    @app.teardown_request
    def _close_held(_error: BaseException | None) -> None:
        # A hook that failed before ours ran: whatever the call left uncommitted is dropped.
        uow = release()
        if uow is not None:
            uow.session.rollback()
            uow.session.close()

    return audit_trail


# --- the auditors' API ---------------------------------------------------------------------

blp = Blueprint("audit", __name__, url_prefix="/v1", description="The audit trail of this service")


class AuditQuery(Schema):
    case_id = fields.Str(load_default=None, validate=validate.Length(1, 64))
    subject = fields.Str(load_default=None, validate=validate.Length(1, 256))
    agency = fields.Str(load_default=None, validate=validate.Length(1, 256))
    before_seq = fields.Int(load_default=None, validate=validate.Range(1, 2**62),
                            metadata={"description": "page back: records older than this seq"})
    limit = fields.Int(load_default=100, validate=validate.Range(1, 1000))


class AuditRecordOut(Schema):
    seq = fields.Int()
    at = fields.DateTime()
    service = fields.Str()
    subject = fields.Str()
    agency = fields.Str()
    role = fields.Str()
    area_id = fields.Str(allow_none=True)
    case_id = fields.Str(allow_none=True)
    referral_id = fields.Str(allow_none=True)
    meeting_id = fields.Str(allow_none=True)
    resource = fields.Str()
    action = fields.Str()
    outcome = fields.Str()
    status = fields.Int(allow_none=True)
    source_ip = fields.Str(allow_none=True)
    trace_id = fields.Str(allow_none=True)
    prev_hash = fields.Str()
    hash = fields.Str()


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditRecordOut))
    limit = fields.Int()
    has_more = fields.Bool()
    next_before_seq = fields.Int(allow_none=True)


class ChainCheckOut(Schema):
    ok = fields.Bool()
    first_bad_seq = fields.Int(allow_none=True)
    checked = fields.Int()


def path_ids(url_map: Map, resource: str, action: str) -> dict[str, Any]:
    """The ids in a recorded resource (`referral_id`, `meeting_id`...), matched against the routes."""
    adapter = url_map.bind("audit.invalid")
    for method in METHODS_OF.get(action, ("GET",)):
        try:
            _, arguments = adapter.match(resource, method=method)
        except HTTPException:
            continue
        return dict(arguments)
    return {}


def record_out(row: Row[Any], url_map: Map, service: str) -> dict[str, Any]:
    ids = path_ids(url_map, row.resource, row.action) if row.resource.startswith("/") else {}
    _, _, code = row.outcome.partition(":")
    return {
        **row._asdict(), "service": service, "referral_id": ids.get("referral_id"),
        "meeting_id": ids.get("meeting_id"), "status": int(code) if code.isdigit() else None,
    }


@blp.route("/audit")
class AuditRecords(MethodView):
    @requires(Permission.AUDIT_READ)
    @blp.arguments(AuditQuery, location="query")  # type: ignore[untyped-decorator]
    @blp.response(200, AuditPage)  # type: ignore[untyped-decorator]
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Audit records of this service, newest first, in the caller's areas (or of no area)."""
        principal()
        audit_trail = trail()
        table = audit_trail.table
        conditions = [or_(table.c.area_id.in_(sorted(scope())), table.c.area_id.is_(None))]
        for name in ("case_id", "subject", "agency"):
            if query[name] is not None:
                conditions.append(table.c[name] == query[name])
        if query["before_seq"] is not None:
            conditions.append(table.c.seq < query["before_seq"])
        statement = (select(table).where(and_(*conditions)).order_by(table.c.seq.desc())
                     .limit(query["limit"] + 1))
        with audit_trail.db.engine.connect() as connection:
            rows = connection.execute(statement).all()
        service = current_app.extensions["marac_runtime"].service
        items = [record_out(row, current_app.url_map, service) for row in rows[: query["limit"]]]
        has_more = len(rows) > query["limit"]
        return {"items": items, "limit": query["limit"], "has_more": has_more,
                "next_before_seq": items[-1]["seq"] if has_more else None}


@blp.route("/audit/verify")
class AuditVerify(MethodView):
    @requires(Permission.AUDIT_READ)
    @blp.response(200, ChainCheckOut)  # type: ignore[untyped-decorator]
    def get(self) -> dict[str, Any]:
        """Check the whole chain: ok, or the first seq from which it cannot be trusted."""
        check = trail().verify()
        if not check.ok:
            log.error("audit chain broken", extra={"reason_code": "audit_chain_broken",
                                                   "count": check.first_bad_seq})
        return {"ok": check.ok, "first_bad_seq": check.first_bad_seq, "checked": check.checked}
