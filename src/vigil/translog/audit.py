"""Checks of the transparency log itself, for ``vigil audit verify``: the entries are dense and
each leaf hashes to its stored hash (:func:`check_leaves`), and every signed tree head verifies
and still has the root of the stored leaves (:func:`check_heads`). What the leaves *say* — the
indicators' history — is replayed by :mod:`vigil.indicators.log_audit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigil.translog.merkle import MerkleTree, ProofError, leaf_hash
from vigil.translog.sth import SignedTreeHead, verify_tree_head


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
