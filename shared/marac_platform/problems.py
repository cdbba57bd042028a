"""RFC 9457 problem details: the one error shape of every API, with field-by-field errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask import Response, json
from werkzeug.exceptions import HTTPException

from marac_platform import telemetry
from marac_platform.errors import Conflict, DomainError, Gone, IllegalMove, InvalidInput, NotFound

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "https://marac.example/problems/"


class Problem(HTTPException):
    """Raise from a view or use case to answer with problem+json."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description=detail)
        self.code = status
        self.title = title
        self.slug = slug
        self.errors = errors
        self.extra_headers = dict(headers or {})
        self.extra_body: dict[str, Any] = {}


def flatten_messages(messages: Any, prefix: str = "", *,
                     dotted: bool = False) -> Iterator[dict[str, str]]:
    """marshmallow/webargs nested messages -> [{"field": "victim.name.given", "reason": ...}].

    As answered: list items as `incidents[0].date`, a nested schema's own errors at the
    object's path, webargs' location key dropped. `dotted`: marshmallow's own paths instead
    (`incidents.0.date`, `victim.address._schema`), every key kept.
    """
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            key = str(key)
            if dotted:
                yield from flatten_messages(value, f"{prefix}.{key}" if prefix else key,
                                            dotted=True)
                continue
            if key in ("json", "query", "headers", "form", "files", "path") and not prefix:
                yield from flatten_messages(value, "")
                continue
            if key == "_schema":
                yield from flatten_messages(value, prefix)
                continue
            path = f"{prefix}[{key}]" if key.isdigit() else (f"{prefix}.{key}" if prefix else key)
            yield from flatten_messages(value, path)
    elif isinstance(messages, list | tuple):
        if all(isinstance(item, str) for item in messages):
            for reason in messages:
                yield {"field": prefix or "(body)", "reason": reason}
        else:
            for item in messages:
                yield from flatten_messages(item, prefix, dotted=dotted)
    else:
        yield {"field": prefix or "(body)", "reason": str(messages)}


TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem_response(error: HTTPException) -> Response:
    status = error.code or 500
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, error.name),
        "status": status,
    }
    headers: dict[str, str] = {}
    if isinstance(error, Problem):
        body["title"] = error.title
        if error.slug:
            body["type"] = TYPE_BASE + error.slug
        if error.description:
            body["detail"] = error.description
        if error.errors:
            body["errors"] = error.errors
        body.update(error.extra_body)
        headers.update(error.extra_headers)
    else:
        data = getattr(error, "data", None) or {}
        messages = data.get("messages") or data.get("errors")
        if messages:
            body["errors"] = list(flatten_messages(messages))
            body["detail"] = "The request has invalid fields; see errors."
            if status == 400:
                body["detail"] = "The request body is not valid JSON."
        elif status < 500 and error.description:
            body["detail"] = error.description
        headers.update(data.get("headers") or {})
        if status == 405 and error.get_response().headers.get("Allow"):
            headers["Allow"] = error.get_response().headers["Allow"]
    trace_id = telemetry.current_trace_id()
    if trace_id:
        body["trace_id"] = trace_id
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)
    for name, value in headers.items():
        response.headers[name] = value
    return response


# The one place a domain error becomes an HTTP answer.
_DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404), (Gone, 410), (Conflict, 409), (InvalidInput, 422))


def domain_problem(error: DomainError) -> Problem:
    status = next((code for kind, code in _DOMAIN_STATUS if isinstance(error, kind)), 400)
    problem = Problem(status, TITLES[status], error.detail, slug=error.slug,
                      errors=error.errors if isinstance(error, InvalidInput) else None)
    if isinstance(error, IllegalMove):
        problem.extra_body = {"current": error.current.value, "asked": error.asked.value}
    return problem


def domain_response(error: DomainError) -> Response:
    return problem_response(domain_problem(error))
