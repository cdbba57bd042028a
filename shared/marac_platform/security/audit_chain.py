"""Append-only audit trail as a hash chain: altering, removing or reordering a record shows.

Each record's hash covers its fields and the previous record's hash. A plain SHA-256 chain
catches accidental or naive edits; someone able to rewrite the whole table could recompute
it, so callers may pass a secret `key` (HMAC-SHA256) kept outside the database, and should
keep the latest record's seq and hash somewhere else too (an `anchor`): a chain cannot notice
its tail being cut off on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from marac_platform import clock

GENESIS_HASH: Final = "0" * 64
FIRST_SEQ: Final = 1

# The fields a record's hash covers, in addition to the previous hash.
HASHED_FIELDS: Final = (
    "seq",
    "at",
    "subject",
    "agency",
    "role",
    "case_id",
    "resource",
    "action",
    "outcome",
    "source_ip",
    "trace_id",
    "area_id",  # moving a record to another area would hide it from that area's auditors
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited read or write: who, what, when, outcome; ids only, never personal data."""

    seq: int
    at: str
    subject: str
    agency: str
    role: str
    case_id: str | None
    resource: str
    action: str
    outcome: str
    source_ip: str | None
    trace_id: str | None
    prev_hash: str
    hash: str
    area_id: str | None = None

    def hashed_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in HASHED_FIELDS}


class Link(Protocol):
    """What the next record is chained to: a record, or an anchored head."""

    @property
    def seq(self) -> int: ...

    @property
    def hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Head:
    """The seq and hash of a chain's latest record, as kept apart from the chain."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """Result of verify_chain; first_bad_seq is where trust in the chain ends (None if ok)."""

    ok: bool
    first_bad_seq: int | None = None
    checked: int = 0


def _canonical(prev_hash: str, record_fields: Mapping[str, Any]) -> bytes:
    if set(record_fields) != set(HASHED_FIELDS):
        raise ValueError("record fields must be exactly the hashed fields")
    body = {**record_fields, "prev_hash": prev_hash}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def chain_hash(
    prev_hash: str, record_fields: Mapping[str, Any], *, key: bytes | None = None
) -> str:
    """Hex SHA-256 (HMAC-SHA256 with key) of the canonical JSON of the fields and prev_hash."""
    data = _canonical(prev_hash, record_fields)
    if key is not None:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def utc_iso(at: datetime | str | None) -> str:
    """An audit time as the chain stores and hashes it: UTC ISO 8601 to the microsecond (now
    when None); a naive time is refused."""
    if at is None:
        at = clock.now()
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def next_record(
    prev: Link | None,
    *,
    subject: str,
    agency: str,
    role: str,
    resource: str,
    action: str,
    outcome: str,
    case_id: str | None = None,
    source_ip: str | None = None,
    trace_id: str | None = None,
    area_id: str | None = None,
    at: datetime | str | None = None,
    key: bytes | None = None,
) -> AuditRecord:
    """The record that follows prev (or starts the chain), with seq, prev_hash and hash set.

    `prev` may be an anchored head whose record is gone: the chain then shows the gap rather
    than reuse its seq numbers. `at` defaults to now and is stored as UTC ISO 8601; `key` as
    for chain_hash.
    """
    seq = FIRST_SEQ if prev is None else prev.seq + 1
    prev_hash = GENESIS_HASH if prev is None else prev.hash
    values: dict[str, Any] = {
        "seq": seq,
        "at": utc_iso(at),
        "subject": subject,
        "agency": agency,
        "role": str(role),
        "case_id": case_id,
        "resource": resource,
        "action": action,
        "outcome": outcome,
        "source_ip": source_ip,
        "trace_id": trace_id,
        "area_id": area_id,
    }
    return AuditRecord(**values, prev_hash=prev_hash, hash=chain_hash(prev_hash, values, key=key))


def verify_chain(
    records: Iterable[AuditRecord],
    *,
    after: AuditRecord | None = None,
    expected_head: str | None = None,
    anchor: Head | None = None,
    key: bytes | None = None,
) -> ChainCheck:
    """Check records in seq order: hashes, links and consecutive seq numbers.

    Without `after` the records must start the chain (seq 1, genesis prev_hash); with it they
    must continue from that trusted record. `expected_head`, the latest hash kept elsewhere,
    also catches records removed from the end; so does `anchor`, a head kept elsewhere that
    may lag behind the chain: the chain must reach it, through a record with its hash.
    """
    expected_seq = FIRST_SEQ if after is None else after.seq + 1
    expected_prev = GENESIS_HASH if after is None else after.hash
    checked = 0
    for record in records:
        try:
            recomputed = chain_hash(record.prev_hash, record.hashed_fields(), key=key)
        except (TypeError, ValueError):
            recomputed = None
        if (
            record.seq != expected_seq
            or record.prev_hash != expected_prev
            or recomputed is None
            or record.hash != recomputed
        ):
            return ChainCheck(ok=False, first_bad_seq=expected_seq, checked=checked)
        if anchor is not None and record.seq == anchor.seq and record.hash != anchor.hash:
            return ChainCheck(ok=False, first_bad_seq=record.seq, checked=checked)
        checked += 1
        expected_seq += 1
        expected_prev = record.hash
    if expected_head is not None and expected_prev != expected_head:
        return ChainCheck(ok=False, first_bad_seq=expected_seq, checked=checked)
    if anchor is not None and expected_seq <= anchor.seq:
        return ChainCheck(ok=False, first_bad_seq=expected_seq, checked=checked)
    return ChainCheck(ok=True, first_bad_seq=None, checked=checked)


AUDIT_RECORD_FIELDS: Final = tuple(f.name for f in fields(AuditRecord))
