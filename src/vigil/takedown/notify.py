"""Sending notices: by e-mail (SMTP) and by signed webhook, behind one interface with a null
implementation that records what it would send (tests, dry runs).

A notice names the URL, when it was first reported, how many times it has been sent and a
reference; it never carries the content or the hash itself (a hash list must not leak through
notices). Webhooks go through the one webhook sender (:mod:`vigil.webhooks`: signed, guarded
by the egress policy); the SMTP relay must be public or pinned in the settings too."""

from __future__ import annotations

import smtplib
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Protocol

from vigil.egress import EgressPolicy
from vigil.webhooks import WebhookSender


@dataclass(frozen=True)
class NoticeMessage:
    reference: str  # "vigil-notice-<id>"
    url: str
    provider: str
    first_sent: str | None
    sends: int
    victim_submitted: bool
    kind: str = "removal"  # removal | escalation | identification
    #: True: a verified indicator matched; False: an analyst assessed the URL.
    verified_indicator: bool = False

    def subject(self) -> str:
        if self.kind == "escalation":
            return f"[{self.reference}] Escalation: material still online at a host in your country"
        if self.kind == "identification":
            return (f"[{self.reference}] Confirmed illegal material at a host in your country "
                    "(for victim identification)")
        n = "" if self.sends == 0 else f" (reminder {self.sends})"
        return f"[{self.reference}] Removal request{n}"

    def text(self) -> str:
        lines = [
            f"Reference: {self.reference}",
            f"URL: {self.url}",
            f"Hosting provider: {self.provider}",
            "",
            ("This URL serves material matching a verified indicator of child sexual abuse "
             "material held by the EU Centre's lists." if self.verified_indicator else
             "An analyst has assessed the material at this URL as child sexual abuse material.")
            + " Please remove it without delay, and keep any data needed by law enforcement.",
        ]
        if self.victim_submitted:
            lines += ["", "It matches a hash that the person depicted submitted to ask for its "
                          "removal."]
        if self.first_sent:
            lines += ["", f"First notified: {self.first_sent}. This notice is repeated until the "
                          "content is no longer served."]
        if self.kind == "identification":
            lines += ["", "It is passed to you as the authority of the hosting country when it "
                          "is confirmed, for victim identification; its hosting provider is "
                          "asked to remove it, and you are told again if it is not removed in "
                          "time."]
        if self.kind == "escalation":
            lines += ["", "The hosting provider has not removed the content within the set "
                          "time; this is escalated to you as the authority of the hosting "
                          "country."]
        return "\n".join(lines) + "\n"


class Notifier(Protocol):
    def email(self, to: str, message: NoticeMessage) -> None: ...
    def webhook(self, url: str, message: NoticeMessage) -> None: ...


@dataclass
class NullNotifier:
    sent: list[tuple[str, str, NoticeMessage]] = field(default_factory=list)

    def email(self, to: str, message: NoticeMessage) -> None:
        self.sent.append(("email", to, message))

    def webhook(self, url: str, message: NoticeMessage) -> None:
        self.sent.append(("webhook", url, message))


@dataclass
class Sender:
    """The real one: SMTP for e-mail (no e-mail when ``smtp_host`` is None) and signed webhooks
    through the one webhook sender; both through the egress policy."""

    smtp_host: str | None
    smtp_port: int
    sender: str
    webhook_secret: bytes
    timeout: float = 10.0
    smtp_starttls: bool = False
    policy: EgressPolicy = field(default_factory=EgressPolicy)

    def email(self, to: str, message: NoticeMessage) -> None:
        if self.smtp_host is None:
            raise RuntimeError("no SMTP server configured (VIGIL_SMTP_HOST)")
        # The relay comes from the settings; it must still be public or pinned there.
        self.policy.check_endpoint(f"{self.smtp_host}:{self.smtp_port}")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, to, message.subject()
        mail["X-Vigil-Reference"] = message.reference
        mail.set_content(message.text())
        with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout) as smtp:
            if self.smtp_starttls:
                smtp.starttls()
            smtp.send_message(mail)

    def webhook(self, url: str, message: NoticeMessage) -> None:
        WebhookSender(self.policy, self.timeout).send(
            url, {"event": f"notice:{message.kind}", **asdict(message)}, self.webhook_secret,
            msg_id=f"{message.reference}-{message.kind}-{message.sends}")
