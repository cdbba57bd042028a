"""The referral service's configuration, built when a process starts (its declaration's
`configure`): each area's `screening` and `reporting` sections, validated then, and the key
store."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from marac_platform.areas import Area, AreaConfigError, Areas, section
from marac_platform.keystore import KeyStore, keystore_for
from marac_platform.settings import Settings, SettingsError
from services.referral import domain
from services.referral.quarterly import ReportingConfig, ReportingConfigSchema


@dataclass(frozen=True)
class TransferSettings:
    """Transfers to other deployments (services/referral/partners.py)."""

    window_s: float = 300.0  # a message signed further from our time is refused (replay)
    max_attempts: int = 8  # sends of a package or answer before it finally fails
    retry_s: float = 5.0  # the first retry's delay, doubling (capped at an hour)
    # How long a package waits for the actions service's part before it goes without it.
    packing_timeout_s: float = 900.0


def _number(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum:g}")
    return value


def transfer_settings() -> TransferSettings:
    return TransferSettings(
        window_s=_number("MARAC_TRANSFER_WINDOW_S", 300.0, 1.0),
        max_attempts=int(_number("MARAC_TRANSFER_MAX_ATTEMPTS", 8, 1)),
        retry_s=_number("MARAC_TRANSFER_RETRY_S", 5.0, 0.1),
        packing_timeout_s=_number("MARAC_TRANSFER_PACKING_TIMEOUT_S", 900.0, 1.0))


def check_partner_keys(areas: Areas) -> None:
    """Every partner transfers go to over HTTP has our keys file: a missing one stops here."""
    for area in areas.by_id.values():
        for partner in area.partners:
            if partner.base_url and partner.keys_file:
                path = Path(partner.keys_file)
                path = path if path.is_absolute() else areas.source.parent / path
                if not path.is_file():
                    raise AreaConfigError(f"{areas.source}: areas[{area.id}].partners"
                                          f"[{partner.id}].keys_file: no such file {path}")


@dataclass(frozen=True)
class ReferralConfig:
    screening: Mapping[str, domain.ScreeningConfig]
    keys: KeyStore
    # The SafeLives quarterly return's settings per area (services/referral/quarterly.py).
    reporting: Mapping[str, ReportingConfig] = field(default_factory=dict)
    # Identity-index keys derived from area keys, kept for the process's life
    # (service.identity_secret): never stored or logged.
    identity_secrets: dict[tuple[str, str], bytes] = field(default_factory=dict)
    transfers: TransferSettings = field(default_factory=TransferSettings)


def configure(areas: Areas, settings: Settings) -> ReferralConfig:
    screening = {
        area.id: section(area, "screening", domain.ScreeningConfigSchema(), areas.source)
        for area in areas.by_id.values()
    }
    reporting = {area.id: reporting_section(area, areas.source) for area in areas.by_id.values()}
    check_partner_keys(areas)
    return ReferralConfig(screening=screening, keys=keystore_for(settings, areas.ids()),
                          reporting=reporting, transfers=transfer_settings())



def reporting_section(area: Area, source: Path) -> ReportingConfig:
    """An area's `reporting:` section, its police agencies checked against its directory."""
    config: ReportingConfig = section(area, "reporting", ReportingConfigSchema(), source)
    for index, agency_id in enumerate(config.police_agencies):
        if area.agency(agency_id) is None:
            raise AreaConfigError(f"{source}: areas[{area.id}].reporting.police_agencies."
                                  f"{index}: not an agency of this area")
    return config
