"""Background work of the reports flow, registered with the job registry: assessing a report
once it is filed, delivering a hand-off to an authority, and (periodically) the retention
periods."""

from __future__ import annotations

from vigil.db import reseal_plaintext, transaction
from vigil.jobs.registry import JobContext, Services, periodic, register
from vigil.reports.assessment import assess
from vigil.reports.handoff import Notice
from vigil.reports.retention import RetentionResult, apply_retention, sweep_orphans


@register("assess_report")
def assess_report(ctx: JobContext) -> None:
    """Payload ``{"report_id": int}``. Idempotent: assessment checks the report's status
    first."""
    services = ctx.services
    assess(ctx.session, int(ctx.payload["report_id"]), services.matcher, services.handoff,
           services.subject_key)


@register("deliver_notice")
def deliver_notice(ctx: JobContext) -> None:
    """Payload: a :class:`~vigil.reports.handoff.Notice` as a dict. A failed delivery raises and
    is retried with the task's back-off."""
    ctx.services.handoff.deliver(Notice(**ctx.payload))


@periodic("reports:retention", every=lambda settings: settings.retention_seconds)
def retention(services: Services) -> RetentionResult | None:
    """Apply the retention periods, sweep orphaned files and seal personal data written before
    sealing (each in a transaction of its own). None without settings and a file store."""
    if services.settings is None or services.store is None:
        return None
    with transaction(services.factory) as s:
        result = apply_retention(s, services.settings, services.store)
    with transaction(services.factory) as s:
        result.orphans_deleted = sweep_orphans(s, services.store)
    with transaction(services.factory) as s:
        result.personal_sealed = reseal_plaintext(s)
    return result
