"""The referral service's configuration, built when a process starts (its declaration's
`configure`): each area's `screening` section, validated then, and the key store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from marac_platform.areas import Areas, section
from marac_platform.keystore import KeyStore, keystore_for
from marac_platform.settings import Settings
from services.referral import domain


@dataclass(frozen=True)
class ReferralConfig:
    screening: Mapping[str, domain.ScreeningConfig]
    keys: KeyStore
    # Identity-index keys derived from area keys, kept for the process's life
    # (service.identity_secret): never stored or logged.
    identity_secrets: dict[tuple[str, str], bytes] = field(default_factory=dict)


def configure(areas: Areas, settings: Settings) -> ReferralConfig:
    screening = {
        area.id: section(area, "screening", domain.ScreeningConfigSchema(), areas.source)
        for area in areas.by_id.values()
    }
    return ReferralConfig(screening=screening, keys=keystore_for(settings, areas.ids()))

