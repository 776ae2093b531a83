"""Tamper evidence for the audit trail, with the same log as the indicators.

Every so often (``vigil worker``, once across all workers) the events not yet sealed are
chained (``h = SHA-256(h || canonical event)``) and the final digest goes into the transparency
log as an ``audit:sealed`` leaf; the worker then signs a tree head.

A seal claims a *range* of ids, and verification re-chains every event in it, so a seal must
never leave out an event whose id lies inside its range. Two things used to make it do so when
several processes wrote events while another sealed (issue 15, "two workers"): events were
chosen by time (``at`` older than a minute), but ids are handed out at INSERT and ``at`` when
the action was recorded, so a later id can carry an earlier time; and on PostgreSQL an event
whose transaction is still open is invisible, so a seal over later ids claimed its id too.
Now the seal covers an unbroken run of ids: on PostgreSQL only up to the highest id committed
when it starts, after waiting (at most ``wait`` seconds, else it postpones) until every
transaction that was writing events then has ended; SQLite has one writer at a time, so no
event is in flight while the seal holds the write lock. With that wait, events need no minimum
age (``older_than``, for tests and callers that want one, cuts the run before the first younger
event, never around it). The log's signed heads and consistency proofs vouch for the seals,
and the seals for the trail: an event changed, removed or slipped in later no longer gives the
sealed digest.

Verification reads the seals from the leaves themselves — never from a column the leaf hash
does not cover (``log_entries.subject`` is only an index for the writer) — and re-chains every
sealed range, the same way on the server (``GET /v1/audit/verify``) and in ``vigil audit
verify`` (which fetches the events and the leaves with an auditor's key and checks them
itself). Events younger than the last seal are not covered yet: they are sealed within one
interval of the worker's seal (``VIGIL_AUDIT_SEAL_SECONDS``, a minute by default).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from vigil.audit.models import AuditEvent
from vigil.translog import repository as log
from vigil.translog.models import LogEntry

_log = logging.getLogger("vigil.audit")

SEAL_SUBJECT = "audit:seal"
SEAL_EVENT = "audit:sealed"


def canonical(event: Mapping[str, Any]) -> bytes:
    """The bytes an event is chained by: ``id``, ``at`` (ISO 8601; a time without a zone is
    UTC), ``action``, ``org``, ``key``, ``subject``, ``details`` (a JSON object), as canonical
    JSON. ``at`` may be a datetime or the ISO text the API returns: both give the same bytes."""
    at = event["at"]
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return json.dumps({"id": event["id"], "at": at.isoformat(),
                       "action": event["action"], "org": event["org"], "key": event["key"],
                       "subject": event["subject"], "details": event["details"]},
                      sort_keys=True, separators=(",", ":")).encode()


def as_mapping(e: AuditEvent) -> dict[str, Any]:
    return {"id": e.id, "at": e.at, "action": e.action, "org": e.organisation_id,
            "key": e.api_key_id, "subject": e.subject, "details": json.loads(e.details or "{}")}


def chain(events: Iterable[Mapping[str, Any]]) -> str:
    h = b"\x00" * 32
    for e in events:
        h = hashlib.sha256(h + canonical(e)).digest()
    return h.hex()


def seals_in(leaves: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The seal leaves among parsed log leaves, in log order."""
    return [leaf for leaf in leaves if leaf.get("event") == SEAL_EVENT]


def _last_seal(session: Session) -> Mapping[str, Any] | None:
    # The writer may use the index column as a hint: if someone cleared it, the next seal
    # overlaps an earlier one, which verification reports.
    entry = session.scalar(select(LogEntry).where(LogEntry.subject == SEAL_SUBJECT)
                           .order_by(LogEntry.index.desc()).limit(1))
    if entry is None:
        return None
    leaf: dict[str, Any] = json.loads(entry.leaf)
    return leaf if leaf.get("event") == SEAL_EVENT else None


