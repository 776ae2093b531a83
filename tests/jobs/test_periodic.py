"""Periodic work runs once per interval across workers (both databases): a second worker finds
the run taken, a run that outlasts its interval is not started twice, a run whose worker died is
taken again after its lease, and a failure is kept for the administrators and the metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.jobs import periodic, registry
from vigil.jobs.metrics import QueueCollector
from vigil.jobs.models import PeriodicRun
from vigil.jobs.registry import Services
from vigil.worker import Worker

ran: list[str] = []
NAME = "test:tick"
BROKEN = "test:broken"


@pytest.fixture(autouse=True)
def tasks() -> Iterator[None]:
    ran.clear()

    @registry.periodic(NAME, every=lambda settings: 60.0, lease=timedelta(minutes=5))
    def tick(services: Services) -> int:
        ran.append(NAME)
        return len(ran)

    @registry.periodic(BROKEN, every=30)
    def broken(services: Services) -> None:
        raise RuntimeError("the relay refused the connection")

    yield
    registry.unregister(NAME)
    registry.unregister(BROKEN)


@pytest.fixture
def workers(factory: sessionmaker[Session], data_dir: Path) -> tuple[Worker, Worker]:
    settings = Settings(data_dir=data_dir, environment="test")
    return Worker(factory, factory, settings=settings), Worker(factory, factory, settings=settings)


def test_each_run_happens_once_whatever_the_number_of_workers(
        workers: tuple[Worker, Worker], factory: sessionmaker[Session]) -> None:
    a, b = workers
    t = now()
    assert a.run_periodic(at=t, only=[NAME]) == {NAME: 1}
    assert b.run_periodic(at=t, only=[NAME]) == {}  # taken: due again in a minute
    assert b.run_periodic(at=t + timedelta(seconds=59), only=[NAME]) == {}
    assert a.run_periodic(at=t + timedelta(seconds=59), only=[NAME]) == {}
    assert b.run_periodic(at=t + timedelta(seconds=60), only=[NAME]) == {NAME: 2}
    assert a.run_periodic(at=t + timedelta(seconds=61), only=[NAME]) == {}
    assert ran == [NAME, NAME]
    with factory() as s:
        (row,) = [r for r in periodic.runs(s) if r.name == NAME]
        assert row.runs == 2 and row.running_until is None and row.last_error is None
        assert row.next_run_at == t + timedelta(seconds=120)


def test_a_run_in_progress_is_not_started_twice_and_a_dead_workers_run_is_taken_again(
        factory: sessionmaker[Session]) -> None:
    t = now()
    lease = timedelta(minutes=5)
    with transaction(factory) as s:
        assert periodic.claim(s, NAME, timedelta(seconds=10), lease, at=t).claimed
    # Its worker is still at it (or died) when the next run is due: no second run ...
    with transaction(factory) as s:
        got = periodic.claim(s, NAME, timedelta(seconds=10), lease, at=t + timedelta(seconds=20))
    assert not got.claimed and got.next_check == t + timedelta(seconds=10) + timedelta(seconds=10)
    # ... until its lease has run out.
    with transaction(factory) as s:
        assert periodic.claim(s, NAME, timedelta(seconds=10), lease,
                              at=t + lease + timedelta(seconds=1)).claimed


def test_a_failed_run_is_kept_for_the_administrators_and_the_metrics(
        workers: tuple[Worker, Worker], factory: sessionmaker[Session]) -> None:
    a, _ = workers
    got = a.run_periodic(only=[BROKEN, NAME])
    assert isinstance(got[BROKEN], RuntimeError) and got[NAME] == 1
    metrics = CollectorRegistry()
    metrics.register(QueueCollector(factory))
    text = generate_latest(metrics).decode()
    assert f'vigil_periodic_last_failed{{task="{BROKEN}"}} 1.0' in text
    assert f'vigil_periodic_last_failed{{task="{NAME}"}} 0.0' in text
    assert f'vigil_periodic_last_started_timestamp_seconds{{task="{NAME}"}}' in text
    with factory() as s:
        (row,) = [r for r in periodic.runs(s) if r.name == BROKEN]
        assert (row.last_error or "").startswith("RuntimeError: the relay refused the connection")
        assert row.running_until is None  # the lease is freed: the next run is on time
    # Due again after its interval: it runs (and fails) again.
    with transaction(factory) as s:
        s.execute(update(PeriodicRun).values(next_run_at=now() - timedelta(seconds=1)))
    a._not_before.clear()
    assert isinstance(a.run_periodic(only=[BROKEN])[BROKEN], RuntimeError)


def test_a_bare_worker_runs_no_periodic_work(factory: sessionmaker[Session]) -> None:
    assert Worker(factory, factory).run_periodic() == {}
    with factory() as s:
        assert periodic.runs(s) == []


def test_a_periodic_task_must_have_a_name_and_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="1 to 64 characters"):
        registry.periodic("", every=1)
    with pytest.raises(ValueError, match="interval must be positive"):
        registry.periodic("test:never", every=0)


def test_worker_once_runs_the_periodic_work_that_is_due(tmp_path: Path) -> None:
    """``vigil worker --once`` (cron, or a check after an upgrade) runs what is due; run again
    at once, it finds nothing due: the schedule is in the database, not in the process."""
    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path / "data")}
    env.pop("VIGIL_DATABASE_URL", None)

    def once() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vigil", "worker", "--once"],
                              capture_output=True, text=True, timeout=120, env=env, check=False)

    refused = once()  # nothing to work for before `vigil init`
    assert refused.returncode == 2 and "run `vigil init" in refused.stderr, refused.stderr
    init = subprocess.run([sys.executable, "-m", "vigil", "init", "--centre", "C", "--admin",
                           "chief"], capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    assert init.returncode == 0, init.stderr
    first = once()
    assert first.returncode == 0, first.stderr
    assert ("ran 0 job(s); periodic work: accountability:flood, accountability:usage, "
            "audit:seal, federation:pull, jobs:prune, reports:retention, takedown:notices") in first.stderr
    second = once()
    assert second.returncode == 0 and "periodic work: none due" in second.stderr, second.stderr
