"""Organisations as the transparency log tells them, for ``vigil audit verify``'s replay
(:mod:`vigil.indicators.log_audit`).

Who may verify an indicator depends on the organisation's kind and on whether a second party
approved it: both are logged (``org:created``, ``org:approved``), so the replay judges every
act by what the log said about its organisation *at that moment* — a row edited for the
length of one act and put back leaves the act in the log, judged by the logged kind — and
the organisations table must still say what the log says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vigil.orgs.access import (
    APPROVER_KINDS,
    KIND_SCOPES,
    REVIEWING_KINDS,
    SECOND_PARTY_SCOPES,
    VOUCHED_SCOPES,
    OrgKind,
    Scope,
)
from vigil.translog.audit import AuditReport


@dataclass
class LoggedOrg:
    kind: str
    #: May act as a second party: approved when created (``approved`` in its leaf; leaves from
    #: before approvals say nothing, and the migration approved every organisation) or by an
    #: ``org:approved`` leaf since.
    approved: bool
    approved_by: int | None = None
    #: Its leaf names its creator (``by``): written since ``approved`` is exactly whether the
    #: row's ``approved_at`` is set, for every kind. Before, a kind that reviews nothing was
    #: logged as approved with no ``approved_at`` (and the migration set it for all).
    exact: bool = False

    def stored(self) -> tuple[bool | None, int | None]:
        """What its row must hold: (approved, by whom). Approved is None where an older leaf
        does not tell (a kind that reviews nothing)."""
        if self.approved_by is not None:
            return True, self.approved_by
        if not self.approved:
            return False, None
        return (True if self.exact or self.kind in REVIEWING_KINDS else None), None


@dataclass
class LoggedKey:
    org: int
    #: Holds a second party's scopes only once approved (``approved`` in ``key:issued``;
    #: leaves from before key approvals say nothing: approved), by ``key:approved`` or by
    #: its organisation's ``org:approved``.
    approved: bool


@dataclass
class OrgLog:
    """Organisations and their keys as the log tells them, up to the leaf being replayed."""

    known: dict[int, LoggedOrg] = field(default_factory=dict)
    keys: dict[int, LoggedKey] = field(default_factory=dict)
    #: The log began before organisations were logged (one acted before any ``org:created``):
    #: one missing from the log is older than that, not forged, and its acts are not checked.
    predates_orgs: bool = False
    unlogged: set[int] = field(default_factory=set)

    def created(self, leaf: dict[str, Any], report: AuditReport) -> None:
        org, kind = leaf.get("org"), str(leaf.get("kind"))
        if not isinstance(org, int) or kind not in {k.value for k in OrgKind}:
            report.problems.append(f"log: organisation {org!r} created with kind {kind!r}")
            return
        if org in self.known:
            report.problems.append(f"log: organisation {org} was created twice")
        if kind == OrgKind.CENTRE.value and leaf.get("by") is not None:
            report.problems.append(f"log: organisation {org}, a centre, was created by "
                                   f"organisation {leaf.get('by')} (only the operator sets up "
                                   "the Centre)")
        self.known[org] = LoggedOrg(kind, bool(leaf.get("approved", True)), exact="by" in leaf)

    def approved(self, leaf: dict[str, Any], report: AuditReport) -> None:
        org, by = leaf.get("org"), leaf.get("by")
        approver = self.known.get(by) if isinstance(by, int) else None
        if by == org or approver is None or approver.kind not in APPROVER_KINDS \
                or not approver.approved:
            report.problems.append(f"log: organisation {org} was approved by {by}, which may "
                                   "not approve it")
        target = self.known.get(org) if isinstance(org, int) else None
        if target is None:
            if not self.predates_orgs:
                report.problems.append(f"log: organisation {org} was approved but never created")
            return
        target.approved, target.approved_by = True, by if isinstance(by, int) else None
        for key in leaf.get("keys") or ():
            if key in self.keys:
                self.keys[key].approved = True

    def key_issued(self, leaf: dict[str, Any], report: AuditReport) -> None:
        key, org = leaf.get("key"), leaf.get("org")
        if not isinstance(key, int) or not isinstance(org, int):
            report.problems.append(f"log: key {key!r} issued to organisation {org!r}")
            return
        self.keys[key] = LoggedKey(org, bool(leaf.get("approved", True)))

    def key_approved(self, leaf: dict[str, Any], report: AuditReport) -> None:
        key, by = leaf.get("key"), leaf.get("by")
        logged = self.keys.get(key) if isinstance(key, int) else None
        approver = self.known.get(by) if isinstance(by, int) else None
        if logged is None:
            report.problems.append(f"log: key {key} was approved but never issued")
            return
        if by == logged.org or approver is None or approver.kind not in APPROVER_KINDS \
                or not approver.approved:
            report.problems.append(f"log: key {key} was approved by organisation {by}, which "
                                   "may not approve it")
        logged.approved = True

    def check(self, org: object, scope: Scope, what: str, report: AuditReport,
              key: object = None) -> None:
        """The acting organisation (None: the operator, or the system itself) must hold
        ``scope`` by its logged kind, and be approved then if it is a second party's; so must
        the acting ``key`` (None: the leaf does not say; a key the log never issued is older
        than key leaves, and not checked)."""
        if org is None:
            return
        logged_key = self.keys.get(key) if isinstance(key, int) else None
        if logged_key is not None and logged_key.org != org:
            report.problems.append(f"log: {what} by organisation {org} with key {key}, which "
                                   f"the log issued to organisation {logged_key.org}")
        elif logged_key is not None and scope in VOUCHED_SCOPES and not logged_key.approved:
            report.problems.append(f"log: {what} by key {key} before a second party approved "
                                   f"it ({scope.value})")
        logged = self.known.get(org) if isinstance(org, int) else None
        if logged is None:
            self.predates_orgs = self.predates_orgs or not self.known
            if self.predates_orgs and isinstance(org, int):
                self.unlogged.add(org)
            else:
                report.problems.append(f"log: {what} by organisation {org}, which the log never "
                                       "created")
            return
        if scope not in KIND_SCOPES[OrgKind(logged.kind)]:
            report.problems.append(f"log: {what} by organisation {org}, logged as a "
                                   f"{logged.kind}: that kind may not hold {scope.value}")
        elif scope in SECOND_PARTY_SCOPES and not logged.approved:
            report.problems.append(f"log: {what} by organisation {org} before a second party "
                                   f"approved it ({scope.value})")


def _approval(approved: bool | None, by: int | None) -> str:
    if by is not None:
        return f"approved by organisation {by}"
    return {True: "approved", False: "not approved", None: "either"}[approved]


def compare(orgs: OrgLog, rows: Iterable[tuple[int, str, bool, int | None]],
            report: AuditReport) -> None:
    """rows: (id, kind, approved, approved by) as stored."""
    seen = set()
    for org_id, kind, approved, by in rows:
        seen.add(org_id)
        logged = orgs.known.get(org_id)
        if logged is None:
            if not orgs.predates_orgs:
                report.problems.append(f"organisation {org_id} is not in the log")
            continue
        if kind != logged.kind:
            report.problems.append(f"organisation {org_id}: kind is {kind!r} but the log says "
                                   f"{logged.kind!r}")
        want, want_by = logged.stored()
        if (want is not None and approved != want) or by != want_by:
            report.problems.append(
                f"organisation {org_id}: approval differs from the log (stored: "
                f"{_approval(approved, by)}; log: {_approval(want, want_by)})")
    for org_id in sorted(set(orgs.known) - seen):
        report.problems.append(f"organisation {org_id} is in the log but missing from the "
                               "database")
