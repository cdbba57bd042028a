"""The Flask side of every service: app factory, errors, guards, health, OpenAPI, tracing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from flask_smorest import Api, Blueprint
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, InternalServerError

from marac_platform import auth, telemetry
from marac_platform import kafka as platform_kafka
from marac_platform.problems import Problem, problem_response
from marac_platform.runtime import Runtime, UnitOfWork

log = logging.getLogger(__name__)

BODY_METHODS = ("POST", "PUT", "PATCH")
READINESS_CACHE_S = 5.0


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
    )
    app.extensions["marac_runtime"] = runtime
    api = Api(app)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)

    # One error shape for everything, replacing flask-smorest's own handler.
    app.register_error_handler(HTTPException, problem_response)
    app.register_error_handler(Exception, _unexpected)

    @app.before_request
    def _guards() -> None:
        g.started = time.monotonic()
        if request.method in BODY_METHODS and request.path.startswith("/v1/"):
            has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding")
            if has_body and not request.is_json:
                raise Problem(415, "Unsupported media type", "Send application/json.")
        if authenticate is not None and request.path.startswith("/v1/"):
            authenticate()

    @app.after_request
    def _trace_header(response: Response) -> Response:
        trace_id = telemetry.current_trace_id()
        if trace_id:
            response.headers["X-Trace-Id"] = trace_id  # quote it when reporting a problem
        return response

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
        ready = all(value == "ok" for value in checks.values())
        return jsonify(status="ready" if ready else "not ready", checks=checks), (
            200 if ready else 503
        )

    FlaskInstrumentor().instrument_app(  # type: ignore[no-untyped-call]
        app, excluded_urls="healthz,readyz,openapi.json")
    SQLAlchemyInstrumentor().instrument(engine=runtime.db.engine)
    return app


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return problem_response(error)
    if isinstance(error, IntegrityError):
        # Two requests raced for the same unique row (e.g. one Idempotency-Key): the loser retries.
        return problem_response(Problem(409, "Conflict", "A concurrent request changed this; retry.",
                                        headers={"Retry-After": "1"}))
    # The type only: the message of an unexpected error may carry input.
    log.error("unhandled error", extra={"reason_code": type(error).__name__, "path": request.path})
    return problem_response(InternalServerError())


def build_app(service: str, blueprints: Iterable[Blueprint], *, title: str) -> Flask:
    """What every service's `create_app()` calls: runtime, token checks, the shared app."""
    from marac_platform.worker import build_runtime

    runtime = build_runtime(service)
    verifier = auth.build_verifier(runtime.settings, runtime.areas)
    return create_service_app(runtime, blueprints, title=title,
                              authenticate=auth.authenticator(verifier))


def current_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["marac_runtime"]
    return runtime


@contextmanager
def request_unit_of_work() -> Iterator[UnitOfWork]:
    """The unit of work of an API call: its queries see only the caller's areas."""
    with current_runtime().unit_of_work(auth.scope()) as uow:
        yield uow
