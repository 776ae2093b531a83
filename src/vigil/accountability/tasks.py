"""The misuse guards' periodic work, registered with the job registry: the flood guard
(quarantine an indicator whose matches suddenly flood in) and the unusual-use alerts. Each runs
once per interval across all workers."""

from __future__ import annotations

from vigil.accountability import flood, usage
from vigil.db import transaction
from vigil.jobs.registry import Services, periodic


@periodic("accountability:flood", every=lambda settings: settings.guard_check_seconds)
def flood_check(services: Services) -> list[int]:
    """The indicators quarantined by this pass."""
    if services.settings is None:
        return []
    with transaction(services.factory) as s:
        return flood.check(s, factor=services.settings.flood_factor,
                           min_hits=services.settings.flood_min_hits)


@periodic("accountability:usage", every=lambda settings: settings.guard_check_seconds)
def usage_check(services: Services) -> int:
    """How many unusual-use alerts this pass raised."""
    if services.settings is None:
        return 0
    with transaction(services.factory) as s:
        return len(usage.check(s, factor=services.settings.unusual_use_factor,
                               min_events=services.settings.unusual_use_min_events))
