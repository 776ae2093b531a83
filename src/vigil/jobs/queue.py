"""The job queue: putting work on it, taking it off, and what becomes of a failed attempt.

A job is written in the caller's transaction — the outbox pattern: it exists exactly when the
change that needs it was committed, and ``vigil worker`` runs it after that commit, never
before.

A worker *claims* a job in a short transaction of its own: on PostgreSQL with ``SELECT ... FOR
UPDATE SKIP LOCKED`` (workers never wait for each other, and no two take the same row); on
SQLite the transaction holds the database's one write lock from its BEGIN, so the select and
the update cannot interleave with another worker's. A claimed job is ``running`` under a lease;
a worker that dies leaves it so until the lease runs out, when another worker takes it again —
tasks must therefore be idempotent. A failed attempt is retried after the task's back-off; after
its last attempt the job is ``dead`` (a dead letter), with its last error, until an
administrator re-queues it (:func:`retry`).
"""

from __future__ import annotations

import json
import traceback
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from vigil.clock import now
from vigil.errors import Conflict, Invalid, NotFound
from vigil.jobs import registry
from vigil.jobs.models import STATES, Job

#: The longest error kept with a job.
ERROR_CHARS = 4000
#: How long a claim holds a job before another worker may take it (long tasks renew it).
LEASE = timedelta(minutes=5)


def enqueue(session: Session, kind: str, payload: dict[str, Any], *,
            run_after: datetime | None = None) -> Job:
    """Add a job of ``kind`` (a registered task's name) with a JSON-serialisable payload, in
    the caller's transaction; it runs once that commits (not before ``run_after``)."""
    if not kind or len(kind) > registry.MAX_KIND:
        raise ValueError(f"a job's kind is 1 to {registry.MAX_KIND} characters: {kind!r}")
    t = now()
    job = Job(kind=kind, payload=json.dumps(payload), status="queued", attempts=0,
              run_after=run_after or t, created_at=t, updated_at=t)
    session.add(job)
    return job


def claim(session: Session, *, long: bool = False, at: datetime | None = None) -> Job | None:
    """Take the next due job of the short queue (or, with ``long``, of the long one) in the
    caller's (short, fresh) transaction: it is ``running`` under a lease when that commits.
    Returns a detached copy, with ``attempts`` counting this one, or None."""
    t = at or now()
    long_kinds = registry.long_kinds()
    kinds = Job.kind.in_(long_kinds) if long else Job.kind.not_in(long_kinds)
    job = session.scalar(
        select(Job).where(kinds, or_(
            (Job.status == "queued") & (Job.run_after <= t),
            (Job.status == "running") & (Job.locked_until < t)))
        .order_by(Job.id).limit(1).with_for_update(skip_locked=True))
    if job is None:
        return None
    # The row is locked (PostgreSQL) or the database is (SQLite); the condition is a second
    # guard, should a session without either ever get here.
    taken = session.execute(
        update(Job).where(Job.id == job.id, Job.status == job.status,
                          Job.attempts == job.attempts)
        .values(status="running", attempts=job.attempts + 1, locked_until=t + LEASE,
                updated_at=t)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.expunge(job)
    job.status, job.attempts, job.locked_until = "running", job.attempts + 1, t + LEASE
    return job


def renew(session: Session, job_id: int, *, at: datetime | None = None) -> None:
    """Extend a running job's lease (a long task, from a thread beside it)."""
    t = at or now()
    session.execute(update(Job).where(Job.id == job_id, Job.status == "running")
                    .values(locked_until=t + LEASE))


def finish(session: Session, job_id: int) -> None:
    """The job ran: ``done``."""
    session.execute(update(Job).where(Job.id == job_id)
                    .values(status="done", locked_until=None, updated_at=now()))


def describe(exc: BaseException) -> str:
    """How a failure is kept (``last_error``): its one-line summary (``ValueError: ...``) first,
    then the end of the traceback — at most :data:`ERROR_CHARS` characters."""
    summary = "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1][:500]
    trace = "".join(traceback.format_exception(exc, limit=5))
    return f"{summary}\n\n{trace[-(ERROR_CHARS - len(summary) - 2):]}"


def error_summary(error: str | None) -> str:
    """The first line of a kept error (what went wrong), at most 200 characters."""
    return (error or "").split("\n", 1)[0][:200]


def fail(session: Session, job: Job, error: str, *, at: datetime | None = None) -> str:
    """Record a failed attempt of ``job`` (as :func:`claim` returned it) with ``error`` (as
    :func:`describe` gives it): queued again after its task's back-off, or ``dead`` after its
    last attempt. Returns the new status."""
    t = at or now()
    try:
        task = registry.task(job.kind)
        max_attempts, delay = task.max_attempts, task.backoff(job.attempts)
    except registry.UnknownTask:  # retried like any task: a newer worker may know it
        max_attempts, delay = registry.MAX_ATTEMPTS, registry.exponential()(job.attempts)
    status = "dead" if job.attempts >= max_attempts else "queued"
    session.execute(update(Job).where(Job.id == job.id).values(
        status=status, last_error=error[:ERROR_CHARS], locked_until=None, updated_at=t,
        run_after=t + delay))
    return status


def retry(session: Session, job_id: int) -> Job:
    """Put a dead job back on the queue with all its attempts, due now. Raises NotFound, or
    Conflict if the job is not dead (a queued or running job is already on its way)."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise NotFound(f"no job {job_id}")
    if job.status != "dead":
        raise Conflict(f"job {job_id} is {job.status}, not dead: only a dead job is re-queued")
    t = now()
    job.status, job.attempts, job.run_after, job.updated_at = "queued", 0, t, t
    return job


def jobs(session: Session, *, state: str | None = None, limit: int = 200) -> list[Job]:
    """Jobs, newest change first; only those in ``state`` (one of ``STATES``) if given.
    Raises Invalid for an unknown state."""
    q = select(Job).order_by(Job.updated_at.desc(), Job.id.desc()).limit(limit)
    if state is not None:
        if state not in STATES:
            raise Invalid(f"unknown job state {state!r}; one of {', '.join(STATES)}")
        q = q.where(Job.status == state)
    return list(session.scalars(q))


def counts(session: Session) -> dict[tuple[str, str], int]:
    """How many jobs there are, by (kind, state)."""
    rows = session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status))
    return {(kind, status): n for kind, status, n in rows}


def prune_done(session: Session, before: datetime) -> int:
    """Delete the jobs finished before ``before``; returns how many."""
    gone = session.execute(delete(Job).where(Job.status == "done", Job.updated_at < before))
    return int(gone.rowcount)  # type: ignore[attr-defined]
