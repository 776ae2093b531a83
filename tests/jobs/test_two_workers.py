"""Several workers, one truth (issue 15), on PostgreSQL: two workers — each with its own engine
and connections, as two ``vigil worker`` processes would have — run for half a minute while
jobs are enqueued and audit events written all the time (by the jobs themselves and by a
stand-in for the API servers). Afterwards the sealed audit trail verifies, every job ran
exactly once, and each periodic task ran at most once per interval (never twice at once)."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.audit import seal
from vigil.audit.events import AuditAction
from vigil.audit.models import AuditEvent
from vigil.audit.service import record
from vigil.clock import now
from vigil.config import Settings
from vigil.db import make_engine, session_factory, transaction
from vigil.indicators import log_audit
from vigil.jobs import periodic, queue, registry
from vigil.jobs.models import Job
from vigil.jobs.registry import JobContext, Services
from vigil.translog.sth import TreeHeadSigner
from vigil.worker import Worker

RUN_SECONDS = 30
BEAT = "test:beat"
BEAT_SECONDS = 1.0
SEAL_SECONDS = 1.0

beats: list[tuple[datetime, datetime]] = []
beats_lock = threading.Lock()


def _job(ctx: JobContext) -> None:
    """A job that writes an audit event in its own transaction and takes a moment, so that
    events are in flight in one worker while the other seals."""
    record(ctx.session, None, AuditAction.REPORT_READ, subject=f"job:{ctx.job_id}")
    ctx.session.flush()
    time.sleep(random.uniform(0, 0.03))


def _beat(services: Services) -> None:
    start = now()
    time.sleep(0.05)
    with beats_lock:
        beats.append((start, now()))


@pytest.fixture
def tasks() -> Iterator[None]:
    beats.clear()
    registry.register("test_two_workers", _job)
    registry.periodic(BEAT, every=BEAT_SECONDS)(_beat)
    yield
    registry.unregister("test_two_workers")
    registry.unregister(BEAT)


@pytest.mark.slow
def test_two_workers_seal_and_run_jobs_once(db_url: str, data_dir: Path, tasks: None) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers share one database in production on PostgreSQL")
    settings = Settings(database_url=db_url, data_dir=data_dir, environment="test",
                        audit_seal_seconds=SEAL_SECONDS, guard_check_seconds=3,
                        takedown_check_seconds=3, retention_seconds=5)
    engines = [make_engine(db_url) for _ in range(4)]
    factories = [session_factory(e) for e in engines]
    stop = threading.Event()
    errors: list[BaseException] = []
    enqueued: list[int] = []
    enqueued_lock = threading.Lock()

    def guarded(fn: object) -> threading.Thread:
        def run() -> None:
            try:
                fn()  # type: ignore[operator]
            except BaseException as exc:  # reported below
                errors.append(exc)
                stop.set()
        return threading.Thread(target=run, daemon=True)

    # The keys exist before the workers start, as ``vigil init`` leaves them.
    TreeHeadSigner.from_file(settings.effective_log_key_path, create=True)
    workers = [Worker(f, f, settings=settings) for f in factories[:2]]

    def work(worker: Worker) -> None:
        while not stop.is_set():
            worker.run_periodic()
            if worker.run_once() == 0:
                time.sleep(0.05)
        worker.run_periodic()
        while worker.run_once():  # what is left when the clients stop
            pass

    def clients(factory: sessionmaker[Session], hold: float, every: int) -> None:
        """The API servers' share: audited requests (some holding their transaction open a
        while after writing the event) and a new job with every ``every``-th."""
        n = 0
        while not stop.is_set():
            with transaction(factory) as s:
                record(s, None, AuditAction.MATCH_QUERIED, subject=f"client:{n}")
                s.flush()
                if n % every == 0:
                    job = queue.enqueue(s, "test_two_workers", {"n": n})
                    s.flush()
                    with enqueued_lock:
                        enqueued.append(job.id)
                time.sleep(random.uniform(0, hold))  # the rest of the request
            n += 1
            time.sleep(random.uniform(0, 0.005))

    threads = [guarded(lambda w=w: work(w)) for w in workers]
    client = [guarded(lambda: clients(factories[2], 0.03, 2)),
              guarded(lambda: clients(factories[3], 0.002, 5))]
    started = now()
    for t in [*threads, *client]:
        t.start()
    stop.wait(RUN_SECONDS)
    stop.set()
    for t in client:
        t.join(30)
    for t in threads:
        t.join(60)
    # A client may commit its last job after the workers drained (it was inside its
    # transaction when told to stop): what is left is run now, once.
    while workers[0].run_once():
        pass
    elapsed = (now() - started).total_seconds()
    try:
        assert not errors, errors
        factory = factories[2]
        # One last seal covers what is left, then the whole trail is checked.
        with transaction(factory) as s:
            seal.seal(s)
        Worker(factory, factory, settings=settings).sign_head()
        with factory() as s:
            assert seal.verify(s) == []
            key = TreeHeadSigner.from_file(settings.effective_log_key_path).public_key
            report = log_audit.verify_database(s, key)
            assert report.ok, report.problems
            assert report.seals >= RUN_SECONDS / SEAL_SECONDS / 4
            # Every job ran, exactly once.
            assert len(enqueued) > 100
            states = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            assert states == {"done": len(enqueued)}, states
            ran = s.execute(select(AuditEvent.subject, func.count())
                            .where(AuditEvent.subject.like("job:%"))
                            .group_by(AuditEvent.subject)).all()
            assert sorted(int(subject[4:]) for subject, _ in ran) == sorted(enqueued)
            assert {n for _, n in ran} == {1}
            # Each periodic task at most once per interval, whatever the number of workers.
            rows = {r.name: r for r in periodic.runs(s)}
        # At least a quarter of the intervals had their run: a shared, loaded machine (load 10
        # on 2 cores) gave 14 of 30; the property tested is "never twice", just below.
        assert rows[BEAT].runs == len(beats) >= RUN_SECONDS / BEAT_SECONDS / 4
        ordered = sorted(beats)
        for (start, end), (next_start, _) in itertools.pairwise(ordered):
            assert next_start >= end, "two runs of one periodic task at once"
            # (claims are an interval apart; the runs start a few milliseconds after them)
            assert next_start - start >= timedelta(seconds=BEAT_SECONDS * 0.8), \
                "twice in one interval"
        for name, every in (("audit:seal", SEAL_SECONDS), ("accountability:flood", 3),
                            ("takedown:notices", 3), ("reports:retention", 5)):
            assert 1 <= rows[name].runs <= elapsed / every + 1, (name, rows[name].runs)
            assert rows[name].last_error is None, rows[name].last_error
    finally:
        for e in engines:
            e.dispose()
