"""The audit hash chain: building records and detecting altered, removed or reordered ones."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_platform.security.audit_chain import (
    GENESIS_HASH,
    AuditRecord,
    ChainCheck,
    chain_hash,
    next_record,
    verify_chain,
)

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def build(count: int, key: bytes | None = None) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev: AuditRecord | None = None
    for i in range(count):
        prev = next_record(
            prev,
            subject=f"user-{i % 3}",
            agency="police",
            role="coordinator",
            case_id=f"case-{i}" if i % 2 else None,
            resource="referral",
            action="read",
            outcome="allowed",
            source_ip="10.0.0.1",
            trace_id=f"{i:032x}",
            area_id="northshire",
            at=T0 + timedelta(seconds=i),
            key=key,
        )
        records.append(prev)
    return records


def test_chain_links() -> None:
    records = build(3)
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert records[1].prev_hash == records[0].hash
    assert records[0].at == "2025-01-06T09:00:00.000000+00:00"
    assert len({r.hash for r in records}) == 3
    assert verify_chain(records) == ChainCheck(ok=True, first_bad_seq=None, checked=3)


def test_empty_chain_is_ok() -> None:
    assert verify_chain([]).ok


def test_hash_is_deterministic_and_covers_every_field() -> None:
    record = build(1)[0]
    assert chain_hash(record.prev_hash, record.hashed_fields()) == record.hash
    for name, value in record.hashed_fields().items():
        changed = dict(record.hashed_fields(), **{name: "x" if value != "x" else "y"})
        assert chain_hash(record.prev_hash, changed) != record.hash, name
    assert chain_hash("1" * 64, record.hashed_fields()) != record.hash


def test_chain_hash_requires_exactly_the_record_fields() -> None:
    fields = build(1)[0].hashed_fields()
    with pytest.raises(ValueError):
        chain_hash(GENESIS_HASH, {**fields, "extra": 1})
    del fields["outcome"]
    with pytest.raises(ValueError):
        chain_hash(GENESIS_HASH, fields)


def test_times_are_utc_and_must_be_aware() -> None:
    plus_one = timezone(timedelta(hours=1))
    record = next_record(
        None,
        subject="u",
        agency="a",
        role="chair",
        resource="r",
        action="a",
        outcome="o",
        at=datetime(2025, 1, 6, 10, 0, tzinfo=plus_one),
    )
    assert record.at == "2025-01-06T09:00:00.000000+00:00"
    assert next_record(
        None, subject="u", agency="a", role="chair", resource="r", action="a", outcome="o"
    ).at.endswith("+00:00")
    with pytest.raises(ValueError):
        next_record(
            None,
            subject="u",
            agency="a",
            role="chair",
            resource="r",
            action="a",
            outcome="o",
            at=datetime(2025, 1, 6, 10, 0),
        )


@pytest.mark.parametrize(
    "field",
    [
        "subject",
        "agency",
        "role",
        "case_id",
        "resource",
        "action",
        "outcome",
        "source_ip",
        "trace_id",
        "area_id",
        "at",
    ],
)
def test_altered_field_detected(field: str) -> None:
    records = build(5)
    changes: dict[str, Any] = {field: "tampered"}
    records[2] = dataclasses.replace(records[2], **changes)
    assert verify_chain(records) == ChainCheck(ok=False, first_bad_seq=3, checked=2)


def test_altered_record_with_recomputed_hash_detected_by_next_link() -> None:
    records = build(5)
    forged = dataclasses.replace(records[2], outcome="denied")
    records[2] = dataclasses.replace(
        forged, hash=chain_hash(forged.prev_hash, forged.hashed_fields())
    )
    assert verify_chain(records).first_bad_seq == 4


def test_deleted_record_detected() -> None:
    records = build(5)
    del records[2]
    assert verify_chain(records) == ChainCheck(ok=False, first_bad_seq=3, checked=2)


def test_deleted_first_record_detected() -> None:
    assert verify_chain(build(5)[1:]).first_bad_seq == 1


def test_deleted_tail_detected_with_expected_head() -> None:
    records = build(5)
    head = records[-1].hash
    assert verify_chain(records, expected_head=head).ok
    assert verify_chain(records[:-1], expected_head=head) == ChainCheck(
        ok=False, first_bad_seq=5, checked=4
    )


def test_reordered_records_detected() -> None:
    records = build(5)
    records[1], records[2] = records[2], records[1]
    assert verify_chain(records).first_bad_seq == 2


def test_renumbered_records_detected() -> None:
    records = build(5)
    del records[2]
    records[2:] = [dataclasses.replace(r, seq=r.seq - 1) for r in records[2:]]
    assert not verify_chain(records).ok


def test_segment_verified_from_trusted_record() -> None:
    records = build(6)
    assert verify_chain(records[3:], after=records[2]).ok
    assert verify_chain(records[4:], after=records[2]).first_bad_seq == 4
    assert not verify_chain(records[3:]).ok


def test_keyed_chain_cannot_be_rebuilt_without_the_key() -> None:
    key = b"k" * 32
    records = build(4, key=key)
    assert verify_chain(records, key=key).ok
    assert not verify_chain(records).ok
    assert not verify_chain(build(4), key=key).ok


@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_single_alteration_detected(count: int, data: st.DataObject) -> None:
    records = build(count)
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    field = data.draw(
        st.sampled_from(["subject", "case_id", "outcome", "prev_hash", "hash", "seq"])
    )
    original = getattr(records[index], field)
    replacement = data.draw(
        st.integers(min_value=0, max_value=99) if field == "seq" else st.text(max_size=10)
    )
    if replacement == original:
        return
    changes: dict[str, Any] = {field: replacement}
    records[index] = dataclasses.replace(records[index], **changes)
    check = verify_chain(records)
    assert not check.ok
    assert check.first_bad_seq == index + 1
