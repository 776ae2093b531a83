"""Periodic work, once across any number of workers.

Every worker keeps the same timers, but a run happens only where a worker *claims* it: the
task's row in ``periodic_runs`` is read with ``SELECT ... FOR UPDATE SKIP LOCKED`` (on SQLite
the transaction holds the one write lock from its BEGIN), and only if the run is due and no
other run holds its lease is it moved on by one interval and leased to this worker — in one
short transaction, committed before the work starts. A second worker then finds the next run
not yet due, so each task runs once per interval whatever the number of workers; a run that
outlasts its interval is not started twice (the lease), and a run whose worker died is taken
again when its lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigil.clock import now
from vigil.jobs.models import PeriodicRun

#: When a claim finds the row locked by another worker, look again this much later.
BUSY_RETRY = timedelta(seconds=1)


@dataclass(frozen=True)
class Claim:
    """Whether this worker got the run, and when it is worth asking again."""

    claimed: bool
    next_check: datetime


def claim(session: Session, name: str, interval: timedelta, lease: timedelta, *,
          at: datetime | None = None) -> Claim:
    """Claim the run of periodic task ``name`` if it is due, in the caller's (short, fresh)
    transaction, which must commit before the work starts."""
    t = at or now()
    if session.scalar(select(PeriodicRun.name).where(PeriodicRun.name == name)) is None:
        _create(session, name, t)
    row = session.scalar(select(PeriodicRun).where(PeriodicRun.name == name)
                         .with_for_update(skip_locked=True))
    if row is None:  # another worker is claiming it at this moment
        return Claim(False, t + BUSY_RETRY)
    if row.running_until is not None and row.running_until > t:
        return Claim(False, min(max(row.next_run_at, t), row.running_until))
    if row.next_run_at > t:
        return Claim(False, row.next_run_at)
    row.next_run_at = t + interval
    row.running_until = t + lease
    row.last_started_at = t
    row.runs = (row.runs or 0) + 1
    return Claim(True, row.next_run_at)


def _create(session: Session, name: str, t: datetime) -> None:
    """The task's row, due now; two workers creating it at once make one."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(PeriodicRun).values(name=name, next_run_at=t, runs=0)
                    .on_conflict_do_nothing(index_elements=["name"]))


def renew(session: Session, name: str, lease: timedelta, *, at: datetime | None = None) -> None:
    """Extend the lease of a run in progress."""
    session.execute(update(PeriodicRun).where(PeriodicRun.name == name,
                                              PeriodicRun.running_until.is_not(None))
                    .values(running_until=(at or now()) + lease))


def finish(session: Session, name: str, error: str | None = None, *,
           at: datetime | None = None) -> None:
    """The run ended (with ``error``, a short traceback, if it failed): the lease is freed."""
    session.execute(update(PeriodicRun).where(PeriodicRun.name == name).values(
        running_until=None, last_finished_at=at or now(),
        last_error=error[:4000] if error else None))


def runs(session: Session) -> list[PeriodicRun]:
    """Every periodic task's row, by name."""
    return list(session.scalars(select(PeriodicRun).order_by(PeriodicRun.name)))
