"""Envelope encryption of personal fields: per-case AES-256-GCM data keys wrapped by area keys.

Each case has its own data key (DEK); personal fields are encrypted with it, bound to the
case id and field path. The DEK is stored only wrapped by its area's current key. Destroying
a case's wrapped DEK makes every copy of its personal fields unreadable (crypto-shredding);
rotating an area key re-wraps DEKs without touching the field ciphertexts.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from marac_platform.security.roles import is_area_id

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
TOKEN_PREFIX: Final = "enc1:"
WRAPPED_PREFIX: Final = "wk1"
# Plaintexts are padded to a multiple of this so ciphertext length only roughly hints at the
# length of a name or phone number.
_PAD_BLOCK: Final = 32
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PATH_SEGMENT = re.compile(r"([A-Za-z0-9_-]+)((?:\[\])*)")
_EACH: Final = "[]"


class CryptoError(Exception):
    """Base of the errors below; messages carry ids and codes, never key material or values."""


class KeyRingError(CryptoError, ValueError):
    """The area key configuration is malformed."""


class KeyUnavailable(CryptoError):
    """The area key a wrapped key names is not in the key ring (removed or never configured)."""

    def __init__(self, area_id: str, kid: str | None = None) -> None:
        super().__init__(f"area key unavailable: area={area_id} kid={kid}")
        self.area_id = area_id
        self.kid = kid


class KeyErased(CryptoError):
    """The case's data key has been destroyed: its personal fields are gone for good."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"data key erased: case={case_id}")
        self.case_id = case_id


class DecryptionFailed(CryptoError):
    """Ciphertext is malformed, tampered with, moved to another case/field, or the key is wrong."""

    def __init__(self, case_id: str | None = None, field: str | None = None) -> None:
        super().__init__(f"decryption failed: case={case_id} field={field}")
        self.case_id = case_id
        self.field = field


class DocumentPathError(CryptoError, ValueError):
    """A path's shape does not match the document (e.g. `[]` where there is no list)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"document does not match path: {path}")
        self.path = path


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5), as tokens, JWK thumbprints and our ciphertexts use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode_key(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("key is not a string")
    material = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    if len(material) != KEY_BYTES:
        raise ValueError("key is not 32 bytes")
    return material


def generate_area_key() -> str:
    """A new random 256-bit area key, base64, for the key ring configuration."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


