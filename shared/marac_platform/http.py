"""The Flask side of every service: app factory, errors, guards, health, OpenAPI, tracing."""

from __future__ import annotations

import http
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from flask_smorest import Api, Blueprint
from flask_smorest.arguments import ArgumentsMixin
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException, InternalServerError

from marac_platform import apidocs, audit, auth, bodies, metrics, openapi, telemetry
from marac_platform import kafka as platform_kafka
from marac_platform.db import PurgeIncomplete, database_unavailable
from marac_platform.errors import DomainError
from marac_platform.problems import PROBLEM_TYPE, Problem, domain_response, problem_response
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security.crypto import CryptoError, KeyErased, KeyUnavailable
from marac_platform.service_spec import ServiceSpec

log = logging.getLogger(__name__)

BODY_METHODS = ("POST", "PUT", "PATCH")
READINESS_CACHE_S = 5.0


class ProblemFieldError(Schema):
    field = fields.Str(required=True)
    reason = fields.Str(required=True)


class ProblemError(Schema):
    """problem+json (RFC 9457) as every error of every service is answered."""

    type = fields.Str(required=True)
    title = fields.Str(required=True)
    status = fields.Int(required=True)
    detail = fields.Str()
    errors = fields.List(fields.Nested("ProblemFieldError"))
    trace_id = fields.Str()


class ServiceApi(Api):  # type: ignore[misc]
    """flask-smorest's Api documenting errors as they are sent: problem+json, not its own shape."""

    ERROR_SCHEMA = ProblemError

    def _init_spec(self, *args: Any, **kwargs: Any) -> None:
        super()._init_spec(*args, **kwargs)
        self.ma_plugin.converter.add_attribute_function(openapi.dict_sizes)

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error, as problem+json", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def hold_query_strings_to_their_schemas() -> None:
    """Unknown query parameters are refused (422 naming them), as unknown body fields are.

    webargs drops them by default; then a mistyped filter (`?caseid=`) would silently answer
    with more case data than was asked for. `None` defers to each schema's own `unknown`,
    which is RAISE unless a schema says otherwise. flask-smorest blueprints share one parser.
    """
    parser = ArgumentsMixin.ARGUMENTS_PARSER
    parser.DEFAULT_UNKNOWN_BY_LOCATION = {
        **type(parser).DEFAULT_UNKNOWN_BY_LOCATION, "query": None, "querystring": None}


def _refuse_nul_characters() -> None:
    # PostgreSQL cannot store or compare text holding NUL: refuse it as input, naming where.
    if "\x00" in request.path:
        raise Problem(400, "Bad request", "The path holds a NUL character.",
                      errors=[{"field": "(path)", "reason": "NUL characters are not allowed."}])
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            field = name if "\x00" not in name else "(query)"
            raise Problem(400, "Bad request", "A query parameter holds a NUL character.",
                          errors=[{"field": field, "reason": "NUL characters are not allowed."}])


