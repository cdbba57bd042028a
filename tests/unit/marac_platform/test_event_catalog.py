"""The event catalog is the one contract: every type has a constant, a frozen payload
dataclass its schema loads into, and an AsyncAPI entry; docs/asyncapi.yaml matches it; no
code names an event type but by its constant."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from marac_platform import asyncapi, events, payloads

ROOT = Path(__file__).resolve().parents[3]
CONSTANTS = {value: name for name, value in vars(events).items()
             if name.isupper() and isinstance(value, str) and value.startswith("marac.")}


@pytest.mark.parametrize("spec", list(events.CATALOG.values()), ids=list(events.CATALOG))
def test_every_event_type_has_a_constant_a_dataclass_and_an_asyncapi_entry(
        spec: events.EventSpec) -> None:
    assert spec.type in CONSTANTS
    assert dataclasses.is_dataclass(spec.payload) and spec.payload.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert {f.name for f in dataclasses.fields(spec.payload)} == set(spec.schema().fields)
    document = asyncapi.document()
    message = document["components"]["messages"][spec.payload.__name__]
    assert message["name"] == spec.type
    assert document["channels"][spec.topic]["messages"][spec.payload.__name__]
    assert spec.payload.__name__ in document["components"]["schemas"]


def test_every_constant_is_in_the_catalog() -> None:
    assert set(CONSTANTS) == set(events.CATALOG)


def test_a_schema_loads_into_its_dataclass_and_dumps_from_it() -> None:
    raw = {"case_id": "case-1", "area_id": "northshire", "reason": "request"}
    loaded = payloads.CaseErasedSchema().load(raw)
    assert loaded == payloads.CaseErased(case_id="case-1", area_id="northshire", reason="request")
    message = events.new_message(events.CASE_ERASED, source="/t", subject="case-1",
                                 area="northshire", data=loaded)
    decoded = events.decode({k: v.encode() for k, v in message.headers.items()},
                            message.key.encode(), message.value)
    assert decoded.payload(payloads.CaseErased) == loaded
    with pytest.raises(TypeError, match="not CaseHeard"):
        decoded.payload(payloads.CaseHeard)


def test_docs_asyncapi_matches_the_catalog() -> None:
    checked_in = (ROOT / "docs" / "asyncapi.yaml").read_text(encoding="utf-8")
    assert checked_in == asyncapi.render(), "run: marac asyncapi > docs/asyncapi.yaml"
    assert yaml.safe_load(checked_in)["asyncapi"] == "3.0.0"


def test_no_code_names_an_event_type_but_by_its_constant() -> None:
    literal = re.compile(r"[\"']marac\.[a-z_]+\.[a-z_]+\.v\d+[\"']")
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for folder in ("shared", "services")
                 for path in (ROOT / folder).rglob("*.py")
                 if path.name != "events.py" and "migrations" not in path.parts
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if literal.search(line)]
    assert offenders == []
