"""Request bodies every service refuses whole: too deep, or holding what cannot be stored."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_platform import bodies
from marac_platform.problems import Problem


def refused(raw: bytes) -> list[dict[str, str]]:
    with pytest.raises(Problem) as info:
        bodies.check_json(raw)
    assert info.value.code == 400
    return info.value.errors or []


def test_nesting_past_the_recursion_limit_is_a_400_not_a_recursion_error() -> None:
    assert refused(b"[" * 2000 + b"]" * 2000) == [
        {"field": "(body)", "reason": f"Nested deeper than {bodies.MAX_DEPTH} levels."}]
    assert refused(b'{"a": ' * 5000 + b"1" + b"}" * 5000)


def test_nesting_past_the_limit_names_where() -> None:
    raw = b'{"victim": ' + b'{"a": ' * bodies.MAX_DEPTH + b"1" + b"}" * bodies.MAX_DEPTH + b"}"
    [error] = refused(raw)
    assert error["field"].startswith("victim.a.a") and "Nested deeper" in error["reason"]
    fits = b'{"a": ' * (bodies.MAX_DEPTH - 1) + b"1" + b"}" * (bodies.MAX_DEPTH - 1)
    assert bodies.check_json(fits) is not None


def test_a_lone_surrogate_or_nul_is_named_by_its_field() -> None:
    raw = b'{"victim": {"name": {"given": "\\ud800"}}, "notes": ["ok", "a\\u0000b"]}'
    assert refused(raw) == [
        {"field": "notes[1]", "reason": "NUL characters are not allowed."},
        {"field": "victim.name.given",
         "reason": "Not valid Unicode: holds a lone surrogate (\\ud800-\\udfff)."}]
    assert [e["field"] for e in refused(b'{"\\udc00x": 1}')] == ["(key)"]


def test_a_surrogate_pair_is_a_character_like_any_other() -> None:
    assert bodies.check_json(b'{"given": "\\ud83d\\ude00"}') == {"given": "\U0001F600"}


def test_what_is_not_json_is_left_to_the_view() -> None:
    assert bodies.check_json(b'{"area_id": ') is None
    assert bodies.check_json(b"\xff\xfe") is None


STORABLE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                              blacklist_characters="\x00"))


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | STORABLE_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(STORABLE_TEXT, children,
                                                                        max_size=3),
    max_leaves=20))
def test_storable_json_passes_unchanged(value: object) -> None:
    assert bodies.check_json(json.dumps(value).encode()) == value
