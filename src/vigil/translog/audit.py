"""End-to-end verification of the log and the indicator database: ``vigil audit verify``.

Checks, in order:

1. the log's entries are dense (0..n-1), each leaf hashes to its stored hash and names its own
   index;
2. every tree head the log ever signed has a valid signature and the root of the stored leaves
   at its size (so history was never rewritten, reordered or truncated);
3. replaying the leaves gives every indicator's status, list and commitment; the indicators
   table must agree row by row (a changed value, status or list is caught by the commitment
   and the replay), with nothing missing and nothing extra;
4. the list-change feed (what providers and the live index follow) yields exactly the active
   set of the replay.

It works on a database directly, or on a server through its API (as an auditor's key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.translog.merkle import MerkleTree, ProofError, leaf_hash
from vigil.translog.sth import SignedTreeHead, public_key_bytes, verify_tree_head

_STATUS_AFTER = {"indicator:proposed": "pending", "indicator:verified": "active",
                 "indicator:rejected": "rejected", "indicator:retracted": "retracted",
                 # A victim's own hash: active at once, and only on the victim list.
                 "indicator:victim_submitted": "active",
                 # Taken out by false-positive feedback or the flood guard; back after review.
                 "indicator:quarantined": "quarantined", "indicator:reinstated": "active"}
VICTIM_LIST = "victim-submitted"


@dataclass
class AuditReport:
    entries: int = 0
    heads_checked: int = 0
    indicators_checked: int = 0
    active: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Replayed:
    list: str
    signal_type: str
    commitment: str
    status: str
    proposer_org: int | None = None


#: Which status each event may follow (None: the indicator must be new).
_ALLOWED_FROM: dict[str, set[str | None]] = {
    "indicator:proposed": {None}, "indicator:verified": {"pending"},
                 "indicator:rejected": {"pending"},
    "indicator:retracted": {"pending", "active", "quarantined"},
    "indicator:victim_submitted": {None}, "indicator:quarantined": {"active"},
    "indicator:reinstated": {"quarantined"}}


def replay(leaves: Iterable[dict[str, Any]], report: AuditReport) -> dict[int, Replayed]:
    state: dict[int, Replayed] = {}
    for leaf in leaves:
        event = leaf.get("event")
        if event not in _STATUS_AFTER:
            continue
        ind = int(leaf["indicator"])
        old = state.get(ind)
        org = leaf.get("org")
        proposer = org if event == "indicator:proposed" else (old.proposer_org if old else None)
        new = Replayed(leaf["list"], leaf["signal_type"], leaf["commitment"],
                       _STATUS_AFTER[event], proposer)
        if (old.status if old else None) not in _ALLOWED_FROM[event]:
            report.problems.append(f"log: indicator {ind} {event} while "
                                   f"{old.status if old else 'not yet proposed'}")
        if event == "indicator:victim_submitted" and leaf["list"] != VICTIM_LIST:
            report.problems.append(f"log: indicator {ind} entered list {leaf['list']!r} as a "
                                   "victim's hash, without verification")
        if event == "indicator:verified" and old is not None and org == old.proposer_org:
            report.problems.append(f"log: indicator {ind} was verified by the organisation "
                                   "that proposed it (two-organisation rule)")
        if old is not None and old.commitment != new.commitment:
            report.problems.append(f"log: indicator {ind}'s commitment changed at {event}")
        state[ind] = new
    return state


def check_leaves(rows: list[tuple[int, bytes, bytes]], report: AuditReport) -> list[dict[str, Any]]:
    """rows: (index, leaf, stored leaf hash) in index order. Returns the parsed leaves."""
    parsed = []
    for expected, (index, leaf, stored) in enumerate(rows):
        if index != expected:
            report.problems.append(f"log: entry {expected} is missing (next entry is {index})")
            break
        if leaf_hash(leaf) != stored:
            report.problems.append(f"log: entry {index}'s leaf does not match its hash")
        try:
            body = json.loads(leaf)
        except json.JSONDecodeError:
            report.problems.append(f"log: entry {index} is not valid JSON")
            continue
        if body.get("index") != index:
            report.problems.append(f"log: entry {index} says it is entry {body.get('index')} "
                                   "(entries were reordered or copied)")
        parsed.append(body)
    report.entries = len(rows)
    return parsed


def check_heads(tree: MerkleTree, heads: list[SignedTreeHead], key: Ed25519PublicKey,
                report: AuditReport) -> None:
    for head in heads:
        report.heads_checked += 1
        try:
            verify_tree_head(head, key)
        except ProofError as exc:
            report.problems.append(f"tree head {head.size}: {exc}")
            continue
        if head.size > len(tree):
            report.problems.append(f"tree head {head.size}: the log has only {len(tree)} entries "
                                   "now (entries were deleted)")
        elif tree.root(head.size) != head.root:
            report.problems.append(f"tree head {head.size}: the stored entries no longer give "
                                   "the signed root (history was rewritten)")


def compare(state: dict[int, Replayed], rows: Iterable[tuple[int, str, str, str, str]],
            changes: list[tuple[int, str]], report: AuditReport) -> None:
    """rows: (id, list name, status, commitment of the row's salt+type+value, signal type)."""
    seen = set()
    for ind_id, list_name, status, commitment, signal_type in rows:
        seen.add(ind_id)
        report.indicators_checked += 1
        r = state.get(ind_id)
        if r is None:
            report.problems.append(f"indicator {ind_id} is not in the log")
            continue
        if r.commitment != commitment:
            report.problems.append(f"indicator {ind_id}: its hash value or salt differs from "
                                   "what the log committed to")
        if r.status != status:
            report.problems.append(f"indicator {ind_id}: status is {status!r} but the log says "
                                   f"{r.status!r}")
        if r.list != list_name or r.signal_type != signal_type:
            report.problems.append(f"indicator {ind_id}: list or type differs from the log")
    for ind_id in sorted(set(state) - seen):
        report.problems.append(f"indicator {ind_id} is in the log but missing from the database")
    active = {i for i, r in state.items() if r.status == "active"}
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


def verify_database(session: Session, key: Ed25519PublicKey) -> AuditReport:
    from vigil.indicators.models import HashList, Indicator, ListChange
    from vigil.indicators.service import commitment
    from vigil.translog.models import LogEntry, LogState, TreeHead

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
    state = replay(leaves, report)
    lists = {hl.id: hl.name for hl in session.scalars(select(HashList))}
    ind_rows = [(i.id, lists.get(i.list_id, "?"), i.status,
                 commitment(i.salt, i.signal_type, i.value), i.signal_type)
                for i in session.scalars(select(Indicator).order_by(Indicator.id))]
    changes = [(c.indicator_id, c.action)
               for c in session.scalars(select(ListChange).order_by(ListChange.seq))]
    compare(state, ind_rows, changes, report)
    return report


def _get(base: str, path: str, token: str) -> Any:
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"server URL must start with http:// or https://, got {base!r}")
    req = urllib.request.Request(base.rstrip("/") + path,  # noqa: S310 - scheme checked above
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - scheme checked above
        return json.loads(resp.read())


def verify_server(base: str, token: str, key: Ed25519PublicKey) -> AuditReport:
    """The same checks through the API, as an auditor sees them (heads other than the current
    one are checked through consistency proofs by the caller's earlier head, if any)."""
    from vigil.indicators.service import commitment

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
    check_heads(MerkleTree(r[2] for r in rows), [head], key, report)
    state = replay(leaves, report)
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
        report.notes.append("change feed not checked: this key lacks lists:download")
        _compare_rows(state, ind_rows, report)
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
    compare(state, ind_rows, changes, report)
    return report


def _compare_rows(state: dict[int, Replayed], rows: list[tuple[int, str, str, str, str]],
                  report: AuditReport) -> None:
    """Compare rows only (the feed taken as agreeing with the replay)."""
    compare(state, rows, [(i, "add") for i, r in state.items() if r.status == "active"], report)
