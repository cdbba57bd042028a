"""The Flask side of the audit trail: one record per case an authenticated /v1 call touched,
appended before its response leaves, in one transaction with the call's unit of work.

`install(app, runtime)` (called by the app factory) adds the `after_request` hook. A record that
cannot be written means the response is not served either: the caller gets 503 instead (fail
closed), and nothing of the call was stored. Views that disclose several cases declare each one
(`note`, `note_all`); cases in the path, the query, or anywhere in a JSON response (an object
with a `case_id`) are found too. Records carry ids and codes only: the resource is the route with
its id-shaped path arguments, never a query string or a body.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

from marac_platform import telemetry
from marac_platform.audit.store import AuditTrail, Entry, trail_for
from marac_platform.problems import Problem, problem_response
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security.audit_chain import AuditRecord
from marac_platform.security.tokens import Principal

log = logging.getLogger("marac_platform.audit")  # one logger for the whole trail

RESOURCE_CHARS = 100  # the audit_log.resource column
NAME_CHARS = 200  # the audit_log.subject and .agency columns
ACTIONS: Mapping[str, str] = {
    "GET": "read", "HEAD": "read", "POST": "create", "PUT": "update", "PATCH": "update",
    "DELETE": "delete",
}
# The auditors' API (marac_platform.audit.api): its responses list other calls' cases.
API_BLUEPRINT = "audit"
# What may be copied from a path or query into a record: ids, never free text.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


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
    if response.is_json and response.status_code < 400 and request.blueprint != API_BLUEPRINT:
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

