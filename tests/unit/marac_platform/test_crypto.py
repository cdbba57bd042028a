"""Envelope encryption: area key ring, data-key wrapping and rotation, field and document crypto."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_platform.security.crypto import (
    AreaKeyRing,
    DataKey,
    DecryptionFailed,
    DocumentPathError,
    KeyErased,
    KeyRingError,
    KeyUnavailable,
    WrappedKey,
    decrypt_document,
    decrypt_value,
    encrypt_document,
    encrypt_value,
    generate_area_key,
    generate_data_key,
    rewrap,
    unwrap,
    wrap,
)

K1, K2 = generate_area_key(), generate_area_key()
SECRET = "Jane Example, 1 High Street"


def ring(current: str = "k1", **keys: str) -> AreaKeyRing:
    return AreaKeyRing(
        {
            "area-a": {"current": current, "keys": keys or {"k1": K1}},
            "area-b": {"current": "b1", "keys": {"b1": generate_area_key()}},
        }
    )


# Key ring -------------------------------------------------------------------------------------


def test_generate_area_key_is_32_random_bytes() -> None:
    assert len(base64.b64decode(K1)) == 32
    assert K1 != K2


@pytest.mark.parametrize(
    "config",
    [
        {"area-a": {"current": "k2", "keys": {"k1": K1}}},
        {"area-a": {"current": "k1", "keys": {}}},
        {"area-a": {"current": "k1", "keys": {"k1": "c2hvcnQ="}}},
        {"area-a": {"current": "k1", "keys": {"k1": "not base64!"}}},
        {"area-a": {"current": "k:1", "keys": {"k:1": K1}}},
        {"area a": {"current": "k1", "keys": {"k1": K1}}},
    ],
)
def test_key_ring_rejects_bad_config(config: dict[str, Any]) -> None:
    with pytest.raises(KeyRingError) as info:
        AreaKeyRing(config)
    assert K1 not in str(info.value)


def test_key_ring_never_shows_keys() -> None:
    keyring = ring()
    assert K1 not in repr(keyring)
    assert keyring.current_kid("area-a") == "k1"
    assert keyring.areas == {"area-a", "area-b"}
    with pytest.raises(KeyUnavailable):
        keyring.current_kid("area-z")


def test_data_key() -> None:
    dek = generate_data_key()
    assert len(dek) == 32 and isinstance(dek, bytes)
    assert "redacted" in repr(dek) and "redacted" in str(dek)
    assert generate_data_key() != dek
    with pytest.raises(ValueError):
        DataKey(b"short")


# Wrapping -------------------------------------------------------------------------------------


def test_wrap_round_trip_and_serialisation() -> None:
    keyring, dek = ring(), generate_data_key()
    wrapped = wrap(keyring, "area-a", dek)
    assert (wrapped.area_id, wrapped.kid) == ("area-a", "k1")
    text = wrapped.serialise()
    assert text.startswith("wk1:area-a:k1:")
    assert WrappedKey.parse(text) == wrapped
    assert unwrap(keyring, wrapped) == dek
    assert unwrap(keyring, text) == dek


def test_wrapped_key_bound_to_its_area_and_kid() -> None:
    keyring = AreaKeyRing(
        {
            "area-a": {"current": "k1", "keys": {"k1": K1}},
            "area-b": {"current": "k1", "keys": {"k1": K1}},  # same key material on purpose
        }
    )
    wrapped = wrap(keyring, "area-a", generate_data_key())
    relabelled = WrappedKey("area-b", "k1", wrapped.nonce, wrapped.ciphertext)
    with pytest.raises(DecryptionFailed):
        unwrap(keyring, relabelled)


def test_tampered_wrapped_key() -> None:
    keyring = ring()
    wrapped = wrap(keyring, "area-a", generate_data_key())
    flipped = bytes([wrapped.ciphertext[0] ^ 1]) + wrapped.ciphertext[1:]
    with pytest.raises(DecryptionFailed):
        unwrap(keyring, WrappedKey("area-a", "k1", wrapped.nonce, flipped))


@pytest.mark.parametrize(
    "text", ["", "wk1:area-a:k1", "wk2:area-a:k1:AAAA:AAAA", "wk1:area-a:k1:!!:AAAA", "x" * 80]
)
def test_malformed_wrapped_key(text: str) -> None:
    with pytest.raises(DecryptionFailed):
        WrappedKey.parse(text)


def test_rotation_rewrap_keeps_data_readable() -> None:
    old = ring("k1", k1=K1)
    dek = generate_data_key()
    wrapped = wrap(old, "area-a", dek)
    token = encrypt_value(dek, SECRET, case_id="case-1", field="victim.name")

    rotated = ring("k2", k1=K1, k2=K2)
    new_wrapped = rewrap(rotated, wrapped)
    assert new_wrapped.kid == "k2"
    assert rewrap(rotated, new_wrapped) is new_wrapped  # already current: unchanged

    # Once every data key is re-wrapped the old area key can be removed.
    retired = ring("k2", k2=K2)
    unwrapped = unwrap(retired, new_wrapped.serialise())
    assert decrypt_value(unwrapped, token, case_id="case-1", field="victim.name") == SECRET


def test_unwrap_with_removed_key_fails() -> None:
    wrapped = wrap(ring("k1", k1=K1), "area-a", generate_data_key())
    with pytest.raises(KeyUnavailable) as info:
        unwrap(ring("k2", k2=K2), wrapped)
    assert (info.value.area_id, info.value.kid) == ("area-a", "k1")
    with pytest.raises(KeyUnavailable):
        rewrap(ring("k2", k2=K2), wrapped)


# Field encryption -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(value=json_values)
def test_value_round_trip(value: Any) -> None:
    dek = DataKey(b"\x01" * 32)
    token = encrypt_value(dek, value, case_id="case-1", field="victim.name")
    assert token.startswith("enc1:")
    assert decrypt_value(dek, token, case_id="case-1", field="victim.name") == value


def test_ciphertext_hides_value_and_is_randomised() -> None:
    dek = generate_data_key()
    one = encrypt_value(dek, SECRET, case_id="case-1", field="victim.name")
    two = encrypt_value(dek, SECRET, case_id="case-1", field="victim.name")
    assert one != two
    assert "Jane" not in one
    assert base64.b64encode(SECRET.encode()).decode()[:8] not in one


def test_short_values_padded_to_same_length() -> None:
    dek = generate_data_key()
    lengths = {
        len(encrypt_value(dek, name, case_id="c", field="f")) for name in ("Al", "Bartholomew")
    }
    assert len(lengths) == 1


@pytest.mark.parametrize(
    ("case_id", "field"),
    [("case-2", "victim.name"), ("case-1", "victim.phone"), ("case-1", "victim.name ")],
)
def test_ciphertext_bound_to_case_and_field(case_id: str, field: str) -> None:
    dek = generate_data_key()
    token = encrypt_value(dek, SECRET, case_id="case-1", field="victim.name")
    with pytest.raises(DecryptionFailed) as info:
        decrypt_value(dek, token, case_id=case_id, field=field)
    assert "Jane" not in str(info.value)
    assert (info.value.case_id, info.value.field) == (case_id, field)


def test_wrong_key_and_tampering_fail() -> None:
    dek = generate_data_key()
    token = encrypt_value(dek, SECRET, case_id="case-1", field="f")
    with pytest.raises(DecryptionFailed):
        decrypt_value(generate_data_key(), token, case_id="case-1", field="f")
    body = bytearray(base64.urlsafe_b64decode(token[5:] + "=" * (-len(token[5:]) % 4)))
    body[-1] ^= 1
    tampered = "enc1:" + base64.urlsafe_b64encode(bytes(body)).decode().rstrip("=")
    for bad in (tampered, "enc1:", "enc1:!!!", "enc2:" + token[5:], SECRET):
        with pytest.raises(DecryptionFailed) as info:
            decrypt_value(dek, bad, case_id="case-1", field="f")
        assert "Jane" not in str(info.value)


def test_erased_key() -> None:
    token = encrypt_value(generate_data_key(), SECRET, case_id="case-1", field="f")
    with pytest.raises(KeyErased) as info:
        decrypt_value(None, token, case_id="case-1", field="f")
    assert info.value.case_id == "case-1"
    assert str(info.value) == "data key erased: case=case-1"


def test_not_json_serialisable() -> None:
    with pytest.raises(TypeError):
        encrypt_value(generate_data_key(), object(), case_id="c", field="f")
    with pytest.raises(ValueError):
        encrypt_value(generate_data_key(), float("nan"), case_id="c", field="f")


# Documents -------------------------------------------------------------------------------------

PATHS = ["victim.name", "victim.dob", "perpetrators[].name", "incidents[].summary", "aliases[]"]


def referral() -> dict[str, Any]:
    return {
        "case_id": "case-1",
        "area": "area-a",
        "victim": {"name": "Jane Example", "dob": "1990-01-01", "risk_score": 16},
        "perpetrators": [{"name": "John Example", "role": "partner"}, {"role": "ex-partner"}],
        "incidents": [
            {"summary": "Narrative one", "date": "2024-05-01"},
            {"summary": {"lines": ["nested", "narrative"]}},
        ],
        "aliases": ["JE", "Janey"],
        "children": None,
    }


def test_document_round_trip_with_lists() -> None:
    dek, doc = generate_data_key(), referral()
    encrypted = encrypt_document(dek, doc, PATHS, "case-1")

    assert doc == referral()  # input untouched
    assert encrypted["victim"]["risk_score"] == 16
    assert encrypted["perpetrators"][0]["role"] == "partner"
    assert "name" not in encrypted["perpetrators"][1]  # missing: skipped
    assert encrypted["incidents"][0]["date"] == "2024-05-01"
    for value in (
        encrypted["victim"]["name"],
        encrypted["victim"]["dob"],
        encrypted["perpetrators"][0]["name"],
        encrypted["incidents"][1]["summary"],
        *encrypted["aliases"],
    ):
        assert isinstance(value, str) and value.startswith("enc1:")
    text = json.dumps(encrypted)
    for personal in ("Jane", "John", "1990", "Narrative", "narrative", "Janey"):
        assert personal not in text

    assert decrypt_document(dek, encrypted, PATHS, "case-1") == doc


def test_document_missing_paths_and_nulls_skipped() -> None:
    dek = generate_data_key()
    doc: dict[str, Any] = {"victim": None, "incidents": [], "other": 1}
    assert encrypt_document(dek, doc, [*PATHS, "children[].name"], "case-1") == doc
    assert decrypt_document(None, doc, PATHS, "case-1") == doc  # nothing to decrypt


def test_document_bound_to_case() -> None:
    dek = generate_data_key()
    encrypted = encrypt_document(dek, referral(), PATHS, "case-1")
    with pytest.raises(DecryptionFailed) as info:
        decrypt_document(dek, encrypted, PATHS, "case-2")
    assert info.value.case_id == "case-2"


def test_document_field_swap_detected() -> None:
    dek = generate_data_key()
    encrypted = encrypt_document(dek, referral(), PATHS, "case-1")
    encrypted["victim"]["name"], encrypted["perpetrators"][0]["name"] = (
        encrypted["perpetrators"][0]["name"],
        encrypted["victim"]["name"],
    )
    with pytest.raises(DecryptionFailed) as info:
        decrypt_document(dek, encrypted, PATHS, "case-1")
    assert info.value.field == "victim.name"


def test_document_plaintext_where_ciphertext_belongs_refused() -> None:
    dek = generate_data_key()
    encrypted = encrypt_document(dek, referral(), PATHS, "case-1")
    encrypted["victim"]["name"] = "Injected Name"
    with pytest.raises(DecryptionFailed) as info:
        decrypt_document(dek, encrypted, PATHS, "case-1")
    assert "Injected" not in str(info.value)


def test_document_erased_key() -> None:
    encrypted = encrypt_document(generate_data_key(), referral(), PATHS, "case-1")
    with pytest.raises(KeyErased):
        decrypt_document(None, encrypted, PATHS, "case-1")


def test_document_nested_lists() -> None:
    dek = generate_data_key()
    doc = {"households": [{"members": [{"name": "A"}, {"name": "B"}]}, {"members": []}]}
    paths = ["households[].members[].name"]
    encrypted = encrypt_document(dek, doc, paths, "case-1")
    assert encrypted["households"][0]["members"][1]["name"].startswith("enc1:")
    assert decrypt_document(dek, encrypted, paths, "case-1") == doc


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"victim": ["Jane"]}, "victim.name"),
        ({"perpetrators": {"name": "John"}}, "perpetrators[].name"),
        ({"victim": "Jane"}, "victim.name"),
    ],
)
def test_document_shape_mismatch_is_an_error(doc: dict[str, Any], path: str) -> None:
    # Silently skipping would leave personal data in clear text.
    with pytest.raises(DocumentPathError) as info:
        encrypt_document(generate_data_key(), doc, [path], "case-1")
    assert "Jane" not in str(info.value) and "John" not in str(info.value)


@pytest.mark.parametrize(
    "paths",
    [["victim..name"], ["victim.name[0]"], [""], ["victim", "victim.name"], "victim.name"],
)
def test_bad_paths(paths: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        encrypt_document(generate_data_key(), referral(), paths, "case-1")


def test_full_envelope_erasure() -> None:
    # A case's wrapped key is the only way to its data; once destroyed, the fields are gone.
    keyring, dek = ring(), generate_data_key()
    stored_key: str | None = wrap(keyring, "area-a", dek).serialise()
    stored_doc = encrypt_document(dek, referral(), PATHS, "case-1")
    assert stored_key is not None
    assert decrypt_document(unwrap(keyring, stored_key), stored_doc, PATHS, "case-1") == referral()

    stored_key = None  # erasure
    recovered = unwrap(keyring, stored_key) if stored_key else None
    with pytest.raises(KeyErased):
        decrypt_document(recovered, stored_doc, PATHS, "case-1")
