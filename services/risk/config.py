"""The risk service's configuration, built when a process starts (its declaration's
`configure`): each area's `risk` policy, so a bad threshold stops the process then, and the
shipped checklists, read and checked then too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from marac_platform import checklists
from marac_platform.areas import Areas, section
from marac_platform.settings import Settings
from services.risk import domain


@dataclass(frozen=True)
class RiskConfig:
    policies: Mapping[str, domain.RiskPolicy]
    checklists: Mapping[str, checklists.Checklist]


def configure(areas: Areas, _settings: Settings) -> RiskConfig:
    policies = {
        area.id: section(area, "risk", domain.RiskPolicySchema(), areas.source)
        for area in areas.by_id.values()
    }
    return RiskConfig(policies=policies, checklists=checklists.shipped_checklists())

