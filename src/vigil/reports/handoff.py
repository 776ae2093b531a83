"""Hand-off of reports to authorities: an interface, a null implementation for tests, and the
pull API (``GET /v1/authority/reports``) that works with no outbound connection at all.

Every implementation receives the same minimal notice (no personal data — the authority pulls
the report with its own key, and that read is recorded). Each notice is its own job, so a
failing endpoint is retried without re-sending the notices that already went out.

Webhook signature: header ``X-Vigil-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256 over ``b"<t>." + body`` with the recipient's shared secret. Receivers should reject
timestamps older than five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Protocol


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


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: bytes, header: str, body: bytes, max_age: int = 300) -> bool:
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > max_age:
        return False
    return hmac.compare_digest(signature(secret, ts, body), header)


@dataclass
class WebhookHandoff:
    """POSTs each notice, signed, to the recipient's URL; raises on failure (the job retries)."""

    urls: dict[str, str]
    secret: bytes
    timeout: float = 10.0
    #: Per-recipient secrets (recommended: one authority must not be able to forge notices to
    #: another); recipients without one use ``secret``.
    secrets: dict[str, bytes] = field(default_factory=dict)

    def deliver(self, notice: Notice) -> None:
        url = self.urls.get(notice.recipient)
        if url is None:
            return  # this recipient pulls (GET /v1/authority/reports)
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"webhook URL for {notice.recipient} must be http(s)")
        body = json.dumps({"event": "report:forwarded", **asdict(notice)}).encode()
        req = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310
            "Content-Type": "application/json",
            "X-Vigil-Signature": signature(self.secrets.get(notice.recipient, self.secret),
                                           int(time.time()), body)})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - checked
            if resp.status >= 300:
                raise RuntimeError(f"webhook for {notice.recipient} answered {resp.status}")