def create_service_app(
    runtime: Runtime,
    blueprints: Iterable[Blueprint],
    *,
    title: str,
    authenticate: Callable[[], None] | None = None,
) -> Flask:
    """A service's Flask app: its blueprints under /v1, plus everything every service has."""
    settings = runtime.settings
    telemetry.setup_logging(runtime.service, settings.log_level)
    telemetry.setup_tracing(runtime.service, "web")
    if metrics.setup_metrics(runtime.service, "web") and settings.metrics_port:
        serve_metrics(settings.metrics_port)

    app = Flask(f"marac.{runtime.service}")
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
            "security": [{"bearerAuth": []}],
        },
        **apidocs.config(),
    )
    app.extensions["marac_runtime"] = runtime
    # First, so its span opens before any hook of ours can refuse the call: a 401 has a trace id.
    # Its spans only: its own HTTP metrics would label by the target as sent (case ids);
    # ours (log_request) label by route template.
    FlaskInstrumentor().instrument_app(  # type: ignore[no-untyped-call]
        app, excluded_urls="healthz,readyz,openapi.json,api-docs",
        meter_provider=NoOpMeterProvider())
    hold_query_strings_to_their_schemas()
    api = ServiceApi(app)
    apidocs.install(app)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)

    # One error shape for everything, replacing flask-smorest's own handler.
    app.register_error_handler(HTTPException, problem_response)
    app.register_error_handler(DomainError, domain_response)
    app.register_error_handler(Exception, _unexpected)

    @app.before_request
    def _guards() -> None:
        g.started = time.monotonic()
        # Who is calling comes first: an anonymous caller learns nothing, not even a 415.
        if authenticate is not None and request.path.startswith("/v1/"):
            authenticate()
        if request.path.startswith("/v1/"):
            _refuse_nul_characters()
        if request.method in BODY_METHODS and request.path.startswith("/v1/"):
            has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding")
            if has_body and not request.is_json:
                raise Problem(415, "Unsupported media type", "Send application/json.")
            if has_body:
                bodies.check_json(request.get_data(cache=True))

    # Registered first, so it runs last (Flask runs these in reverse) and logs the final status.
    app.after_request(log_request)

    @app.after_request
    def _trace_header(response: Response) -> Response:
        trace_id = telemetry.current_trace_id()
        if trace_id:
            response.headers["X-Trace-Id"] = trace_id  # quote it when reporting a problem
        return response

    # Registered after the trace header so it runs before it (Flask runs these in reverse):
    # a 503 that replaces a response whose audit record failed still carries the trace id.
    audit.install(app, runtime)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", service=runtime.service)

    readiness: dict[str, Any] = {"at": 0.0, "kafka": False}

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        checks: dict[str, str] = {}
        try:
            runtime.db.ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = type(exc).__name__
        now = time.monotonic()
        if now - readiness["at"] > READINESS_CACHE_S or not readiness["kafka"]:
            readiness["kafka"] = platform_kafka.broker_reachable(settings.kafka)
            readiness["at"] = now
        checks["kafka"] = "ok" if readiness["kafka"] else "unreachable"
        # Ready means "can take requests": every write lands in the database with its event in
        # the outbox, which the worker relays once Kafka is back. A broker outage is reported,
        # not a reason to take every pod out of its Service.
        ready = checks["database"] == "ok"
        return jsonify(status="ready" if ready else "not ready", checks=checks), (
            200 if ready else 503
        )

    if telemetry.exports_traces():
        # A span per SQL statement is about a tenth of a request's CPU: built only when spans
        # are exported, since nothing else reads them (the request span still is, for logs).
        SQLAlchemyInstrumentor().instrument(engine=runtime.db.engine)
    return app


def serve_metrics(port: int) -> None:
    """Each web process its own /metrics: gunicorn's second process takes the next port."""
    for candidate in range(port, port + 16):
        try:
            metrics.serve(candidate)
            return
        except OSError:
            continue
    logging.getLogger(__name__).warning("no metrics port free", extra={"port": port})


request_log = logging.getLogger("marac.request")
# Probes come every few seconds from every kubelet: logged only at MARAC_LOG_LEVEL=DEBUG.
PROBES = ("/healthz", "/readyz")