class AreaKeyRing:
    """Area keys by area and key id, one current per area; built from configuration:

    `{area_id: {"current": kid, "keys": {kid: base64 of 32 bytes}}}`. Keys retired by
    rotation stay in the ring until every DEK wrapped by them has been re-wrapped.
    """

    def __init__(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        areas: dict[str, tuple[str, dict[str, bytes]]] = {}
        for area_id, entry in config.items():
            if not is_area_id(area_id):
                raise KeyRingError("malformed area id in key ring")
            current = entry.get("current")
            keys = entry.get("keys")
            if not isinstance(keys, Mapping) or not keys:
                raise KeyRingError(f"area {area_id}: no keys")
            decoded: dict[str, bytes] = {}
            for kid, text in keys.items():
                if not isinstance(kid, str) or _KID.fullmatch(kid) is None:
                    raise KeyRingError(f"area {area_id}: malformed key id")
                try:
                    decoded[kid] = _decode_key(text)
                except (ValueError, binascii.Error):
                    raise KeyRingError(
                        f"area {area_id} key {kid}: not base64 of 32 bytes"
                    ) from None
            if not isinstance(current, str) or current not in decoded:
                raise KeyRingError(f"area {area_id}: current key id is not among its keys")
            areas[area_id] = (current, decoded)
        self._areas = areas

    @classmethod
    def from_mapping(cls, config: Mapping[str, Mapping[str, Any]]) -> AreaKeyRing:
        return cls(config)

    def __repr__(self) -> str:
        return f"AreaKeyRing(areas={sorted(self._areas)})"

    @property
    def areas(self) -> frozenset[str]:
        return frozenset(self._areas)

    def current_kid(self, area_id: str) -> str:
        entry = self._areas.get(area_id)
        if entry is None:
            raise KeyUnavailable(area_id)
        return entry[0]

    def kids(self, area_id: str) -> frozenset[str]:
        entry = self._areas.get(area_id)
        return frozenset(entry[1]) if entry is not None else frozenset()

    def key(self, area_id: str, kid: str) -> bytes:
        entry = self._areas.get(area_id)
        material = entry[1].get(kid) if entry is not None else None
        if material is None:
            raise KeyUnavailable(area_id, kid)
        return material


class DataKey(bytes):
    """A case's 32-byte data key; repr never shows the material."""

    def __new__(cls, material: bytes) -> DataKey:
        if len(material) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        return super().__new__(cls, material)

    @classmethod
    def generate(cls) -> DataKey:
        return cls(os.urandom(KEY_BYTES))

    def __repr__(self) -> str:
        return "DataKey(<redacted>)"

    __str__ = __repr__


def generate_data_key() -> DataKey:
    """A new random data key for a new case."""
    return DataKey.generate()


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under an area key; store `serialise()`, read back with `parse`."""

    area_id: str
    kid: str
    nonce: bytes
    ciphertext: bytes

    def serialise(self) -> str:
        return ":".join(
            (WRAPPED_PREFIX, self.area_id, self.kid, b64url(self.nonce), b64url(self.ciphertext))
        )

    @classmethod
    def parse(cls, text: str) -> WrappedKey:
        parts = text.split(":") if isinstance(text, str) else []
        if len(parts) != 5 or parts[0] != WRAPPED_PREFIX:
            raise DecryptionFailed()
        _, area_id, kid, nonce_text, ciphertext_text = parts
        if not is_area_id(area_id) or _KID.fullmatch(kid) is None:
            raise DecryptionFailed()
        try:
            nonce, ciphertext = _unb64url(nonce_text), _unb64url(ciphertext_text)
        except (ValueError, binascii.Error):
            raise DecryptionFailed() from None
        if len(nonce) != NONCE_BYTES or len(ciphertext) != KEY_BYTES + _TAG_BYTES:
            raise DecryptionFailed()
        return cls(area_id=area_id, kid=kid, nonce=nonce, ciphertext=ciphertext)


def _wrap_aad(area_id: str, kid: str) -> bytes:
    # Binds the wrapped key to its labels: relabelling it with another area or kid fails.
    return json.dumps(["marac-dek-v1", area_id, kid]).encode("utf-8")


def wrap(keyring: AreaKeyRing, area_id: str, dek: bytes) -> WrappedKey:
    """Encrypt a data key under the area's current key."""
    if len(dek) != KEY_BYTES:
        raise ValueError("a data key is 32 bytes")
    kid = keyring.current_kid(area_id)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(keyring.key(area_id, kid)).encrypt(
        nonce, bytes(dek), _wrap_aad(area_id, kid)
    )
    return WrappedKey(area_id=area_id, kid=kid, nonce=nonce, ciphertext=ciphertext)


def _as_wrapped(wrapped: WrappedKey | str) -> WrappedKey:
    return wrapped if isinstance(wrapped, WrappedKey) else WrappedKey.parse(wrapped)


def unwrap(keyring: AreaKeyRing, wrapped: WrappedKey | str) -> DataKey:
    """The data key; KeyUnavailable if its area key is gone, DecryptionFailed if tampered."""
    wrapped = _as_wrapped(wrapped)
    key = keyring.key(wrapped.area_id, wrapped.kid)
    try:
        material = AESGCM(key).decrypt(
            wrapped.nonce, wrapped.ciphertext, _wrap_aad(wrapped.area_id, wrapped.kid)
        )
    except InvalidTag:
        raise DecryptionFailed() from None
    return DataKey(material)


def rewrap(keyring: AreaKeyRing, wrapped: WrappedKey | str) -> WrappedKey:
    """The data key wrapped under its area's current key (unchanged if it already is).

    Field ciphertexts depend only on the data key, so they stay valid.
    """
    wrapped = _as_wrapped(wrapped)
    if wrapped.kid == keyring.current_kid(wrapped.area_id):
        return wrapped
    return wrap(keyring, wrapped.area_id, unwrap(keyring, wrapped))


# Field encryption ----------------------------------------------------------------------------


def _aead(dek: bytes) -> AESGCM:
    if len(dek) != KEY_BYTES:
        raise ValueError("a data key is 32 bytes")
    return AESGCM(bytes(dek))


def _field_aad(case_id: str, field: str) -> bytes:
    # Binds the ciphertext to where it belongs: copied to another case or field, it fails.
    return json.dumps(["marac-field-v1", case_id, field]).encode("utf-8")


def encrypt_value(dek: bytes, value: Any, *, case_id: str, field: str) -> str:
    """`enc1:<base64url(nonce|ciphertext)>` of the JSON of value, bound to case_id and field."""
    plaintext = json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    # Trailing spaces are JSON whitespace, so padding needs no length prefix to strip.
    plaintext += b" " * (-len(plaintext) % _PAD_BLOCK)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = _aead(dek).encrypt(nonce, plaintext, _field_aad(case_id, field))
    return TOKEN_PREFIX + b64url(nonce + ciphertext)


def is_encrypted(value: object) -> bool:
    """Whether value looks like an `encrypt_value` token."""
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def decrypt_value(dek: bytes | None, token: str, *, case_id: str, field: str) -> Any:
    """The value `encrypt_value` encrypted.

    `dek=None` means the case's key has been destroyed: raises KeyErased(case_id).
    """
    if dek is None:
        raise KeyErased(case_id)
    if not is_encrypted(token):
        raise DecryptionFailed(case_id, field)
    try:
        raw = _unb64url(token[len(TOKEN_PREFIX) :])
    except (ValueError, binascii.Error):
        raise DecryptionFailed(case_id, field) from None
    if len(raw) < NONCE_BYTES + _TAG_BYTES:
        raise DecryptionFailed(case_id, field)
    try:
        plaintext = _aead(dek).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _field_aad(case_id, field)
        )
        return json.loads(plaintext.decode("utf-8"))
    except (InvalidTag, ValueError):
        raise DecryptionFailed(case_id, field) from None


