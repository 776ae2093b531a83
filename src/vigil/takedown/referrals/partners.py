"""Talking to partner hotlines: one interface, the real client (HTTP, through the egress
policy) and a null one that records what it would send (tests, dry runs).

A **partner vigil** is referred with ``POST <base>/v1/referrals/in`` (bearer: the key it issued
to this Centre, scope ``referrals:submit``) and answers ``{"id", "status"}``; its status is read
with ``GET <base>/v1/referrals/in/<id>``. A **webhook** partner gets a signed ``POST`` through
the one webhook sender (:mod:`vigil.webhooks`; its 2xx answer is the acknowledgement) with
``{"event": "referral:new", "reference", ...}``, and reports status changes back, signed, to
``POST /v1/referrals/<reference>/status`` with ``{"id": "<reference>", "status", "detail"}``
(the id in the signed body binds the update to that referral).

What a referral carries is the minimum the partner needs to act: the URL, the classification
(and the country whose law it breaks), the hosting country as seen here, when, and this
Centre's reference — never the content, a hash, or the reporter's words. Answers from a
partner are untrusted: at most :data:`MAX_ANSWER_BYTES` are read, redirects are not
followed, and an answer that is not what the protocol says fails the attempt (retried).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Protocol
from urllib.parse import quote

import httpx

from vigil.egress import EgressPolicy, EgressRefused
from vigil.webhooks import WebhookFailed, WebhookSender

#: The largest answer read from a partner (bytes).
MAX_ANSWER_BYTES = 64 * 1024
#: What a partner may say about a referral: its word for each stage.
WIRE_STATUSES = ("received", "assessed", "removed", "declined", "closed")
_REMOTE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class PartnerFailed(Exception):
    """A partner could not be reached, refused, or answered outside the protocol; the message
    says which (never a secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    """Where a hotline is, as the registry holds it."""

    kind: str  # vigil | webhook
    url: str
    secret: str
    name: str = ""


@dataclass(frozen=True)
class ReferralMessage:
    reference: str  # this Centre's referral id (a webhook partner names it in its status updates)
    url: str
    classification: str
    classification_country: str | None
    hosting_country: str | None
    classified_at: str | None  # ISO 8601


@dataclass(frozen=True)
class Receipt:
    """A partner's acknowledgement: its id for the referral (None from a webhook) and its
    status word (one of :data:`WIRE_STATUSES`)."""

    remote_id: str | None
    status: str


class Partners(Protocol):
    def refer(self, endpoint: Endpoint, message: ReferralMessage) -> Receipt: ...
    def status(self, endpoint: Endpoint, remote_id: str) -> str: ...


def _status_word(value: object) -> str:
    if not isinstance(value, str) or value not in WIRE_STATUSES:
        raise PartnerFailed(f"the partner answered an unknown status {str(value)[:40]!r} "
                            f"(one of {', '.join(WIRE_STATUSES)})")
    return value


@dataclass
class HttpPartners:
    """The real client. Every request asks the egress policy first and connects to the checked
    address; ``timeout`` bounds each request (seconds)."""

    policy: EgressPolicy = field(default_factory=EgressPolicy)
    timeout: float = 10.0

    def _call(self, method: str, url: str, key: str, body: dict[str, object] | None = None
              ) -> dict[str, object]:
        try:
            target = self.policy.target(url)
        except EgressRefused as exc:
            raise PartnerFailed(exc.message) from None
        headers = {**target.headers, "Authorization": f"Bearer {key}",
                   "Accept": "application/json", "User-Agent": "vigil-referral/1"}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            with httpx.Client(trust_env=False, follow_redirects=False, timeout=self.timeout) as c, \
                    c.stream(method, target.url, content=content, headers=headers,
                             extensions=target.extensions) as r:
                data = b""
                for chunk in r.iter_bytes(65536):
                    data += chunk
                    if len(data) > MAX_ANSWER_BYTES:
                        raise PartnerFailed(f"{target.host} answered more than "
                                            f"{MAX_ANSWER_BYTES} bytes")
                status = r.status_code
        except httpx.HTTPError as exc:
            raise PartnerFailed(f"{target.host}: {type(exc).__name__}: {exc}"[:300]) from None
        if status >= 300:
            raise PartnerFailed(f"{target.host} answered {status}: {_error_of(data)}")
        try:
            answer = json.loads(data)
        except ValueError:
            raise PartnerFailed(f"{target.host} answered {status} without JSON") from None
        if not isinstance(answer, dict):
            raise PartnerFailed(f"{target.host} answered JSON that is not an object")
        return answer

    def refer(self, endpoint: Endpoint, message: ReferralMessage) -> Receipt:
        if endpoint.kind == "webhook":
            try:
                WebhookSender(self.policy, self.timeout).send(
                    endpoint.url, {"event": "referral:new", **asdict(message)}, endpoint.secret,
                    msg_id=f"referral-{message.reference}")
            except WebhookFailed as exc:
                raise PartnerFailed(exc.message) from None
            return Receipt(None, "received")
        answer = self._call("POST", f"{endpoint.url}/v1/referrals/in", endpoint.secret,
                            asdict(message))
        remote = answer.get("id")
        if not isinstance(remote, str) or not _REMOTE_ID.match(remote):
            raise PartnerFailed("the partner's answer has no valid referral id")
        return Receipt(remote, _status_word(answer.get("status")))

    def status(self, endpoint: Endpoint, remote_id: str) -> str:
        if endpoint.kind != "vigil":
            raise PartnerFailed("a webhook partner reports its status itself; it is not asked")
        answer = self._call("GET", f"{endpoint.url}/v1/referrals/in/{quote(remote_id, safe='')}",
                            endpoint.secret)
        return _status_word(answer.get("status"))


def _error_of(data: bytes) -> str:
    """The message of a vigil error answer, else the start of the body (one line)."""
    try:
        message = json.loads(data)["error"]["message"]
        return str(message)[:200]
    except (ValueError, KeyError, TypeError):
        return data[:120].decode("utf-8", "replace").replace("\n", " ") or "(empty)"


@dataclass
class NullPartners:
    """Records referrals instead of sending them; ``statuses`` (remote id → word) answers
    polls, ``down`` makes every call fail."""

    sent: list[tuple[Endpoint, ReferralMessage]] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    down: bool = False

    def refer(self, endpoint: Endpoint, message: ReferralMessage) -> Receipt:
        if self.down:
            raise PartnerFailed(f"{endpoint.name or endpoint.url} is down (null partner)")
        self.sent.append((endpoint, message))
        if endpoint.kind == "webhook":
            return Receipt(None, "received")
        remote = f"null-{len(self.sent)}"
        self.statuses.setdefault(remote, "received")
        return Receipt(remote, "received")

    def status(self, endpoint: Endpoint, remote_id: str) -> str:
        if self.down:
            raise PartnerFailed(f"{endpoint.name or endpoint.url} is down (null partner)")
        return self.statuses.get(remote_id, "received")
