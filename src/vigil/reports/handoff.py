"""Hand-off of reports to authorities: an interface, a null implementation for tests, and the
pull API (``GET /v1/authority/reports``) that works with no outbound connection at all.

A signed webhook implementation comes with the authority integrations; every implementation
receives the same minimal notice (no personal data — the authority pulls the report with its
own key, and that read is recorded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
