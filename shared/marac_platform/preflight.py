"""What an operator command checks before it starts anything: the settings, the whole areas
file (every section every service reads), the key files, and the ports it will bind.

Each check raises the error of what is wrong (SettingsError, AreaConfigError, KeyRingError or
PortInUse), whose message names the variable or file, the key and the reason in one line;
`marac_platform.cli` prints it and exits 2. Nothing is created here but what the services'
own configuration makes at start-up anyway (the development keys, without mounted ones).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from marac_platform.areas import AreaConfigError, Areas, load_areas
from marac_platform.security import crypto
from marac_platform.service_spec import ServiceSpec
from marac_platform.settings import Settings, SettingsError, load_settings

# Files an operator mounts (secrets); without them the platform makes development keys.
KEY_FILES = ("MARAC_AREA_KEYS_FILE", "MARAC_AUDIT_KEY_FILE", "MARAC_JWT_PUBLIC_KEY_FILE")


class PortInUse(Exception):
    """A port this command would listen on is taken; the message names it and its variable."""


@dataclass(frozen=True)
class Port:
    """A port a command will listen on, and the setting that chooses it."""

    host: str
    port: int
    what: str  # e.g. "referral web port"
    variable: str  # e.g. "MARAC_REFERRAL_PORT (or MARAC_PORT_OFFSET)"


def check_settings(services: Iterable[str], env: Mapping[str, str] | None = None) -> dict[str, Settings]:
    """Every setting each service reads, validated (SettingsError names the variable)."""
    environ = dict(os.environ if env is None else env)
    settings = {service: load_settings(service, environ) for service in services}
    for name in KEY_FILES:
        value = environ.get(name)
        if value and not Path(value).is_file():
            raise SettingsError(f"{name}: no such file {value}")
    return settings


def check_areas(specs: Sequence[ServiceSpec], settings: Mapping[str, Settings]) -> Areas | None:
    """The areas file, and each service's sections of it through that service's own
    configuration (its `configure`), as its processes will read them at start-up."""
    areas: Areas | None = None
    for spec in specs:
        service_settings = settings[spec.name]
        if areas is None or areas.source != service_settings.areas_file:
            areas = load_areas(service_settings.areas_file)
        try:
            spec.configure(areas, service_settings)
        except crypto.KeyRingError as exc:
            raise AreaConfigError(f"area keys: {exc}") from None
    if areas is not None:
        _check_partner_keys(areas)
    return areas


def _check_partner_keys(areas: Areas) -> None:
    for area in areas.by_id.values():
        for index, partner in enumerate(area.partners):
            if partner.public_key_file and not (areas.source.parent / partner.public_key_file).is_file():
                raise AreaConfigError(
                    f"{areas.source}: areas[{area.id}].partners.{index}.public_key_file: "
                    f"no such file {partner.public_key_file}")


def check_ports(ports: Iterable[Port]) -> None:
    """Each port free to listen on (as gunicorn and the brokers bind: SO_REUSEADDR)."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((port.host, port.port))
            except OSError as exc:
                reason = "already in use" if exc.errno == errno.EADDRINUSE else (
                    exc.strerror or type(exc).__name__)
                raise PortInUse(f"{port.what} {port.host}:{port.port}: {reason} "
                                f"(choose another with {port.variable})") from None


def check_configuration(specs: Sequence[ServiceSpec], env: Mapping[str, str] | None = None) -> Areas | None:
    """Settings, key files and the areas file of these services: what `marac check` runs."""
    settings = check_settings([spec.name for spec in specs], env)
    return check_areas(specs, settings)


OPERATOR_ERRORS: tuple[type[Exception], ...] = (SettingsError, AreaConfigError, crypto.KeyRingError,
                                                  PortInUse)
