"""The actions service's configuration, built when a process starts (its declaration's
`configure`): each area's `actions` section, validated then, and the key store."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from marac_platform.areas import AreaConfigError, Areas, section
from marac_platform.keystore import KeyStore, keystore_for
from marac_platform.settings import Settings
from marac_platform.vocabulary import MODELS
from services.actions import domain


@dataclass(frozen=True)
class ActionsServiceConfig:
    areas: Mapping[str, domain.ActionsConfig]
    keys: KeyStore


def configure(areas: Areas, settings: Settings) -> ActionsServiceConfig:
    """Each area's `actions:` section, checked at start-up (a wrong value names its key)."""
    configs: dict[str, domain.ActionsConfig] = {}
    for area in areas.by_id.values():
        loaded: domain.ActionsConfig = section(area, "actions", domain.ActionsConfigSchema(),
                                               areas.source)
        # The research closing rule follows the area's model, which its calendar states.
        model = (area.sections.get("scheduling") or {}).get("model", "meeting")
        if model not in MODELS:
            raise AreaConfigError(f"{areas.source}: areas[{area.id}].scheduling.model: "
                                  f"Must be one of: {', '.join(MODELS)}.")
        configs[area.id] = dataclasses.replace(loaded, model=model)
    return ActionsServiceConfig(areas=configs, keys=keystore_for(settings, areas.ids()))
