"""Each service's /openapi.json says what its server accepts: the body of a one-shot submit,
the Idempotency-Key header where it is read, and every length limit the schemas enforce, so a
client generated from the document sends what the server takes."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from marshmallow import Schema, fields, validate

from marac_platform import idempotency
from marac_platform.settings import SERVICES, settings_for
from services.referral.schemas import ReferralSubmitSchema
from tests.conftest import REPO

pytestmark = pytest.mark.integration

BODY_METHODS = ("post", "put", "patch")


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Flask, dict[str, Any]]]]:
    """Every service's app (SQLite in a scratch folder: the documents need no database)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DATABASE_URL", *(f"{s.upper()}_DATABASE_URL" for s in SERVICES)):
            patch.delenv(name, raising=False)
        patch.setenv("MARAC_DATA_DIR", str(tmp_path_factory.mktemp("openapi")))
        patch.setenv("MARAC_AREAS_FILE", str(REPO / "deploy" / "areas.yaml"))
        settings_for.cache_clear()
        built = {}
        for service in SERVICES:
            app = importlib.import_module(f"services.{service}.app").create_app()
            document = app.test_client().get("/openapi.json")
            assert document.status_code == 200
            built[service] = (app, document.get_json())
        yield built
        for app, _ in built.values():
            app.extensions["marac_runtime"].db.dispose()
    settings_for.cache_clear()


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "delete", *BODY_METHODS):
                yield method, path, operation


def view_of(app: Flask, path: str, method: str) -> Any:
    """The view method serving an OpenAPI path, undecorated."""
    rule_path = path.replace("{", "<").replace("}", ">")
    rule = next(r for r in app.url_map.iter_rules() if r.rule == rule_path)
    return getattr(app.view_functions[rule.endpoint].view_class, method)


# --- POST /v1/referrals?submit=true ---------------------------------------------------------


def test_the_create_body_is_the_submit_schema_with_submit_true_and_a_draft_otherwise(
    apps: dict[str, tuple[Flask, dict[str, Any]]]
) -> None:
    _, spec = apps["referral"]
    operation = spec["paths"]["/v1/referrals"]["post"]
    submit = next(p for p in operation["parameters"] if p["name"] == "submit")
    assert (submit["in"], submit["schema"]["type"]) == ("query", "boolean")
    assert "SubmitReferral" in submit["description"] and "DraftReferral" in submit["description"]
    body = operation["requestBody"]
    assert body["required"] is True
    choices = body["content"]["application/json"]["schema"]["anyOf"]
    assert choices[0] == {"$ref": "#/components/schemas/SubmitReferral"}
    assert choices[1]["allOf"] == [{"$ref": "#/components/schemas/DraftReferral"},
                                   {"type": "object", "required": ["area_id"]}]
    # The submit schema is the server's: every field it requires is required in the document.
    whole = resolve(spec, choices[0])
    required = {f.data_key or name for name, f in ReferralSubmitSchema().fields.items() if f.required}
    assert set(whole["required"]) == required and {"victim", "incidents", "dash"} <= required
    assert whole["properties"]["perpetrators"]["minItems"] == 1
    victim = resolve(spec, whole["properties"]["victim"])
    assert "name" in victim["required"]
    # A draft is saved as the referrer goes: nothing but the checklist of DASH answers required.
    draft = resolve(spec, choices[1]["allOf"][0])
    assert "required" not in draft
    # PATCH and the submit step take what they always took.
    patch = spec["paths"]["/v1/referrals/{referral_id}"]["patch"]["requestBody"]
    assert patch["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/DraftReferral"}


# --- Idempotency-Key ------------------------------------------------------------------------


