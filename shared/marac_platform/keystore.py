"""Per-case data keys, wrapped by area keys, in the one key store every service reads.

This store plays the part of a KMS: the wrapped keys live nowhere else, so destroying a
case's key makes every copy of its personal data unreadable (database rows, events already
in Kafka, backups). Unwrapped keys are cached briefly; erasure is visible everywhere within
`CACHE_S` seconds. On SQLite, erasure also empties the write-ahead log, which would otherwise
keep the wrapped key for a while (see `Database.purge_deleted`).

Being apart from every service's database, it also keeps each service's anchored audit head
(`audit_heads`, written by marac_platform.audit): cutting the end off a service's trail shows.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, bindparam, select, update

from marac_platform.db import Database, UTCDateTime, utcnow
from marac_platform.security import crypto
from marac_platform.settings import Settings, database_url

log = logging.getLogger(__name__)

CACHE_S = 30.0
# After an area key rotation another process may have re-wrapped case keys under a kid this
# process has not loaded yet: the key file is read again, at most this often.
RELOAD_MIN_S = 5.0

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
# The latest record of each service's audit chain, MAC'd with the audit key (marac_platform.audit).
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
# Run at every new case and every use of a case's key: built once (building it cost more than running it).
_WRAPPED = select(case_keys.c.wrapped).where(case_keys.c.case_id == bindparam("case_id"))
_CREATE = case_keys.insert()


def keystore_url(settings: Settings) -> str:
    return database_url("keystore", dict(os.environ), settings.data_dir)


def area_keys_path(settings: Settings) -> Path:
    """MARAC_AREA_KEYS_FILE (a mounted secret), else the generated development file."""
    configured = os.environ.get("MARAC_AREA_KEYS_FILE")
    return Path(configured) if configured else settings.data_dir / "keys" / "area-keys.json"


def load_keyring(settings: Settings, area_ids: frozenset[str]) -> crypto.AreaKeyRing:
    """Area keys from MARAC_AREA_KEYS_FILE (a mounted secret), else a generated dev file."""
    path = area_keys_path(settings)
    if not os.environ.get("MARAC_AREA_KEYS_FILE"):
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


class KeyUnavailable(crypto.KeyUnavailable):
    """A case key is wrapped under an area key this process does not hold: say which, and why."""

    def __init__(self, case_id: str, area_id: str, kid: str | None) -> None:
        super().__init__(area_id, kid)
        self.case_id = case_id
        self.args = (
            f"case {case_id}: its data key is wrapped under area key {area_id}/{kid}, which is "
            "not in the area key file. A retired key was removed before `marac keys rewrap "
            f"--area {area_id}` moved every case off it (restore it, rewrap, then remove it), "
            "or this process runs with an older key file (restart it).",
        )


class KeyStore:
    def __init__(self, db: Database, keyring: crypto.AreaKeyRing,
                 reload: Callable[[], crypto.AreaKeyRing] | None = None) -> None:
        self.db = db
        self.keyring = keyring
        self._reload = reload
        self._reloaded_at = 0.0
        self._cache: dict[str, tuple[float, crypto.DataKey | None]] = {}
        self._lock = threading.Lock()

    def create_schema(self) -> None:
        metadata.create_all(self.db.engine)

    def create(self, case_id: str, area_id: str) -> crypto.DataKey:
        dek = crypto.generate_data_key()
        wrapped = crypto.wrap(self.keyring, area_id, dek).serialise()
        with self.db.engine.begin() as connection:
            connection.execute(_CREATE, {"case_id": case_id, "area_id": area_id,
                                         "wrapped": wrapped, "created_at": utcnow()})
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
                _WRAPPED, {"case_id": case_id}).scalar()
        dek = self._unwrap(case_id, wrapped) if wrapped else None
        self._remember(case_id, dek)
        return dek

    def _unwrap(self, case_id: str, wrapped: str) -> crypto.DataKey:
        try:
            return crypto.unwrap(self.keyring, wrapped)
        except crypto.KeyUnavailable as exc:
            if self.reload_keyring():
                try:
                    return crypto.unwrap(self.keyring, wrapped)
                except crypto.KeyUnavailable:
                    pass
            log.error("case key wrapped under an area key not held", extra={
                "reason_code": "area_key_unavailable", "case_id": case_id, "area_id": exc.area_id})
            raise KeyUnavailable(case_id, exc.area_id, exc.kid) from None

    def reload_keyring(self) -> bool:
        """Read the area key file again (rate-limited); True if a new ring was loaded."""
        if self._reload is None:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._reloaded_at < RELOAD_MIN_S:
                return False
            self._reloaded_at = now
        try:
            keyring = self._reload()
        except (crypto.KeyRingError, OSError, ValueError) as exc:
            log.error("area key file unreadable; keeping the loaded keys",
                      extra={"reason_code": type(exc).__name__})
            return False
        self.keyring = keyring
        return True

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
        """Destroy the case's key and every copy the store keeps of it; True if there was one.

        Repeating it finishes a purge an earlier call could not complete (PurgeIncomplete).
        """
        with self.db.engine.begin() as connection:
            result = connection.execute(
                update(case_keys).where(case_keys.c.case_id == case_id,
                                        case_keys.c.wrapped.is_not(None))
                .values(wrapped=None, erased_at=utcnow()))
        self._remember(case_id, None)
        self.db.purge_deleted()
        return bool(result.rowcount)

    def rewrap_area(self, area_id: str) -> int:
        """After an area key rotation: re-wrap its case keys with the current key; data untouched.

        All or nothing: a case key under a kid no longer held raises KeyUnavailable (naming the
        case and the kid) and nothing is changed.
        """
        count = 0
        with self.db.engine.begin() as connection:
            rows = connection.execute(
                select(case_keys.c.case_id, case_keys.c.wrapped)
                .where(case_keys.c.area_id == area_id, case_keys.c.wrapped.is_not(None))).all()
            for row in rows:
                try:
                    rewrapped = crypto.rewrap(self.keyring, row.wrapped).serialise()
                except crypto.KeyUnavailable as exc:
                    raise KeyUnavailable(row.case_id, exc.area_id, exc.kid) from None
                if rewrapped != row.wrapped:
                    connection.execute(update(case_keys).where(case_keys.c.case_id == row.case_id)
                                       .values(wrapped=rewrapped))
                    count += 1
        return count

    def kids_in_use(self, area_id: str | None = None) -> dict[tuple[str, str], int]:
        """How many live case keys each (area, kid) wraps: a retired kid may go once it is 0."""
        statement = select(case_keys.c.wrapped).where(case_keys.c.wrapped.is_not(None))
        if area_id is not None:
            statement = statement.where(case_keys.c.area_id == area_id)
        counts: dict[tuple[str, str], int] = {}
        with self.db.engine.connect() as connection:
            for wrapped in connection.execute(statement).scalars():
                parsed = crypto.WrappedKey.parse(wrapped)
                counts[(parsed.area_id, parsed.kid)] = counts.get((parsed.area_id, parsed.kid), 0) + 1
        return counts


_stores: dict[str, KeyStore] = {}
_databases: dict[str, Database] = {}
_open_lock = threading.Lock()


def keystore_database(settings: Settings) -> Database:
    """The process-wide engine of the key store's database."""
    url = keystore_url(settings)
    with _open_lock:
        if url not in _databases:
            _databases[url] = Database(url)
        return _databases[url]


