"""The one home for "who is the law-enforcement authority of country X" and "send it this".

An authority is reached two ways, both kept where they already were: *pushed* to the contact
of its country in ``VIGIL_AUTHORITY_CONTACTS`` (``mailto:`` address or signed-webhook URL, the
Centre's setting), and *pulled* by the authority's own organisation in vigil (kind
``authority``, its member state), which reads the notices passed to it with
``GET /v1/authority/notices`` (``repository.readable_notices``). Two moments pass a notice to
it, both through :func:`send`:

* **at classification** (``identification``): a URL confirmed illegal is passed to the hosting
  country's authority at once, for victim identification — a job (``inform_authority``,
  queued in the classification's transaction, retried with back-off);
* **on escalation** (``escalation``): the host has not removed it after
  ``VIGIL_NOTICE_ESCALATE_HOURS`` (``service.process_notice``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from vigil.config import Settings
from vigil.jobs.queue import enqueue
from vigil.takedown.models import Notice
from vigil.takedown.notify import NoticeMessage, Notifier

#: The job that passes a notice to the authority at classification.
INFORM = "inform_authority"


def contact(settings: Settings, country: str | None) -> str | None:
    """The push contact of ``country``'s authority (``mailto:...`` or an https URL), or None:
    it pulls (``GET /v1/authority/notices``), or the country is unknown."""
    return settings.authority_contacts.get((country or "").upper()) if country else None


def send(notifier: Notifier, settings: Settings, country: str | None,
         message: NoticeMessage) -> str:
    """Pass ``message`` to ``country``'s authority: by e-mail or signed webhook when it has a
    push contact; otherwise it reads it through the pull API. Returns what happened, for the
    notice's history (``"DE: mailto:..."``, ``"DE: pull API"``). Raises what the notifier
    raises (the caller's job or pass retries)."""
    where = contact(settings, country)
    if where and where.startswith("mailto:"):
        notifier.email(where[len("mailto:"):], message)
    elif where:
        notifier.webhook(where, message)
    return f"{country or 'unknown country'}: {where or 'pull API'}"


def queue_identification(session: Session, notice: Notice) -> bool:
    """In the classification's transaction: queue passing ``notice`` to its hosting country's
    authority, unless it is passed or queued already. Returns whether a job was queued."""
    if notice.authority_informed_at is not None or notice.authority_job_id is not None:
        return False
    job = enqueue(session, INFORM, {"notice_id": notice.id})
    session.flush()
    notice.authority_job_id = job.id
    return True
