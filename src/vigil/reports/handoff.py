"""Hand-off of reports to authorities: an interface, a null implementation for tests, and the
pull API (``GET /v1/authority/reports``) that works with no outbound connection at all.

Every implementation receives the same minimal notice (no personal data — the authority pulls
the report with its own key, and that read is recorded). Each notice is its own job, so a
failing endpoint is retried without re-sending the notices that already went out.

Webhooks go through the one sender (:mod:`vigil.webhooks`): Standard Webhooks headers and
``X-Vigil-Signature: t=<unix seconds>,v1=<hex>`` (HMAC-SHA256 over ``b"<t>." + body`` with the
recipient's shared secret), to addresses the egress policy allows. Receivers should reject
timestamps older than five minutes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

from vigil.webhooks import WebhookSender, signature, verify_signature

__all__ = ["Handoff", "Notice", "NullHandoff", "WebhookHandoff", "signature", "verify_signature"]


@dataclass(frozen=True)
class Notice:
    report_id: str
    recipient: str  # member-state code or "europol"
    priority: int
    urgent: bool


class Handoff(Protocol):
    def deliver(self, notice: Notice) -> None: ...


@dataclass
class NullHandoff:
    """Records notices in memory (tests, and deployments that rely on the pull API only)."""

    delivered: list[Notice] = field(default_factory=list)

    def deliver(self, notice: Notice) -> None:
        self.delivered.append(notice)


@dataclass
class WebhookHandoff:
    """POSTs each notice, signed, to the recipient's URL; raises on failure (the job retries)."""

    urls: dict[str, str]
    secret: bytes
    sender: WebhookSender = field(default_factory=WebhookSender)
    #: Per-recipient secrets (recommended: one authority must not be able to forge notices to
    #: another); recipients without one use ``secret``.
    secrets: dict[str, bytes] = field(default_factory=dict)

    def deliver(self, notice: Notice) -> None:
        url = self.urls.get(notice.recipient)
        if url is None:
            return  # this recipient pulls (GET /v1/authority/reports)
        self.sender.send(url, {"event": "report:forwarded", **asdict(notice)},
                         self.secrets.get(notice.recipient, self.secret),
                         msg_id=f"{notice.report_id}-{notice.recipient}")
