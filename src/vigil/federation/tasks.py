"""The worker's periodic pull of every partner centre's feed (``federation:pull``, every
``VIGIL_FEDERATION_SYNC_SECONDS``, once across workers). One partner's failure is recorded on
it and never stops the others."""

from __future__ import annotations

import logging
from datetime import timedelta

from vigil.db import transaction
from vigil.federation import service
from vigil.jobs.registry import Services, periodic

log = logging.getLogger(__name__)


@periodic("federation:pull", every=lambda settings: settings.federation_sync_seconds,
          lease=timedelta(minutes=30))
def pull_partners(services: Services) -> int:
    """Pull every registered partner; returns how many indicators changed (imported and
    withdrawn)."""
    if services.settings is None:
        return 0
    with transaction(services.factory) as s:
        ids = service.active_partner_ids(s)
    changed = 0
    for partner_id in ids:
        result = service.pull(services.factory, services.settings, partner_id)
        if result.error:
            log.warning("partner pull failed", extra={"partner": result.partner,
                                                      "error": result.error})
        changed += result.imported + result.withdrawn
    if changed:
        services.matcher.sync(services.read_factory)
    return changed