def test_every_post_that_reads_an_idempotency_key_documents_it_with_its_limits(
    apps: dict[str, tuple[Flask, dict[str, Any]]]
) -> None:
    documented_on = []
    for service, (app, spec) in apps.items():
        for method, path, operation in operations(spec):
            source = inspect.getsource(inspect.unwrap(view_of(app, path, method)))
            reads_key = "idempotency.once(" in source
            headers = [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"]
            assert bool(headers) == reads_key, (service, method, path)
            if headers:
                assert headers[0]["in"] == "header"
                assert headers[0]["schema"] == {"type": "string", "minLength": 1,
                                                "maxLength": idempotency.MAX_KEY_LENGTH}
                documented_on.append((service, method, path))
    assert ("referral", "post", "/v1/referrals") in documented_on
    assert len(documented_on) >= 7  # referral: create, submit, screening; scheduling: four


# --- length limits --------------------------------------------------------------------------


def limits_of(field: fields.Field[Any]) -> dict[str, Any]:
    """What the server enforces on a field's length, in OpenAPI words."""
    lengths = [v for v in field.validators if isinstance(v, validate.Length)]
    if isinstance(field, fields.List):
        keywords = ("minItems", "maxItems")
    elif isinstance(field, fields.Dict):
        keywords = ("minProperties", "maxProperties")
    else:
        keywords = ("minLength", "maxLength")
    found: dict[str, Any] = {}
    for length in lengths:
        low = length.equal if length.equal is not None else length.min
        high = length.equal if length.equal is not None else length.max
        if low is not None:
            found[keywords[0]] = max(found.get(keywords[0], low), low)
        if high is not None:
            found[keywords[1]] = min(found.get(keywords[1], high), high)
    return found


def assert_documented(field: fields.Field[Any], documented: dict[str, Any], where: str) -> int:
    checked = 0
    for keyword, value in limits_of(field).items():
        assert documented.get(keyword) == value, (where, keyword, documented)
        checked += 1
    if isinstance(field, fields.List) and field.inner is not None and "items" in documented:
        checked += assert_documented(field.inner, documented["items"], f"{where}[]")
    if isinstance(field, fields.Dict):
        if field.key_field is not None:
            checked += assert_documented(field.key_field, documented.get("x-propertyNames", {}),
                                         f"{where}{{key}}")
        if field.value_field is not None:
            checked += assert_documented(field.value_field, documented["additionalProperties"],
                                         f"{where}{{}}")
    return checked


def test_every_length_limit_of_every_schema_is_in_the_document(
    apps: dict[str, tuple[Flask, dict[str, Any]]]
) -> None:
    checked = 0
    for service, (app, spec) in apps.items():
        converter = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].ma_plugin.converter
        # Bodies and responses: each schema the document holds as a component.
        for key, name in converter.refs.items():
            schema: Schema = key[0]()
            properties = spec["components"]["schemas"][name].get("properties", {})
            for field_name, field in schema.load_fields.items():
                documented = properties[field.data_key or field_name]
                checked += assert_documented(field, documented, f"{service}:{name}.{field_name}")
        # Query strings: flask-smorest spreads their schemas into parameters.
        for method, path, operation in operations(spec):
            view = view_of(app, path, method)
            for argument in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                if argument["in"] != "query":
                    continue
                query: Schema = argument["schema"]()
                parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
                for field_name, field in query.load_fields.items():
                    checked += assert_documented(field, parameters[field.data_key or field_name]["schema"],
                                                 f"{service}:{method} {path} ?{field_name}")
    assert checked > 150


def unbounded(spec: dict[str, Any], node: dict[str, Any], where: str,
              seen: frozenset[str] = frozenset()) -> Iterator[str]:
    """Inputs a client cannot know the size limit of."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen, node = seen | {name}, resolve(spec, node)
    for keyword in ("anyOf", "oneOf", "allOf"):
        for choice in node.get(keyword, []):
            yield from unbounded(spec, choice, where, seen)
    kind = node.get("type")
    if kind == "string" and not ("maxLength" in node or "enum" in node
                                 or node.get("format") in ("date", "date-time")):
        yield where
    elif kind == "array":
        if "maxItems" not in node:
            yield where
        yield from unbounded(spec, node.get("items", {}), f"{where}[]", seen)
    elif isinstance(node.get("additionalProperties"), dict):
        if "maxProperties" not in node:
            yield where
        yield from unbounded(spec, node["additionalProperties"], f"{where}{{}}", seen)
    for name, child in node.get("properties", {}).items():
        yield from unbounded(spec, child, f"{where}.{name}", seen)


def test_every_string_list_and_map_a_client_sends_has_its_limit_documented(
    apps: dict[str, tuple[Flask, dict[str, Any]]]
) -> None:
    found: list[str] = []
    for service, (_, spec) in apps.items():
        for method, path, operation in operations(spec):
            where = f"{service}:{method} {path}"
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "path":  # ids in paths: an unknown one is a 404, any length
                    found += unbounded(spec, parameter["schema"], f"{where} {parameter['name']}")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                found += unbounded(spec, body["schema"], f"{where} body")
    assert found == []

