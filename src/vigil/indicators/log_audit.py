"""``vigil audit verify``: the log and the indicator database, checked end to end.

Checks, in order:

1. the log's entries are dense (0..n-1), each leaf hashes to its stored hash and names its own
   index (:func:`vigil.translog.audit.check_leaves`);
2. every tree head the log ever signed has a valid signature and the root of the stored leaves
   at its size (so history was never rewritten, reordered or truncated);
3. replaying the leaves with the lifecycle's own table
   (:data:`vigil.indicators.lifecycle.TRANSITIONS`) gives every indicator's status, list and
   commitment, and every list's trust; each event must be allowed from the status before it,
   on its kind of list, and a verification must come from another organisation than the
   proposal; the indicators and lists tables must agree row by row (a changed value, status,
   list or trust is caught), with nothing missing and nothing extra;
4. the list-change feed (what providers and the live index follow) yields exactly the active
   set of the replay;
5. the audit trail: every sealed range of audit events re-chained against its seal, the seals
   read from the leaves (:mod:`vigil.audit.seal`);
6. the log still contains the head the auditor saw last time (``known``: same root at that
   size).

It works on a database directly, or on a server through its API (as an auditor's key: the
events and the leaves are fetched and checked here, not taken from the server's word).
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit import seal
from vigil.audit.models import AuditEvent
from vigil.indicators.lifecycle import TRANSITIONS, IndicatorEvent, IndicatorStatus, commitment, find
from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.matching.policy import Trust
from vigil.translog.audit import AuditReport, check_against_known, check_heads, check_leaves
from vigil.translog.merkle import MerkleTree
from vigil.translog.models import LogEntry, LogState, TreeHead
from vigil.translog.sth import SignedTreeHead, public_key_bytes

__all__ = ["AuditReport", "replay", "verify_database", "verify_server"]

#: Logs written before lists carried a trust level name it by these rules (the same ones the
#: migration that added the column applied).
LEGACY_VICTIM_LIST = "victim-submitted"


@dataclass(frozen=True)
class Replayed:
    list: str
    signal_type: str
    commitment: str
    status: str
    proposer_org: int | None = None


@dataclass
class Replay:
    indicators: dict[int, Replayed]
    lists: dict[str, Trust]


def _list_trust(leaf: dict[str, Any]) -> Trust:
    if "trust" in leaf:
        return Trust(leaf["trust"])
    if leaf.get("kind") == "allow":
        return Trust.ALLOW
    return Trust.UNVERIFIED if leaf.get("list") == LEGACY_VICTIM_LIST else Trust.VERIFIED


_TARGET = {t.event: t.target for t in TRANSITIONS}


def replay(leaves: Iterable[dict[str, Any]], report: AuditReport) -> Replay:
    state: dict[int, Replayed] = {}
    lists: dict[str, Trust] = {}
    approved: set[object] = set()  # organisations that may review (logs before approvals: all)
    kinds: dict[object, object] = {}
    for leaf in leaves:
        name = leaf.get("event")
        if name == "list:created":
            lists[leaf["list"]] = _list_trust(leaf)
            continue
        if name == "org:created":
            kinds[leaf.get("org")] = leaf.get("kind")
            if leaf.get("approved", True):
                approved.add(leaf.get("org"))
            continue
        if name == "org:approved":
            by = leaf.get("by")
            may = kinds.get(by) == "auditor" or (kinds.get(by) == "partner_centre" and by in approved)
            if by == leaf.get("org") or not may:
                report.problems.append(f"log: organisation {leaf.get('org')} was approved by "
                                       f"{leaf.get('by')}, which may not approve it")
            approved.add(leaf.get("org"))
            continue
        try:
            event = IndicatorEvent(str(name))
        except ValueError:
            continue
        ind = int(leaf["indicator"])
        old = state.get(ind)
        source = IndicatorStatus(old.status) if old else None
        row = find(event, source)
        org = leaf.get("org")
        target = row.target if row else _TARGET[event]
        if row is None:
            report.problems.append(f"log: indicator {ind} {event.value} while "
                                   f"{source.value if source else 'not yet proposed'}")
        trust = lists.get(leaf["list"])
        if row is not None and row.lists is not None and trust not in row.lists:
            report.problems.append(
                f"log: indicator {ind} {event.value} on list {leaf['list']!r}, a "
                f"{trust.value if trust else 'unknown'} list (allowed only on "
                f"{', '.join(sorted(t.value for t in row.lists))} lists)")
        if row is not None and row.two_organisations and old is not None and org == old.proposer_org:
            report.problems.append(f"log: indicator {ind} was verified by the organisation "
                                   "that proposed it (two-organisation rule)")
        if row is not None and row.two_organisations and org not in approved:
            report.problems.append(f"log: indicator {ind} was verified by organisation {org} "
                                   "before a second party approved it to review")
        if leaf.get("status") not in (None, target.value):
            report.problems.append(f"log: indicator {ind}'s {event.value} entry says status "
                                   f"{leaf.get('status')!r}, the lifecycle says {target.value!r}")
        proposer = org if source is None else (old.proposer_org if old else None)
        new = Replayed(leaf["list"], leaf["signal_type"], leaf["commitment"], target.value,
                       proposer)
        if old is not None and old.commitment != new.commitment:
            report.problems.append(f"log: indicator {ind}'s commitment changed at {event.value}")
        state[ind] = new
    return Replay(state, lists)


def compare(replayed: Replay, rows: Iterable[tuple[int, str, str, str, str]],
            changes: list[tuple[int, str]], report: AuditReport,
            lists: dict[str, str] | None = None) -> None:
    """rows: (id, list name, status, commitment of the row's salt+type+value, signal type);
    lists: name → trust as stored (None: not checked)."""
    state = replayed.indicators
    for name, trust in sorted((lists or {}).items()):
        logged = replayed.lists.get(name)
        if logged is None:
            report.problems.append(f"list {name!r} is not in the log")
        elif logged.value != trust:
            report.problems.append(f"list {name!r}: trust is {trust!r} but the log says "
                                   f"{logged.value!r}")
    seen = set()
    for ind_id, list_name, status, commit, signal_type in rows:
        seen.add(ind_id)
        report.indicators_checked += 1
        r = state.get(ind_id)
        if r is None:
            report.problems.append(f"indicator {ind_id} is not in the log")
            continue
        if r.commitment != commit:
            report.problems.append(f"indicator {ind_id}: its hash value or salt differs from "
                                   "what the log committed to")
        if r.status != status:
            report.problems.append(f"indicator {ind_id}: status is {status!r} but the log says "
                                   f"{r.status!r}")
        if r.list != list_name or r.signal_type != signal_type:
            report.problems.append(f"indicator {ind_id}: list or type differs from the log")
    for ind_id in sorted(set(state) - seen):
        report.problems.append(f"indicator {ind_id} is in the log but missing from the database")
    active = {i for i, r in state.items() if r.status == IndicatorStatus.ACTIVE}
    report.active = len(active)
    fed: dict[int, str] = {}
    for ind_id, action in changes:
        fed[ind_id] = action
    fed_active = {i for i, a in fed.items() if a == "add"}
    for ind_id in sorted(fed_active - active):
        report.problems.append(f"change feed: indicator {ind_id} is distributed as active but "
                               "the log says it is not")
    for ind_id in sorted(active - fed_active):
        report.problems.append(f"change feed: indicator {ind_id} is active in the log but not "
                               "distributed")


def _audit_trail(leaves: list[dict[str, Any]], events: list[dict[str, Any]],
                 report: AuditReport) -> None:
    seals = seal.seals_in(leaves)
    report.seals = len(seals)
    report.audit_events_checked = len(events)
    report.problems += [f"audit trail: {p}" for p in seal.check(seals, events)]


def verify_database(session: Session, key: Ed25519PublicKey,
                    known: SignedTreeHead | None = None) -> AuditReport:
    report = AuditReport()
    rows = [(e.index, e.leaf, e.leaf_hash)
            for e in session.scalars(select(LogEntry).order_by(LogEntry.index))]
    leaves = check_leaves(rows, report)
    state_row = session.get(LogState, 1)
    if state_row is None or state_row.size != len(rows):
        report.problems.append(f"log: size is recorded as {state_row.size if state_row else None}"
                               f" but {len(rows)} entries are stored")
    tree = MerkleTree(r[2] for r in rows)
    log_id = hashlib.sha256(public_key_bytes(key)).digest()
    heads = [SignedTreeHead(log_id, h.size, h.timestamp_ms, h.root, h.signature)
             for h in session.scalars(select(TreeHead).order_by(TreeHead.size))]
    check_heads(tree, heads, key, report)
    check_against_known(tree, known, report)
    if heads:
        report.head = heads[-1]
        if heads[-1].size < len(tree):
            report.notes.append(f"{len(tree) - heads[-1].size} entries after the last signed "
                                "head are not yet covered by a signature")
    replayed = replay(leaves, report)
    lists = {hl.id: (hl.name, hl.trust) for hl in session.scalars(select(HashList))}
    ind_rows = [(i.id, lists.get(i.list_id, ("?", ""))[0], i.status,
                 commitment(i.salt, i.signal_type, i.value), i.signal_type)
                for i in session.scalars(select(Indicator).order_by(Indicator.id))]
    changes = [(c.indicator_id, c.action)
               for c in session.scalars(select(ListChange).order_by(ListChange.seq))]
    compare(replayed, ind_rows, changes, report, dict(lists.values()))
    _audit_trail(leaves, [seal.as_mapping(e) for e in session.scalars(
        select(AuditEvent).order_by(AuditEvent.id))], report)
    return report


def _http_get(base: str, path: str, token: str) -> Any:
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"server URL must start with http:// or https://, got {base!r}")
    req = urllib.request.Request(base.rstrip("/") + path,  # noqa: S310 - scheme checked above
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - scheme checked above
        return json.loads(resp.read())


Getter = Callable[[str, str, str], Any]


def verify_server(base: str, token: str, key: Ed25519PublicKey,
                  known: SignedTreeHead | None = None, get: Getter | None = None) -> AuditReport:
    """The same checks through the API, as an auditor sees them: the current signed head, and
    ``known`` — the head the auditor saw last time — must be contained in the same log.
    ``get(base, path, token)`` fetches JSON (default: over HTTP)."""
    _get = get or _http_get
    report = AuditReport()
    head = SignedTreeHead.from_json(_get(base, "/v1/log/head", token))
    rows: list[tuple[int, bytes, bytes]] = []
    start = 0
    while start < head.size:
        page = _get(base, f"/v1/log/entries?start={start}&end={head.size}", token)["entries"]
        if not page:
            break
        for e in page:
            leaf = base64.b64decode(e["leaf_data"])
            rows.append((e["index"], leaf, base64.b64decode(e["leaf_hash"])))
        start = page[-1]["index"] + 1
    leaves = check_leaves(rows, report)
    tree = MerkleTree(r[2] for r in rows)
    check_heads(tree, [head], key, report)
    check_against_known(tree, known, report)
    report.head = head
    replayed = replay(leaves, report)
    _server_audit_trail(base, token, _get, leaves, report)
    ind_rows = []
    after = 0
    while True:
        page = _get(base, f"/v1/indicators?after={after}&limit=1000", token)
        if not page:
            break
        for i in page:
            ind_rows.append((i["id"], i["list"], i["status"],
                             commitment(i["salt"], i["signal_type"], i["value"]), i["signal_type"]))
        after = page[-1]["id"]
    # The feed's view (needs lists:download; an auditor's key may not have it).
    try:
        lists = _get(base, "/v1/lists", token)
    except urllib.error.HTTPError:
        lists = None
    if lists is None:
        report.notes.append("change feed and list trust not checked: this key lacks "
                            "lists:download")
        active = [(i, "add") for i, r in replayed.indicators.items()
                  if r.status == IndicatorStatus.ACTIVE]
        compare(replayed, ind_rows, active, report)
        return report
    changes: list[tuple[int, str]] = []
    for lst in lists:
        since = 0
        while True:
            feed = _get(base, f"/v1/lists/{lst['name']}/changes?since={since}", token)
            changes += [(c["id"], c["action"]) for c in feed["changes"]]
            if feed["complete"]:
                break
            since = feed["until"]
    compare(replayed, ind_rows, changes, report, {lst["name"]: lst["trust"] for lst in lists})
    return report


def _server_audit_trail(base: str, token: str, get: Getter, leaves: list[dict[str, Any]],
                        report: AuditReport) -> None:
    """Fetch every audit event (needs audit:read) and re-chain the sealed ranges here."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        try:
            page = get(base, f"/v1/audit/events?after_id={after}&limit=5000", token)
        except urllib.error.HTTPError as exc:
            if exc.code == 403:
                report.notes.append("audit trail not checked: this key lacks audit:read")
                return
            raise
        events += [{"id": e["id"], "at": e["at"], "action": e["action"],
                    "org": e["organisation"], "key": e["key"], "subject": e["subject"],
                    "details": e["details"]} for e in page["events"]]
        if page["next_after_id"] is None:
            break
        after = page["next_after_id"]
    _audit_trail(leaves, events, report)