@lru_cache(maxsize=512)
def _parse_path(path: str) -> tuple[str, ...]:
    steps: list[str] = []
    for segment in path.split("."):
        match = _PATH_SEGMENT.fullmatch(segment)
        if match is None:
            raise ValueError(f"malformed document path: {path!r}")
        steps.append(match.group(1))
        steps.extend([_EACH] * (len(match.group(2)) // 2))
    return tuple(steps)


def _parse_paths(paths: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    if isinstance(paths, str):
        raise TypeError("paths must be a collection of paths, not one string")
    parsed = [(path, _parse_path(path)) for path in dict.fromkeys(paths)]
    for path, steps in parsed:
        for other, other_steps in parsed:
            if other != path and other_steps[: len(steps)] == steps:
                raise ValueError(f"document path {other!r} lies inside {path!r}")
    return parsed


def _rewrite(node: Any, steps: tuple[str, ...], leaf: Callable[[Any], Any], path: str) -> Any:
    # Containers are changed in place; callers pass a deep copy.
    if not steps:
        return leaf(node)
    if node is None:
        return None
    step, rest = steps[0], steps[1:]
    if step == _EACH:
        if not isinstance(node, list):
            raise DocumentPathError(path)
        for index, item in enumerate(node):
            node[index] = _rewrite(item, rest, leaf, path)
        return node
    if not isinstance(node, dict):
        raise DocumentPathError(path)
    if step in node:
        node[step] = _rewrite(node[step], rest, leaf, path)
    return node


def encrypt_document(
    dek: bytes, doc: Mapping[str, Any], paths: Iterable[str], case_id: str
) -> dict[str, Any]:
    """A copy of doc with the values at paths encrypted; missing paths and nulls are skipped.

    Paths are dotted keys, `[]` for every item of a list: "victim.name",
    "perpetrators[].name", "aliases[]". Each value is bound to the path as written (not the
    list index), so reordering list items keeps them readable.
    """
    result: dict[str, Any] = copy.deepcopy(dict(doc))
    for path, steps in _parse_paths(paths):

        def leaf(value: Any, path: str = path) -> Any:
            if value is None:
                return None
            return encrypt_value(dek, value, case_id=case_id, field=path)

        _rewrite(result, steps, leaf, path)
    return result


def decrypt_document(
    dek: bytes | None, doc: Mapping[str, Any], paths: Iterable[str], case_id: str
) -> dict[str, Any]:
    """A copy of doc with the values at paths decrypted.

    A plaintext value where ciphertext belongs raises DecryptionFailed (it was not written
    by encrypt_document). KeyErased is raised only when there is something to decrypt.
    """
    result: dict[str, Any] = copy.deepcopy(dict(doc))
    for path, steps in _parse_paths(paths):

        def leaf(value: Any, path: str = path) -> Any:
            if value is None:
                return None
            if not is_encrypted(value):
                raise DecryptionFailed(case_id, path)
            return decrypt_value(dek, value, case_id=case_id, field=path)

        _rewrite(result, steps, leaf, path)
    return result
