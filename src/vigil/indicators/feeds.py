"""Signed list snapshots and change feeds, for providers that match on their own machines.
Snapshots are written (once per list version) by :mod:`vigil.indicators.snapshots`.

Both carry the list's ``trust`` (verified, unverified, allow — see
:mod:`vigil.matching.policy`): only hits on a verified list may lead to action without review.
Both are JSON objects; ``signature`` is an Ed25519 signature (base64), by the log's key, over
the canonical JSON (sorted keys, no spaces) of the object without ``signature``. The key is
published at ``GET /v1/log/key``; ``vigil match --list FILE --public-key KEY`` checks it. The
signing and verification themselves live in :mod:`vigil.translog.signing` (re-exported here).

**Which tree head covers them.** Both say ``log_size``: every change they contain (and, for a
snapshot, every change that made its entries what they are) is among the first ``log_size``
entries of the transparency log, since a change and its log leaf are written in one
transaction. A client (:mod:`vigil.exchange.sync`) accepts one only under a signed tree head of
at least that size, consistent with the last head it trusted. Both also say ``generated_at``,
so that a signature by a key retired later still counts (:func:`verify_any`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.translog import repository as translog
from vigil.translog.signing import canonical, sign, verify, verify_any
from vigil.translog.sth import TreeHeadSigner

__all__ = ["FORMAT", "canonical", "changes", "sign", "verify", "verify_any"]

FORMAT = "vigil-list-v1"


def changes(session: Session, hl: HashList, since: int, signer: TreeHeadSigner,
            limit: int = 10_000) -> dict[str, Any]:
    """The signed feed of ``hl``'s changes after ``since`` (at most ``limit``; ``complete``
    false when more follow from ``until``), with the log size that covers them."""
    # Read the high-water mark first and the rows up to it: a change committed between two
    # reads could otherwise fall below "until" without being in the rows, and be skipped.
    high = session.scalar(select(func.max(ListChange.seq))) or 0
    rows = session.execute(
        select(ListChange.seq, ListChange.action, Indicator.id, Indicator.signal_type,
               Indicator.value, Indicator.label)
        .join(Indicator, Indicator.id == ListChange.indicator_id)
        .where(ListChange.list_id == hl.id, ListChange.seq > since, ListChange.seq <= high)
        .order_by(ListChange.seq).limit(limit)).all()
    # Read after the rows: each row's log leaf committed with it, so a later read of the log's
    # size counts it (on PostgreSQL each statement sees what was committed when it started).
    log_size = translog.size(session)
    until = rows[-1][0] if rows else since
    if len(rows) < limit:
        until = max(until, high)
    body = {
        "format": FORMAT, "type": "changes", "list": hl.name, "trust": hl.trust,
        "since": since, "until": until,
        "complete": len(rows) < limit,
        "log_size": log_size, "generated_at": datetime.now(UTC).isoformat(),
        "changes": [{"seq": r[0], "action": r[1], "id": r[2], "signal_type": r[3],
                     "value": r[4], "label": r[5]} for r in rows],
    }
    return sign(body, signer)
