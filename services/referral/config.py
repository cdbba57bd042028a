"""The referral service's configuration, built when a process starts (its declaration's
`configure`): each area's `screening` and `reporting` sections, validated then, and the key
store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from marac_platform.areas import Area, AreaConfigError, Areas, section
from marac_platform.keystore import KeyStore, keystore_for
from marac_platform.settings import Settings
from services.referral import domain
from services.referral.quarterly import ReportingConfig, ReportingConfigSchema


@dataclass(frozen=True)
class ReferralConfig:
    screening: Mapping[str, domain.ScreeningConfig]
    keys: KeyStore
    # The SafeLives quarterly return's settings per area (services/referral/quarterly.py).
    reporting: Mapping[str, ReportingConfig] = field(default_factory=dict)
    # Identity-index keys derived from area keys, kept for the process's life
    # (service.identity_secret): never stored or logged.
    identity_secrets: dict[tuple[str, str], bytes] = field(default_factory=dict)


def configure(areas: Areas, settings: Settings) -> ReferralConfig:
    screening = {
        area.id: section(area, "screening", domain.ScreeningConfigSchema(), areas.source)
        for area in areas.by_id.values()
    }
    reporting = {area.id: reporting_section(area, areas.source) for area in areas.by_id.values()}
    return ReferralConfig(screening=screening, keys=keystore_for(settings, areas.ids()),
                          reporting=reporting)



def reporting_section(area: Area, source: Path) -> ReportingConfig:
    """An area's `reporting:` section, its police agencies checked against its directory."""
    config: ReportingConfig = section(area, "reporting", ReportingConfigSchema(), source)
    for index, agency_id in enumerate(config.police_agencies):
        if area.agency(agency_id) is None:
            raise AreaConfigError(f"{source}: areas[{area.id}].reporting.police_agencies."
                                  f"{index}: not an agency of this area")
    return config
