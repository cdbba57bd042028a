"""The actions part of a transfer package on `transfer.packed`: compressed before it is
encrypted, so a large case record fits one event; one too large even so is not put on one."""

from __future__ import annotations

import os
import random
from typing import Any

from marac_platform import transfer_record
from marac_platform.security.crypto import DataKey, decrypt_value, encrypt_value

CASE, FIELD = "case-1", "transfer.case_record"
WORDS = ("alarm", "fitted", "police", "housing", "refuge", "visit", "agreed", "school",
         "contact", "review", "children", "services", "IDVA", "safety", "plan", "risk")


def sealer(key: bytes) -> Any:
    return lambda value: encrypt_value(key, value, case_id=CASE, field=FIELD)


def opened(key: bytes, token: str) -> Any:
    return decrypt_value(key, token, case_id=CASE, field=FIELD)


def large_record(documents: int, actions: int) -> dict[str, Any]:
    """A case record of the shape the actions service packs, with long free text."""
    pick = random.Random(14)

    def prose(words: int) -> str:
        return " ".join(pick.choice(WORDS) for _ in range(words))

    return {
        "updates": [{"updates_id": f"upd-{i}", "version": i + 1, "marac_date": "2026-12-15",
                     "content": {"agencies": [{"agency": "police", "text": prose(400)}
                                              for _ in range(8)]}}
                    for i in range(documents)],
        "actions": [{"action_id": f"act-{i}", "what": prose(30), "status": "agreed",
                     "open": True, "history": [{"note": prose(60)} for _ in range(5)]}
                    for i in range(actions)],
    }


def test_a_large_record_is_compressed_and_round_trips() -> None:
    key = bytes(DataKey.generate())
    record = large_record(documents=60, actions=400)
    plain_size = len(encrypt_value(key, record, case_id=CASE, field=FIELD))
    assert plain_size > transfer_record.MAX_SEALED_CHARS  # it would not fit one event as it is

    sealed, part = transfer_record.seal(sealer(key), record)
    assert part == transfer_record.INCLUDED
    assert len(sealed) <= transfer_record.MAX_SEALED_CHARS
    assert transfer_record.read(opened(key, sealed)) == (record, transfer_record.INCLUDED)


def test_a_record_too_large_even_compressed_is_only_a_marker() -> None:
    key = bytes(DataKey.generate())
    record = {"updates": [{"content": os.urandom(700_000).hex()}], "actions": [{"a": 1}] * 3}
    sealed, part = transfer_record.seal(sealer(key), record)
    assert part == transfer_record.TOO_LARGE
    assert len(sealed) < 1_000
    assert transfer_record.read(opened(key, sealed)) == ({}, transfer_record.TOO_LARGE)


def test_a_record_sealed_before_compression_still_reads() -> None:
    record = {"updates": [], "actions": [{"action_id": "act-1"}]}
    assert transfer_record.read(record) == (record, transfer_record.INCLUDED)
