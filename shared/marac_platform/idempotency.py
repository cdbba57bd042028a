"""Idempotency-Key on POSTs that create: a retried request gets the first answer, not a second record."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, request
from flask import json as flask_json
from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.sql.dml import Insert

from marac_platform.db import utcnow
from marac_platform.problems import Problem
from marac_platform.runtime import UnitOfWork

MAX_KEY_LENGTH = 200
# The header as every view that calls `once` documents it: @blp.doc(parameters=[HEADER]).
HEADER: dict[str, Any] = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "a retried request with the same key gets the first answer "
                   f"(1 to {MAX_KEY_LENGTH} printable characters, not all blank)"}


@dataclass(frozen=True)
class Created:
    status: int
    body: dict[str, Any]
    location: str | None = None


def request_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Problem(400, "Bad request", errors=[
            {"field": "Idempotency-Key", "reason": f"Must be 1 to {MAX_KEY_LENGTH} printable characters."}])
    return key


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()
    ).hexdigest()


def once(uow: UnitOfWork, subject: str, payload: Any, create: Callable[[], Created]) -> Response:
    """Run `create` unless this subject already sent this Idempotency-Key; same transaction."""
    key = request_key()
    table = uow.tables.idempotency
    digest = fingerprint({"path": request.path, "query": sorted(request.args.items()), "body": payload})
    if key is not None:
        stored = uow.session.execute(_statements(table)[0], {"subject": subject, "key": key}).first()
        if stored is not None:
            if stored.request_hash != digest:
                raise Problem(422, "Invalid input",
                              "This Idempotency-Key was used with a different request.",
                              slug="idempotency-key-reused",
                              errors=[{"field": "Idempotency-Key", "reason": "Reused with another body."}])
            return _response(Created(stored.status, stored.body, stored.location), replayed=True)
    created = create()
    if key is not None:
        uow.session.execute(_statements(table)[1], {
            "subject": subject, "key": key, "request_hash": digest, "status": created.status,
            "body": created.body, "location": created.location, "created_at": utcnow()})
    return _response(created, replayed=False)


@functools.cache
def _statements(table: Table) -> tuple[Select[Any], Insert]:
    """The lookup and the insert, built once (building one cost more than running it)."""
    return (select(table).where(table.c.subject == bindparam("subject"),
                                table.c.key == bindparam("key")),
            table.insert())


def _response(created: Created, *, replayed: bool) -> Response:
    response = Response(flask_json.dumps(created.body), status=created.status,
                        mimetype="application/json")
    if created.location:
        response.headers["Location"] = created.location
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
