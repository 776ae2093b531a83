"""The log in the database: append a leaf inside the caller's transaction, read it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.translog.merkle import MerkleTree, leaf_hash
from vigil.translog.models import LogEntry, LogState, TreeHead
from vigil.translog.sth import SignedTreeHead, TreeHeadSigner


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def subject_of(leaf: dict[str, Any]) -> str | None:
    if "indicator" in leaf:
        return f"indicator:{leaf['indicator']}"
    return None


def append(session: Session, leaf: dict[str, Any]) -> int:
    """Append a leaf in the caller's transaction; returns its index."""
    state = session.get(LogState, 1, with_for_update=True)
    if state is None:
        state = LogState(id=1, size=0)
        session.add(state)
        session.flush()
    index = state.size
    data = canonical({**leaf, "index": index})
    session.add(LogEntry(index=index, leaf=data, leaf_hash=leaf_hash(data),
                         created_at=datetime.now(UTC), subject=subject_of(leaf)))
    state.size = index + 1
    session.flush()
    return index


def lock(session: Session) -> None:
    """Take the log's append lock for the rest of the transaction (a writer that must read the
    log and then append, like the audit seal, so that two workers cannot both append the same
    thing)."""
    session.get(LogState, 1, with_for_update=True, populate_existing=True)


def size(session: Session) -> int:
    state = session.get(LogState, 1)
    return state.size if state else 0


def leaf_hashes(session: Session, start: int = 0, end: int | None = None) -> list[bytes]:
    q = select(LogEntry.leaf_hash).where(LogEntry.index >= start).order_by(LogEntry.index)
    if end is not None:
        q = q.where(LogEntry.index < end)
    return list(session.scalars(q))


def entries_about(session: Session, subject: str) -> list[LogEntry]:
    """The entries recorded about one subject (e.g. ``indicator:42``), in log order."""
    return list(session.scalars(select(LogEntry).where(LogEntry.subject == subject)
                                .order_by(LogEntry.index)))


def entries(session: Session, start: int, end: int) -> list[LogEntry]:
    q = (select(LogEntry).where(LogEntry.index >= start, LogEntry.index < end)
         .order_by(LogEntry.index))
    return list(session.scalars(q))


class TreeCache:
    """An in-memory tree kept up to date from the database (one per server process)."""

    def __init__(self) -> None:
        self.tree = MerkleTree()

    def refresh(self, session: Session) -> MerkleTree:
        n = size(session)
        if n > len(self.tree):
            for h in leaf_hashes(session, len(self.tree), n):
                self.tree.append_hash(h)
        return self.tree


def signed_head(session: Session, cache: TreeCache, signer: TreeHeadSigner) -> SignedTreeHead:
    """The current head, signed; stored so that auditors can later check it."""
    tree = cache.refresh(session)
    n = len(tree)
    stored = session.get(TreeHead, n)
    if stored is not None:
        return SignedTreeHead(signer.log_id, n, stored.timestamp_ms, stored.root, stored.signature)
    head = signer.sign(n, tree.root(n))
    try:
        with session.begin_nested():  # another worker may store this size at the same moment
            session.add(TreeHead(size=n, timestamp_ms=head.timestamp_ms, root=head.root,
                                 signature=head.signature))
    except IntegrityError:
        stored = session.get(TreeHead, n)
        if stored is not None:
            return SignedTreeHead(signer.log_id, n, stored.timestamp_ms, stored.root,
                                  stored.signature)
        raise
    return head