def log_request(response: Response) -> Response:
    """One JSON line per request: method, route template, status, duration and (by the
    formatter) the trace id. Never the path as sent, its query string or its body: they may
    carry personal data; the route template (`/v1/referrals/<referral_id>`) carries none."""
    started = g.get("started")
    duration_ms = round((time.monotonic() - started) * 1000, 1) if started is not None else None
    rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
    level = logging.DEBUG if request.path in PROBES else logging.INFO
    request_log.log(level, "request", extra={"method": request.method, "route": rule,
                                             "status": response.status_code, "duration_ms": duration_ms})
    if request.path not in PROBES:
        labels: dict[str, str | int] = {"method": request.method, "route": rule,
                                        "status": response.status_code}
        metrics.HTTP_REQUESTS.add(1, labels)
        if duration_ms is not None:
            metrics.HTTP_DURATION.record(duration_ms / 1000, labels)
    return response


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return problem_response(error)
    if isinstance(error, KeyErased):
        # A case erased while this call ran (or rows an erasure has not reached yet).
        return problem_response(Problem(410, "Gone", "This case has been erased.", slug="case-erased"))
    if isinstance(error, KeyUnavailable):
        # Configuration, not input: an area key named by a wrapped case key is not loaded.
        log.error("area key unavailable", extra={"reason_code": "area_key_unavailable",
                                                 "area_id": error.area_id, "path": request.path})
        return problem_response(Problem(
            503, "Service unavailable",
            "A key needed to read this case is not configured; the operators have been alerted.",
            slug="key-unavailable"))
    if isinstance(error, PurgeIncomplete):
        # An erasure whose key is gone but whose old copies a long reader still pins: retry.
        return problem_response(Problem(
            503, "Service unavailable", "The erasure is not complete yet; repeat it.",
            slug="erasure-incomplete", headers={"Retry-After": "5"}))
    if isinstance(error, CryptoError):
        log.error("decryption failed", extra={"reason_code": type(error).__name__, "path": request.path})
        return problem_response(InternalServerError())
    if database_unavailable(error):
        # Lost, refused or locked out (a restart, a failover, SQLite's lock held past its wait):
        # nothing was stored, and the same request will do once it is back.
        log.warning("database unavailable", extra={"reason_code": type(error).__name__,
                                                   "path": request.path})
        return problem_response(Problem(
            503, "Service unavailable", "The database cannot be reached just now; try again.",
            slug="database-unavailable", headers={"Retry-After": "5"}))
    if isinstance(error, DataError):
        # The database refused a value (out of range, malformed): input the schemas let through.
        log.warning("database refused a value", extra={"reason_code": type(error.orig).__name__,
                                                       "path": request.path})
        return problem_response(Problem(400, "Bad request", "A value in the request cannot be used."))
    if isinstance(error, IntegrityError):
        # Two requests raced for the same unique row (e.g. one Idempotency-Key): the loser retries.
        return problem_response(Problem(409, "Conflict", "A concurrent request changed this; retry.",
                                        headers={"Retry-After": "1"}))
    # The type only: the message of an unexpected error may carry input.
    log.error("unhandled error", extra={"reason_code": type(error).__name__, "path": request.path})
    return problem_response(InternalServerError())


def build_app(spec: ServiceSpec) -> Flask:
    """What every service's `create_app()` calls: runtime, token checks, the shared app with the
    service's declared blueprints."""
    runtime = Runtime(spec)
    verifier = auth.build_verifier(runtime.settings, runtime.areas)
    # Every service answers auditors: GET /v1/audit and /v1/audit/verify.
    return create_service_app(runtime, [*spec.blueprints(), audit.blp], title=spec.title,
                              authenticate=auth.authenticator(verifier))


def current_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["marac_runtime"]
    return runtime


@contextmanager
def request_unit_of_work() -> Iterator[UnitOfWork]:
    """The unit of work of an API call: its queries see only the caller's areas.

    Its changes commit together with the call's audit record once the response is ready
    (marac_platform.audit), so a call is stored with its record or not at all. An error
    inside the block rolls it back (answered 4xx/5xx as usual); a view that opens it again
    gets the same one. Its writes are flushed on leaving the block: a conflict (409) is found
    while the view can still answer for it.
    """
    uow = audit.held()
    if uow is None:
        uow = current_runtime().open_unit_of_work(auth.scope())
        audit.hold(uow)
    try:
        yield uow
        uow.session.flush()
    except BaseException:
        uow.session.rollback()
        uow.committed_hooks.clear()  # what they would follow up on is gone
        raise
