"""The audit chain's HMAC key: a mounted secret (MARAC_AUDIT_KEY_FILE), else a development key
file made once in the data folder."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from marac_platform.settings import Settings

KEY_FILE_ENV = "MARAC_AUDIT_KEY_FILE"
DEV_KEY_FILE = "audit-hmac.key"


class AuditUnavailable(Exception):
    """The trail could not be appended to; carries the cause's type name only."""


def audit_key(settings: Settings) -> bytes:
    """The HMAC key of the chain: MARAC_AUDIT_KEY_FILE (a mounted secret), else a dev key file.

    Kept outside the database, so someone able to rewrite the table cannot recompute the chain.
    """
    configured = os.environ.get(KEY_FILE_ENV)
    path = Path(configured) if configured else settings.data_dir / "keys" / DEV_KEY_FILE
    if not configured and not path.exists():
        _create_dev_key(path)
    try:
        material = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditUnavailable(f"{KEY_FILE_ENV}: cannot read the audit key ({type(exc).__name__})") from None
    if len(material) < 32:
        raise AuditUnavailable(f"{KEY_FILE_ENV}: the audit key must be at least 32 characters")
    return material.encode("ascii")


def _create_dev_key(path: Path) -> None:
    # Written whole to a private file, then hard-linked into place: a process starting at the
    # same moment sees the complete key or none, and the first one made wins.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)

