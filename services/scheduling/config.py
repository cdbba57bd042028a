"""The scheduling service's configuration, built when a process starts (its declaration's
`configure`): each area's MARAC calendar (`scheduling` section), validated then, and the key
store, opened on first use: only reading case lists needs it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from marac_platform.areas import Areas, section
from marac_platform.keystore import KeyStore, keystore_for
from marac_platform.settings import Settings
from services.scheduling import domain


@dataclass(frozen=True)
class SchedulingConfig:
    calendars: Mapping[str, domain.CalendarConfig]
    keys: Callable[[], KeyStore]


def configure(areas: Areas, settings: Settings) -> SchedulingConfig:
    calendars = {
        area.id: section(area, "scheduling", domain.CalendarConfigSchema(), areas.source)
        for area in areas.by_id.values()
    }
    return SchedulingConfig(calendars=calendars,
                            keys=functools.cache(lambda: keystore_for(settings, areas.ids())))

