"""Checks of the transparency log itself, for ``vigil audit verify``: the entries are dense and
each leaf hashes to its stored hash (:func:`check_leaves`), every signed tree head verifies
and still has the root of the stored leaves (:func:`check_heads`), and no entry has waited
longer for a signed head than the worker would let it (:func:`check_coverage`). What the leaves
*say* — the indicators' history — is replayed by :mod:`vigil.indicators.log_audit`.

A *problem* fails the check (exit status 1); a *note* is said and passes: something not
checked, or not yet checkable, that is no sign of tampering.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigil.translog.keys import LogKeys
from vigil.translog.merkle import MerkleTree, ProofError, leaf_hash
from vigil.translog.sth import SignedTreeHead, verify_tree_head


@dataclass
class AuditReport:
    entries: int = 0
    heads_checked: int = 0
    indicators_checked: int = 0
    active: int = 0
    audit_events_checked: int = 0
    seals: int = 0
    #: The newest signed head the check vouched for (the auditor keeps it for next time).
    head: SignedTreeHead | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


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
                report: AuditReport, chain: LogKeys | None = None) -> None:
    """Each head must be signed by the key the log announced for its size (``chain``,
    :mod:`vigil.translog.keys`; ``key`` — the key the verifier trusts — where the log was
    never rotated)."""
    for head in heads:
        report.heads_checked += 1
        try:
            verify_tree_head(head, chain.key_for(head.size, key) if chain else key)
        except ProofError as exc:
            report.problems.append(f"tree head {head.size}: {exc}")
            continue
        if head.size > len(tree):
            report.problems.append(f"tree head {head.size}: the log has only {len(tree)} entries "
                                   "now (entries were deleted)")
        elif tree.root(head.size) != head.root:
            report.problems.append(f"tree head {head.size}: the stored entries no longer give "
                                   "the signed root (history was rewritten)")


#: How long an entry may wait for a signed head before that is a problem, not a note. The
#: worker signs a head every minute (after sealing the audit trail; ``takedown_check_seconds``,
#: 60 s by default), so an entry older than this with no head over it means the heads were
#: removed — which lets whoever removed them rewrite the entries unseen — or the worker has
#: stopped signing; both leave the log without tamper-evidence. Ten minutes spares a worker
#: restart or a slow round of work; younger entries are only noted.
UNSIGNED_GRACE = timedelta(minutes=10)


def check_key_chain(leaves: list[dict[str, Any]], trusted: Ed25519PublicKey,
               report: AuditReport) -> LogKeys:
    """The chain of signing keys the leaves announce (refused announcements are problems), and
    that the key the verifier trusts is one of them."""
    chain = LogKeys.from_leaves(((int(leaf.get("index", i)), leaf)
                                 for i, leaf in enumerate(leaves)), report.problems)
    try:
        chain.resolve(trusted)
    except ValueError as exc:
        report.problems.append(f"log: {exc}")
    if chain.keys:
        report.notes.append(f"the log's signing key was rotated {len(chain.keys) - 1} time(s); "
                            "each head was checked with the key of its size")
    return chain


def check_coverage(signed: int, written: list[datetime], now: datetime, report: AuditReport) -> None:
    """``signed``: the size of the newest signed head (0: none); ``written``: when each entry was
    written, in index order (its oldest known time). Reports the entries no head covers."""
    tail = written[signed:]
    if not tail:
        return
    oldest = min(tail)
    if now - oldest > UNSIGNED_GRACE:
        minutes = int(UNSIGNED_GRACE.total_seconds() // 60)
        report.problems.append(
            f"log: {len(tail)} entries, the oldest written {oldest:%Y-%m-%d %H:%M} UTC, are "
            f"covered by no signed head (the worker signs one every minute; after {minutes} "
            "minutes this means signed heads were removed, or the worker stopped signing)")
    else:
        report.notes.append(f"{len(tail)} entries after the last signed head are not yet "
                            "covered by a signature")


def check_against_known(tree: MerkleTree, known: SignedTreeHead | None, report: AuditReport) -> None:
    """The log must still contain the head the auditor saw last time: same root at that size
    (an append-only log is consistent with every head it ever signed)."""
    if known is None:
        return
    if known.size > len(tree):
        report.problems.append(f"the log has {len(tree)} entries, fewer than the {known.size} of "
                               "a head you saw before (entries were removed)")
    elif tree.root(known.size) != known.root:
        report.problems.append(f"the log is not consistent with the head of size {known.size} you "
                               "saw before (history was rewritten)")
    else:
        report.notes.append(f"consistent with the head of size {known.size} you saw before")


class HeadStore:
    """The last signed head an auditor verified, per log, in a JSON file of its own
    (``vigil audit verify --state``): the next run proves the log still contains it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.path}: not a head file ({exc})") from None
        return data if isinstance(data, dict) else {}

    def get(self, log_id: bytes) -> SignedTreeHead | None:
        entry = self._read().get(base64.b64encode(log_id).decode())
        return SignedTreeHead.from_json(entry) if isinstance(entry, dict) else None

    def put(self, head: SignedTreeHead) -> None:
        data = self._read()
        data[base64.b64encode(head.log_id).decode()] = head.to_json()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)
