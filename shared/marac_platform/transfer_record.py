"""The actions service's part of a transfer package (`transfer.packed`'s `record`): how it is
written and read on either side of the topic.

The record (every information-and-updates document and every action with its history) can be
large, and one Kafka message is at most about 1 MB. So the record's JSON is compressed (zlib)
before it is encrypted under the case's key, and a record still too large for one event once
compressed is not put on one: the event then carries only a sealed marker saying so, and the
package goes without its actions part, marked `too_large` for both coordinators.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from typing import Any, Final

# The sealed record's ceiling on one event: under the producer's 1 MB request with room for
# the envelope and headers.
MAX_SEALED_CHARS: Final = 900_000
INCLUDED, TOO_LARGE, MISSING = "included", "too_large", "missing"
ACTIONS_PARTS: Final = (INCLUDED, TOO_LARGE, MISSING)


def seal(encrypt: Callable[[Any], str], record: dict[str, Any]) -> tuple[str, str]:
    """The record compressed then encrypted (`encrypt` seals one value under the case's key),
    and whether it went in (`included`) or was too large even compressed (`too_large`: the
    sealed value is then only a marker with the counts)."""
    raw = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    packed = base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
    sealed = encrypt({"zlib": packed})
    if len(sealed) <= MAX_SEALED_CHARS:
        return sealed, INCLUDED
    return encrypt({"omitted": TOO_LARGE,
                    "documents": len(record.get("updates") or []),
                    "actions": len(record.get("actions") or [])}), TOO_LARGE


def read(value: Any) -> tuple[dict[str, Any], str]:
    """The decrypted record value as the package carries it, and its actions part's state. A
    record sealed before compression (a plain object) reads as it is."""
    if isinstance(value, dict) and isinstance(value.get("zlib"), str):
        found: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(value["zlib"])))
        return found, INCLUDED
    if isinstance(value, dict) and value.get("omitted") == TOO_LARGE:
        return {}, TOO_LARGE
    return (dict(value) if isinstance(value, dict) else {}), INCLUDED