def seal(session: Session, *, older_than: timedelta = timedelta(0),
         at: datetime | None = None, wait: float = 5.0) -> dict[str, Any] | None:
    """Seal the events after the last seal; returns the leaf, or None if there was nothing (or,
    on PostgreSQL, if transactions writing events stayed open longer than ``wait`` seconds: the
    next round seals them). Call it in a transaction of its own, before anything else runs in
    it (a transaction that wrote events itself would wait for itself). Two workers sealing at
    once take turns (the log's lock), so seals never overlap."""
    if session.in_transaction():
        raise RuntimeError("seal() starts its own transaction: call it on a fresh session")
    horizon = _settled_horizon(session, wait)
    if horizon == _NOT_SETTLED:
        return None
    log.lock(session)
    last = _last_seal(session)
    after = int(last["last_id"]) if last else 0
    cutoff = (at or datetime.now(UTC)) - older_than
    q = select(AuditEvent).where(AuditEvent.id > after)
    if horizon is not None:
        q = q.where(AuditEvent.id <= horizon)
    too_young = session.scalar(q.with_only_columns(func.min(AuditEvent.id))
                               .where(AuditEvent.at > cutoff))
    if too_young is not None:  # an unbroken run: stop before the first event not old enough
        q = q.where(AuditEvent.id < too_young)
    events = list(session.scalars(q.order_by(AuditEvent.id)))
    if not events:
        return None
    leaf = {"event": SEAL_EVENT, "first_id": events[0].id, "after_id": after,
            "last_id": events[-1].id, "count": len(events),
            "digest": chain(as_mapping(e) for e in events), "at": datetime.now(UTC).isoformat()}
    index = log.append(session, leaf)
    session.flush()
    entry = session.get(LogEntry, index)
    if entry is not None:
        entry.subject = SEAL_SUBJECT
    return leaf


_NOT_SETTLED = -1


def _settled_horizon(session: Session, wait: float) -> int | None:
    """PostgreSQL: the highest event id committed now, once no transaction that could still
    commit an id at or below it is open — or ``_NOT_SETTLED`` if such writers stayed open longer
    than ``wait`` seconds. None on SQLite (one writer at a time: nothing to wait for).

    A transaction that inserts into ``audit_events`` holds the table's ROW EXCLUSIVE lock from
    before it takes an id until it ends. So the writers to wait for are those holding it just
    after the highest id was read (``pg_locks``, fast-path locks included); writers that start
    later take higher ids. Watching them, instead of asking for a lock that conflicts with
    theirs, never makes a request wait for the seal."""
    engine = session.get_bind()
    if engine.dialect.name != "postgresql":
        return None
    deadline = time.monotonic() + wait
    with engine.engine.connect() as conn:
        highest = conn.scalar(select(func.max(AuditEvent.id))) or 0
        conn.commit()
        writers = _writers(conn)
        while writers:
            if time.monotonic() > deadline:
                _log.warning("audit seal postponed: %d transaction(s) writing audit events "
                             "stayed open longer than %.1f s", len(writers), wait)
                return _NOT_SETTLED
            time.sleep(0.01)
            writers &= _writers(conn)
    return int(highest)


def _writers(conn: Connection) -> set[str]:
    """The transactions (virtual ids) holding audit_events' ROW EXCLUSIVE lock now."""
    found = set(conn.scalars(text(
        "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'relation' "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND relation = CAST(:table AS regclass) AND mode = 'RowExclusiveLock' AND granted"),
        {"table": AuditEvent.__tablename__}))
    conn.commit()
    return found


def check(seals: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]]) -> list[str]:
    """Re-chain every sealed range against its seal. ``events``: every audit event, in id
    order (as :func:`as_mapping` gives them, or as ``GET /v1/audit/events`` returns them).
    Returns the problems (none: the sealed trail is intact). One pass over the events."""
    problems = []
    previous = 0
    i = 0
    for s in seals:
        last, count = int(s["last_id"]), int(s["count"])
        if int(s.get("after_id", previous)) != previous:
            problems.append(f"audit seal in log entry {s.get('index')} starts after event "
                            f"{s.get('after_id')}, but the seal before it ended at {previous} "
                            "(seals overlap or leave a gap)")
        while i < len(events) and int(events[i]["id"]) <= previous:
            i += 1
        start = i
        while i < len(events) and int(events[i]["id"]) <= last:
            i += 1
        span = events[start:i]
        if len(span) != count or chain(span) != s["digest"]:
            problems.append(f"audit events {previous + 1}-{last} differ from the seal in log "
                            f"entry {s.get('index')} ({len(span)} events now, {count} sealed)")
        previous = max(previous, last)
    return problems


def verify(session: Session) -> list[str]:
    """The server's own check (``GET /v1/audit/verify``): the seals read from every leaf of the
    log, every sealed range re-chained."""
    seals = seals_in(json.loads(e.leaf) for e in session.scalars(
        select(LogEntry).order_by(LogEntry.index).execution_options(yield_per=10_000)))
    last = max((int(s["last_id"]) for s in seals), default=0)
    events = [as_mapping(e) for e in session.scalars(
        select(AuditEvent).where(AuditEvent.id <= last).order_by(AuditEvent.id))]
    return check(seals, events)
