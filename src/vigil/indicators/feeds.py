"""Signed list snapshots and change feeds, for providers that match on their own machines.
Snapshots are written (once per list version) by :mod:`vigil.indicators.snapshots`.

Both carry the list's ``trust`` (verified, unverified, allow — see
:mod:`vigil.matching.policy`): only hits on a verified list may lead to action without review.
Both are JSON objects; ``signature`` is an Ed25519 signature (base64), by the log's key, over
the canonical JSON (sorted keys, no spaces) of the object without ``signature``. The key is
published at ``GET /v1/log/key``; ``vigil match --list FILE --public-key KEY`` checks it.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.translog.sth import TreeHeadSigner

FORMAT = "vigil-list-v1"


def canonical(obj: dict[str, Any]) -> bytes:
    """The bytes a signature covers: JSON with sorted keys, no spaces, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sign(obj: dict[str, Any], signer: TreeHeadSigner) -> dict[str, Any]:
    body = {k: v for k, v in obj.items() if k != "signature"}
    return {**body, "signature": base64.b64encode(signer.sign_bytes(canonical(body))).decode()}


def verify(obj: dict[str, Any], public_key: Ed25519PublicKey) -> None:
    """Raises ``ValueError`` naming the problem."""
    sig = obj.get("signature")
    if not isinstance(sig, str):
        raise ValueError("the list file carries no signature")
    body = {k: v for k, v in obj.items() if k != "signature"}
    try:
        public_key.verify(base64.b64decode(sig, validate=True), canonical(body))
    except (InvalidSignature, ValueError):
        raise ValueError("the list file's signature is invalid (altered, or not from this "
                         "key)") from None


def verify_any(obj: dict[str, Any], keys: list[tuple[Ed25519PublicKey, str | None]]) -> int:
    """Check ``obj`` against the log's keys as ``GET /v1/log/keys`` lists them: (key, retired
    at). A key retired by a rotation counts only for a snapshot or delta generated before its
    retirement (one signed later with it was not signed by vigil). Returns the position of the
    key that verified; raises ``ValueError`` naming the problem."""
    generated = str(obj.get("generated_at") or "")
    for n, (key, retired) in enumerate(keys):
        try:
            verify(obj, key)
        except ValueError:
            continue
        if retired is not None and not (generated and _before(generated, retired)):
            raise ValueError(f"the list file is signed with a log key retired at {retired}, "
                             "after which that key signs nothing: fetch a new snapshot")
        return n
    raise ValueError("the list file's signature is invalid (altered, or not from any of the "
                     "log's keys)")


def _before(a: str, b: str) -> bool:
    try:
        return datetime.fromisoformat(a) < datetime.fromisoformat(b)
    except ValueError:
        return False


def changes(session: Session, hl: HashList, since: int, signer: TreeHeadSigner,
            limit: int = 10_000) -> dict[str, Any]:
    # Read the high-water mark first and the rows up to it: a change committed between two
    # reads could otherwise fall below "until" without being in the rows, and be skipped.
    high = session.scalar(select(func.max(ListChange.seq))) or 0
    rows = session.execute(
        select(ListChange.seq, ListChange.action, Indicator.id, Indicator.signal_type,
               Indicator.value)
        .join(Indicator, Indicator.id == ListChange.indicator_id)
        .where(ListChange.list_id == hl.id, ListChange.seq > since, ListChange.seq <= high)
        .order_by(ListChange.seq).limit(limit)).all()
    until = rows[-1][0] if rows else since
    if len(rows) < limit:
        until = max(until, high)
    body = {
        "format": FORMAT, "type": "changes", "list": hl.name, "trust": hl.trust,
        "since": since, "until": until,
        "complete": len(rows) < limit,
        "changes": [{"seq": r[0], "action": r[1], "id": r[2], "signal_type": r[3],
                     "value": r[4]} for r in rows],
    }
    return sign(body, signer)
