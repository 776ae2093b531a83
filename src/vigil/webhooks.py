"""The one webhook sender: signed, guarded by the egress policy, and retried by its caller.

Every webhook vigil sends — a removal notice to a host, a report handed off to an authority, an
event for a provider — goes through :class:`WebhookSender`. A delivery is a JSON ``POST``:

* to an address the egress policy allows (:mod:`vigil.egress`: public, or pinned in the
  settings), connecting to the address that was checked; redirects are not followed;
* signed twice, for receivers old and new:
  - the **Standard Webhooks** headers (standardwebhooks.com): ``webhook-id``,
    ``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
    "<id>.<timestamp>.<body>">``; a secret written ``whsec_<base64>`` is decoded as the
    specification says, any other secret is used as its UTF-8 bytes;
  - ``X-Vigil-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>." + body>``.
  Receivers should reject timestamps older than five minutes.
* a failure (refused address, network error, a status of 300 or more) raises
  :class:`WebhookFailed`; every caller runs sends from a job or a periodic pass that retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from vigil.egress import EgressPolicy, EgressRefused

#: How old a signed timestamp may be before a receiver should refuse it (seconds).
MAX_AGE = 300


class WebhookFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def key_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Vigil-Signature`` header value."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: bytes, header: str, body: bytes, max_age: int = MAX_AGE) -> bool:
    """Check an ``X-Vigil-Signature`` header (what a receiver does)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > max_age:
        return False
    return hmac.compare_digest(signature(secret, ts, body), header)


def standard_signature(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks ``webhook-signature`` value."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def verify_standard(secret: bytes, headers: Mapping[str, str], body: bytes,
                    max_age: int = MAX_AGE) -> bool:
    """Check the Standard Webhooks headers of a delivery (what a receiver does)."""
    try:
        msg_id, ts = headers["webhook-id"], int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > max_age:
        return False
    expected = standard_signature(secret, msg_id, ts, body)
    return any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split())


@dataclass
class WebhookSender:
    policy: EgressPolicy = field(default_factory=EgressPolicy)
    timeout: float = 10.0

    def send(self, url: str, payload: dict[str, Any], secret: str | bytes,
             msg_id: str | None = None) -> None:
        """Deliver ``payload``; raises :class:`WebhookFailed` naming what went wrong. A webhook
        is never sent unsigned: an empty secret is refused."""
        key = key_bytes(secret)
        if not key:
            raise WebhookFailed("no webhook secret configured for this recipient: a webhook is "
                                "never sent unsigned")
        try:
            target = self.policy.target(url)
        except EgressRefused as exc:
            raise WebhookFailed(exc.message) from None
        body = json.dumps(payload, sort_keys=True).encode()
        ts = int(time.time())
        msg_id = msg_id or f"msg_{secrets.token_urlsafe(18)}"
        headers = {**target.headers, "Content-Type": "application/json",
                   "webhook-id": msg_id, "webhook-timestamp": str(ts),
                   "webhook-signature": standard_signature(key, msg_id, ts, body),
                   "X-Vigil-Signature": signature(key, ts, body)}
        try:
            with httpx.Client(trust_env=False, follow_redirects=False, timeout=self.timeout) as c:
                r = c.post(target.url, content=body, headers=headers, extensions=target.extensions)
        except httpx.HTTPError as exc:
            raise WebhookFailed(f"{target.host}: {type(exc).__name__}: {exc}"[:300]) from None
        if r.status_code >= 300:
            raise WebhookFailed(f"{target.host} answered {r.status_code}")
