"""The job queue and the periodic-work schedule, both kept in the database: every worker of
every host reads the same rows, so the database decides who runs what (see ``queue.py`` and
``periodic.py``)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")

#: A job's states: waiting (or waiting to be retried), taken by a worker, finished, or given up
#: after its task's last attempt (the dead letters, listed for the Centre's administrators).
STATES = ("queued", "running", "done", "dead")


class Job(Base):
    """Background work, taken by ``vigil worker`` from the database; enqueued in the same
    transaction as the change that needs it, so it exists exactly when that change does."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    #: The task's name in the registry (``jobs/registry.py``).
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # one of STATES
    #: Attempts so far (a claim counts one).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime())
    #: While running: the worker's lease; a job whose lease ran out is taken again.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last attempt's error (a short traceback), kept after a retry for the record.
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PeriodicRun(Base):
    """One row per periodic task (the audit seal, retention, the guards, notice re-checks): the
    lock that lets one worker, of any number, run it once per interval."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: When the next run is due; a worker that claims the run moves it one interval on.
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: While a run is going on: its lease (renewed as it runs); a run whose worker died is
    #: taken again once this has passed.
    running_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: How many runs were started, in all.
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
