"""Property-based fuzzing of every service's OpenAPI document (schemathesis), in-process over WSGI.

Each operation gets a bounded, deterministic run (valid and invalid inputs): no 5xx, and every
response, errors included, has a documented status, content type and shape.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from marac_platform.security.tokens import mint_token
from marac_platform.settings import SERVICES, settings_for
from tests.conftest import PlatformEnv, in_process, make_platform_env
from tests.support.infra import PostgresServer

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 10  # per operation and mode: ~1,000 calls a service, deterministic
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def platform(kafka_bootstrap: str, postgres: PostgresServer,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformEnv]:
    created = make_platform_env(kafka_bootstrap, postgres, tmp_path_factory.mktemp("fuzz"))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in in_process(created.env).items():  # the clock stays this process's
            patch.setenv(key, value)
        settings_for.cache_clear()
        yield created
    settings_for.cache_clear()


@pytest.fixture(scope="module")
def apps(platform: PlatformEnv) -> Iterator[dict[str, Flask]]:
    built = {service: importlib.import_module(f"services.{service}.app").create_app()
             for service in SERVICES}
    yield built
    for app in built.values():
        app.extensions["marac_runtime"].db.dispose()


def bearer(platform: PlatformEnv, role: str) -> dict[str, str]:
    key = (Path(platform.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    token = mint_token(key, subject=f"fuzz-{role}", agency="police", role=role,
                       areas=["northshire", "southshire"], audience="marac", issuer="marac-dev",
                       ttl_s=3600)
    return {"Authorization": f"Bearer {token}"}


def role_for(method: str, path: str) -> str:
    """Coordinators for the case work; admin for erasure and the audit trail (their permissions)."""
    if path.startswith("/v1/audit") or (method == "DELETE" and path.startswith("/v1/cases/")):
        return "admin"
    return "coordinator"


def fuzz_operation(operation: Any, headers: dict[str, str], mode: GenerationMode) -> None:
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=checks, headers=headers)

    run()


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_survives_fuzzing_and_answers_as_documented(
    apps: dict[str, Flask], platform: PlatformEnv, service: str
) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", apps[service])
    # A valid token on every request: the token checks have their own tests, and a fuzzed
    # Authorization header would only spend the budget on 401s.
    schema.config.generation.update(with_security_parameters=False)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        headers = bearer(platform, role_for(operation.method.upper(), operation.path))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, headers, mode)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.path  # nothing to make invalid
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: "
                                f"{type(exc).__name__}: {str(exc)[:1500]}")
    assert operations >= 3, f"{service}: only {operations} operations documented"
    assert not failures, "\n\n".join(failures)
