"""Background work of hotline referral, registered with the job registry: delivering a
referral (``refer_url``, one job per referral, retried with back-off: a partner that is down
for a day still gets it), and following the referrals at partner vigils
(``takedown:referrals``, periodic, once across workers)."""

from __future__ import annotations

import logging
from datetime import timedelta

from vigil.egress import EgressPolicy
from vigil.jobs.registry import JobContext, Services, exponential, periodic, register
from vigil.takedown.referrals import service
from vigil.takedown.referrals.partners import HttpPartners, Partners

log = logging.getLogger("vigil.takedown")

#: Delivery attempts: 30 s, 1 min, 2 min ... capped at 6 h — about two days in all.
ATTEMPTS = 14


def partners_for(services: Services) -> Partners:
    """The worker's partner client: the one a test set, else the real one over the settings'
    egress policy (made on first use)."""
    if services.partners is None:
        policy = services.settings.egress() if services.settings else EgressPolicy()
        services.partners = HttpPartners(policy)
    return services.partners


@register(service.DELIVER, max_attempts=ATTEMPTS,
          backoff=exponential(first=30, cap=6 * 3600))
def refer_url(ctx: JobContext) -> None:
    """Payload ``{"referral_id": int}``: send the referral to its partner; a failure raises and
    is retried (the referral shows the attempts and the error)."""
    service.deliver(ctx.session, int(ctx.payload["referral_id"]), partners_for(ctx.services))


@periodic("takedown:referrals", every=lambda settings: settings.referral_poll_seconds,
          lease=timedelta(minutes=30))
def follow_referrals(services: Services) -> int:
    """Ask partner vigils how their referrals go; returns how many were asked."""
    polled = service.poll(services.factory, partners_for(services))
    if polled:
        log.info("referrals: %d followed, %d changed, %d failed", len(polled),
                 sum(p.changed for p in polled), sum(p.error is not None for p in polled))
    return len(polled)
