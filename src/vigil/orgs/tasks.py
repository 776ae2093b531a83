"""Telling partner organisations, registered with the job registry: providers' webhooks
(``VIGIL_PROVIDER_WEBHOOKS``) for list events and for events about their own reports. One job
per receiver, so that one failing receiver is retried alone."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from vigil.config import Settings
from vigil.jobs.queue import enqueue
from vigil.jobs.registry import JobContext, register
from vigil.orgs.models import Organisation
from vigil.webhooks import WebhookSender

log = logging.getLogger("vigil.worker")


@register("notify_providers")
def notify_providers(ctx: JobContext) -> None:
    """Payload: the event (a JSON object with ``event``). Every provider that set a webhook
    hears of it: one ``notify_provider`` job each. Nothing without settings."""
    settings = ctx.services.settings
    if settings is None:
        return
    for name in sorted(settings.provider_webhooks):
        enqueue(ctx.session, "notify_provider", {"provider": name, "payload": ctx.payload})


@register("notify_provider")
def notify_provider(ctx: JobContext) -> None:
    """Payload ``{"provider": name | "provider_org": id, "payload": event}``: one provider hears
    of an event — a list event (by name), or one about its own report (by organisation: e.g. an
    authority's request to delay the user's notification, which it also reads in its view of
    the report). A provider without a webhook is skipped; a failed send raises (retried)."""
    settings = ctx.services.settings
    if settings is None:
        return
    name = ctx.payload.get("provider") or ctx.session.scalar(select(Organisation.name).where(
        Organisation.id == int(ctx.payload["provider_org"])))
    url = settings.provider_webhooks.get(name or "")
    if url:
        _post(settings, name or "", url, ctx.payload["payload"])


def _post(settings: Settings, name: str, url: str, payload: dict[str, Any]) -> None:
    """One signed webhook through the one sender."""
    secret = settings.provider_webhook_secrets.get(name) or settings.webhook_secret
    WebhookSender(settings.egress()).send(url, payload, secret or "")
    log.info("notified %s of %s", name, payload.get("event"))
