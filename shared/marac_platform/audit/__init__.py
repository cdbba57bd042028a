"""The audit trail of every service's API: who read or wrote which case, as a hash chain per service.

One mechanism for all five services, in four parts:
- `keys`: the chain's HMAC key (`audit_key`), kept outside the database.
- `store`: `AuditTrail`, appending `Entry`s to the service's own `audit_log` table and verifying
  it; the head of each chain (its latest seq and hash, MAC'd with the audit key) is anchored
  after every append in the key store's database (`AuditAnchors`), apart from the service's own:
  cutting records off the end shows in `GET /v1/audit/verify`, and seq numbers are never given
  out twice.
- `hook`: `install(app, runtime)` (called by the app factory) records every authenticated /v1
  call before its response leaves, one record per case it touched, and commits the call's unit
  of work (`marac_platform.http.request_unit_of_work`) in one transaction with its record: a
  change is stored with its record or not at all, and a call whose record cannot be written is
  answered 503 with nothing of it kept. Views that disclose several cases declare each one
  (`note`, `note_all`).
- `api`: `blp` gives auditors `GET /v1/audit` (filtered, area-scoped) and `GET /v1/audit/verify`.

Records carry ids and codes only: the resource is the route with its id-shaped path arguments,
never a query string or a body. Callers use this package's names; the parts are its layout.
"""

from marac_platform.audit.api import (
    METHODS_OF,
    AuditPage,
    AuditQuery,
    AuditRecordOut,
    ChainCheckOut,
    blp,
    path_ids,
    record_out,
)
from marac_platform.audit.hook import (
    ACTIONS,
    NAME_CHARS,
    RESOURCE_CHARS,
    cases_of,
    entries_for,
    fit,
    held,
    hold,
    install,
    is_id,
    is_ip,
    note,
    note_all,
    outcome_of,
    release,
    resource_of,
    trail,
)
from marac_platform.audit.keys import DEV_KEY_FILE, KEY_FILE_ENV, AuditUnavailable, audit_key
from marac_platform.audit.store import (
    APPEND_ATTEMPTS,
    LOCK_KEY,
    AnchorForged,
    AuditAnchors,
    AuditTrail,
    Entry,
    anchored_trail,
    trail_for,
)

__all__ = [
    "ACTIONS",
    "APPEND_ATTEMPTS",
    "DEV_KEY_FILE",
    "KEY_FILE_ENV",
    "LOCK_KEY",
    "METHODS_OF",
    "NAME_CHARS",
    "RESOURCE_CHARS",
    "AnchorForged",
    "AuditAnchors",
    "AuditPage",
    "AuditQuery",
    "AuditRecordOut",
    "AuditTrail",
    "AuditUnavailable",
    "ChainCheckOut",
    "Entry",
    "anchored_trail",
    "audit_key",
    "blp",
    "cases_of",
    "entries_for",
    "fit",
    "held",
    "hold",
    "install",
    "is_id",
    "is_ip",
    "note",
    "note_all",
    "outcome_of",
    "path_ids",
    "record_out",
    "release",
    "resource_of",
    "trail",
    "trail_for",
]