def close_keystores() -> None:
    """Dispose of every key store engine this process opened (tests open many platforms)."""
    with _open_lock:
        for database in _databases.values():
            database.dispose()
        _databases.clear()
        _stores.clear()


def keystore_for(settings: Settings, area_ids: frozenset[str]) -> KeyStore:
    """The process-wide key store (one engine per process)."""
    url = keystore_url(settings)
    if url not in _stores:
        _stores[url] = KeyStore(keystore_database(settings), load_keyring(settings, area_ids),
                                reload=lambda: load_keyring(settings, area_ids))
    return _stores[url]


def rotate_area_key(path: Path, area_id: str) -> str:
    """Add a new key for `area_id` to a JSON area key file and make it current; its kid.

    The retired key stays in the file: case keys wrapped under it are still read with it
    until `KeyStore.rewrap_area` has moved them, after which it may be removed.
    """
    lock = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise crypto.KeyRingError(f"{path}: not a JSON area key file; edit it by hand") from None
        areas = document.get("areas", document) if isinstance(document, dict) else None
        entry = areas.get(area_id) if isinstance(areas, dict) else None
        if not isinstance(areas, dict) or not isinstance(entry, dict) or not isinstance(
                entry.get("keys"), dict):
            raise crypto.KeyRingError(f"{path}: no keys for area {area_id}")
        kid = next_kid(entry["keys"])
        entry["keys"][kid] = crypto.generate_area_key()
        entry["current"] = kid
        crypto.AreaKeyRing(areas)  # refuse to write a file that would not load
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(document, indent=2))
        temporary.replace(path)
        return kid
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)


def next_kid(existing: Any) -> str:
    """`k<n+1>` after the highest `k<n>` in use."""
    numbers = [int(kid[1:]) for kid in existing
               if isinstance(kid, str) and kid[:1] == "k" and kid[1:].isdigit()]
    return f"k{max(numbers, default=0) + 1}"
