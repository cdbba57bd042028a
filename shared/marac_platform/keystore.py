"""Per-case data keys, wrapped by area keys, in the one key store every service reads.

This store plays the part of a KMS: the wrapped keys live nowhere else, so destroying a
case's key makes every copy of its personal data unreadable (database rows, events already
in Kafka, backups). Unwrapped keys are cached briefly; erasure is visible everywhere within
`CACHE_S` seconds.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Column, MetaData, String, Table, Text, select, update

from marac_platform.db import Database, UTCDateTime, utcnow
from marac_platform.security import crypto
from marac_platform.settings import Settings, database_url

CACHE_S = 30.0

metadata = MetaData()
case_keys = Table(
    "case_keys",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("area_id", String(64), nullable=False, index=True),
    Column("wrapped", Text, nullable=True),  # NULL once erased
    Column("created_at", UTCDateTime, nullable=False),
    Column("erased_at", UTCDateTime, nullable=True),
)


def keystore_url(settings: Settings) -> str:
    return database_url("keystore", dict(os.environ), settings.data_dir)


def load_keyring(settings: Settings, area_ids: frozenset[str]) -> crypto.AreaKeyRing:
    """Area keys from MARAC_AREA_KEYS_FILE (a mounted secret), else a generated dev file."""
    configured = os.environ.get("MARAC_AREA_KEYS_FILE")
    path = Path(configured) if configured else settings.data_dir / "keys" / "area-keys.json"
    if not configured:
        ensure_dev_area_keys(path, area_ids)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise crypto.KeyRingError(f"{path}: cannot read area keys ({exc.strerror})") from None
    return crypto.AreaKeyRing(document.get("areas", document))


def ensure_dev_area_keys(path: Path, area_ids: frozenset[str]) -> None:
    """Development only: one random key per configured area, kept in the data folder (0600).

    Several processes start at once; the lock makes sure only one of them writes keys, since
    two different keys for one area would leave data unreadable.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing: dict[str, Any] = {}
        if path.exists():
            existing = json.loads(path.read_text(encoding="utf-8"))
        missing = [area for area in sorted(area_ids) if area not in existing]
        if not missing:
            return
        for area in missing:
            existing[area] = {"current": "k1", "keys": {"k1": crypto.generate_area_key()}}
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(existing, indent=2))
        temporary.replace(path)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)


class KeyStore:
    def __init__(self, db: Database, keyring: crypto.AreaKeyRing) -> None:
        self.db = db
        self.keyring = keyring
        self._cache: dict[str, tuple[float, crypto.DataKey | None]] = {}
        self._lock = threading.Lock()

    def create_schema(self) -> None:
        metadata.create_all(self.db.engine)

    def create(self, case_id: str, area_id: str) -> crypto.DataKey:
        dek = crypto.generate_data_key()
        wrapped = crypto.wrap(self.keyring, area_id, dek).serialise()
        with self.db.engine.begin() as connection:
            connection.execute(case_keys.insert().values(
                case_id=case_id, area_id=area_id, wrapped=wrapped, created_at=utcnow()))
        self._remember(case_id, dek)
        return dek

    def data_key(self, case_id: str) -> crypto.DataKey | None:
        """The case's key, or None when it was erased (or never existed)."""
        with self._lock:
            cached = self._cache.get(case_id)
        if cached and time.monotonic() - cached[0] < CACHE_S:
            return cached[1]
        with self.db.engine.connect() as connection:
            wrapped = connection.execute(
                select(case_keys.c.wrapped).where(case_keys.c.case_id == case_id)).scalar()
        dek = crypto.unwrap(self.keyring, wrapped) if wrapped else None
        self._remember(case_id, dek)
        return dek

    def _remember(self, case_id: str, dek: crypto.DataKey | None) -> None:
        with self._lock:
            self._cache[case_id] = (time.monotonic(), dek)

    def encrypt(self, case_id: str, field: str, value: Any) -> str:
        dek = self.data_key(case_id)
        if dek is None:
            raise crypto.KeyErased(case_id)
        return crypto.encrypt_value(dek, value, case_id=case_id, field=field)

    def decrypt(self, case_id: str, field: str, token: str) -> Any:
        return crypto.decrypt_value(self.data_key(case_id), token, case_id=case_id, field=field)

    def erase(self, case_id: str) -> bool:
        """Destroy the case's key; True if there was one to destroy."""
        with self.db.engine.begin() as connection:
            result = connection.execute(
                update(case_keys).where(case_keys.c.case_id == case_id,
                                        case_keys.c.wrapped.is_not(None))
                .values(wrapped=None, erased_at=utcnow()))
        self._remember(case_id, None)
        return bool(result.rowcount)

    def rewrap_area(self, area_id: str) -> int:
        """After an area key rotation: re-wrap its case keys with the current key; data untouched."""
        count = 0
        with self.db.engine.begin() as connection:
            rows = connection.execute(
                select(case_keys.c.case_id, case_keys.c.wrapped)
                .where(case_keys.c.area_id == area_id, case_keys.c.wrapped.is_not(None))).all()
            for row in rows:
                rewrapped = crypto.rewrap(self.keyring, row.wrapped).serialise()
                if rewrapped != row.wrapped:
                    connection.execute(update(case_keys).where(case_keys.c.case_id == row.case_id)
                                       .values(wrapped=rewrapped))
                    count += 1
        return count


_stores: dict[str, KeyStore] = {}


def keystore_for(settings: Settings, area_ids: frozenset[str]) -> KeyStore:
    """The process-wide key store (one engine per process)."""
    url = keystore_url(settings)
    if url not in _stores:
        _stores[url] = KeyStore(Database(url), load_keyring(settings, area_ids))
    return _stores[url]
