"""The auditors' API every service serves: `GET /v1/audit` (filtered, area-scoped) and
`GET /v1/audit/verify`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import Row, and_, or_, select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from marac_platform.audit.hook import API_BLUEPRINT, trail
from marac_platform.auth import principal, requires, scope
from marac_platform.security.roles import Permission

log = logging.getLogger("marac_platform.audit")  # one logger for the whole trail

METHODS_OF: Mapping[str, tuple[str, ...]] = {
    "read": ("GET",), "create": ("POST", "GET"), "update": ("PATCH", "PUT"), "delete": ("DELETE",),
}

blp = Blueprint(API_BLUEPRINT, __name__, url_prefix="/v1", description="The audit trail of this service")


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
