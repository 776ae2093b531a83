"""The log in the database: append a leaf inside the caller's transaction, read it back."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.translog import keys
from vigil.translog.merkle import MerkleTree, leaf_hash
from vigil.translog.models import LogEntry, LogState, TreeHead
from vigil.translog.sth import SignedTreeHead, TreeHeadSigner, new_key_path, write_new_secret


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def subject_of(leaf: dict[str, Any]) -> str | None:
    if "indicator" in leaf:
        return f"indicator:{leaf['indicator']}"
    if leaf.get("event") == keys.ANNOUNCED:
        return keys.SUBJECT
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


def log_keys(session: Session, start: int = 0, end: int | None = None,
             chain: keys.LogKeys | None = None, problems: list[str] | None = None) -> keys.LogKeys:
    """The chain of signing keys the log announced (entries ``start`` to ``end``, added to
    ``chain``); refused announcements are described in ``problems``."""
    chain = chain or keys.LogKeys()
    q = select(LogEntry).where(LogEntry.subject == keys.SUBJECT, LogEntry.index >= start)
    if end is not None:
        q = q.where(LogEntry.index < end)
    for e in session.scalars(q.order_by(LogEntry.index)):
        try:
            leaf = json.loads(e.leaf)
        except ValueError:
            continue
        chain.add(e.index, leaf, problems if problems is not None else [])
    return chain


class TreeCache:
    """An in-memory tree kept up to date from the database (one per server process), with the
    chain of signing keys the log announced."""

    def __init__(self) -> None:
        self.tree = MerkleTree()
        self.keys = keys.LogKeys()

    def refresh(self, session: Session) -> MerkleTree:
        n = size(session)
        old = len(self.tree)
        if n > old:
            for h in leaf_hashes(session, old, n):
                self.tree.append_hash(h)
            log_keys(session, old, len(self.tree), self.keys)
        return self.tree


def current_signer(session: Session, cache: TreeCache, signer: TreeHeadSigner) -> TreeHeadSigner:
    """``signer``, holding the key the log announced last: what signs heads, snapshots and
    deltas now (a process started before a rotation takes the new key from the key file;
    raises :class:`vigil.translog.sth.LogKeyMissing` if it cannot)."""
    tree = cache.refresh(session)
    announced = cache.keys.for_size(len(tree))
    if announced is not None:
        signer.adopt(announced.public_key)
    return signer


def signed_head(session: Session, cache: TreeCache, signer: TreeHeadSigner) -> SignedTreeHead:
    """The current head, signed; stored so that auditors can later check it. Signed by the key
    the log announced for its size (:mod:`vigil.translog.keys`): a process that still holds
    the previous key takes the new one from the key file (raises
    :class:`vigil.translog.sth.LogKeyMissing` if it cannot)."""
    tree = cache.refresh(session)
    n = len(tree)
    announced = cache.keys.for_size(n)
    stored = session.get(TreeHead, n)
    if stored is not None:
        log_id = announced.log_id if announced is not None else signer.log_id
        return SignedTreeHead(log_id, n, stored.timestamp_ms, stored.root, stored.signature)
    head = current_signer(session, cache, signer).sign(n, tree.root(n))
    try:
        with session.begin_nested():  # another worker may store this size at the same moment
            session.add(TreeHead(size=n, timestamp_ms=head.timestamp_ms, root=head.root,
                                 signature=head.signature))
    except IntegrityError:
        stored = session.get(TreeHead, n)
        if stored is not None:
            return SignedTreeHead(head.log_id, n, stored.timestamp_ms, stored.root,
                                  stored.signature)
        raise
    return head


class RotationError(ValueError):
    """The log key cannot be rotated as asked (one line for the operator)."""


def rotate_log_key(session: Session, signer: TreeHeadSigner) -> tuple[int, TreeHeadSigner]:
    """Announce a new signing key in the caller's transaction: sign a last head with the key in
    use, write the new key beside the key file (``<path>.new``, mode 0600), append the
    announcement signed by the key in use, and sign the first head over it with the new key.
    Returns (the announcement's index, the new signer). After the commit, the caller moves the
    new key file over the old one (:func:`finish_rotation`); processes that meet a head size
    past the announcement first take it from either file (:meth:`TreeHeadSigner.adopt`)."""
    if signer.path is None:
        raise RotationError("the log key has no file to rotate")
    lock(session)
    cache = TreeCache()
    cache.refresh(session)
    current = cache.keys.current
    if current is not None and current != signer.public_bytes:
        raise RotationError(f"{signer.path} is not the log's current signing key (the log "
                            "announced another): nothing was changed")
    signed_head(session, cache, signer)  # the last head of the old key covers everything so far
    nxt = TreeHeadSigner.generate()
    path = new_key_path(signer.path)
    path.unlink(missing_ok=True)  # left by a rotation that never committed: never announced
    if not write_new_secret(path, nxt.private_pem()):
        raise RotationError(f"{path} appeared while rotating: another rotation is running")
    index = append(session, keys.announcement(signer, nxt.public_key,
                                              datetime.now(UTC).isoformat()))
    new_signer = nxt.with_path(signer.path)
    signed_head(session, cache, new_signer)
    return index, new_signer


def finish_rotation(session: Session, key_path: Path) -> bool:
    """Move ``<key_path>.new`` over the key file once the log announced its key (this also
    finishes a rotation interrupted after its commit; a ``.new`` the log never announced is
    left alone). Returns whether the file was moved."""
    path = new_key_path(key_path)
    if not path.exists():
        return False
    current = log_keys(session).current
    if current is None or TreeHeadSigner.from_file(path).public_bytes != current:
        return False
    os.replace(path, key_path)
    return True
