"""The job queue (both databases): the worker dispatches through the registry, a failed
attempt waits its task's back-off, the last one leaves a dead letter with its error, which an
administrator re-queues from the command line (recorded in the audit trail), and the metrics
count it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from vigil.audit.models import AuditEvent
from vigil.cli import app as cli
from vigil.clock import now
from vigil.db import transaction
from vigil.jobs import queue, registry
from vigil.jobs.metrics import QueueCollector
from vigil.jobs.models import Job
from vigil.jobs.registry import JobContext
from vigil.worker import Worker

runs: list[tuple[str, int]] = []


def _flaky(ctx: JobContext) -> None:
    runs.append(("flaky", ctx.attempt))
    if ctx.attempt < int(ctx.payload["succeed_at"]):
        raise ValueError(f"receiver unavailable (attempt {ctx.attempt})")


def _doomed(ctx: JobContext) -> None:
    runs.append(("doomed", ctx.attempt))
    raise ConnectionError("no route to the authority's endpoint")


@pytest.fixture(autouse=True)
def tasks() -> Iterator[None]:
    runs.clear()
    registry.register("test_flaky", _flaky, max_attempts=4,
                      backoff=registry.exponential(first=10, factor=3))
    registry.register("test_doomed", _doomed, max_attempts=2)
    yield
    registry.unregister("test_flaky")
    registry.unregister("test_doomed")


def _enqueue(factory: sessionmaker[Session], kind: str, payload: dict[str, object]) -> int:
    with transaction(factory) as s:
        job = queue.enqueue(s, kind, payload)
        s.flush()
        return job.id


def _job(factory: sessionmaker[Session], job_id: int) -> Job:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def _due_now(factory: sessionmaker[Session]) -> None:
    """Skip the back-off wait."""
    with transaction(factory) as s:
        s.execute(update(Job).where(Job.status == "queued")
                  .values(run_after=now() - timedelta(seconds=1)))


def test_a_failed_attempt_waits_its_tasks_back_off_then_succeeds(
        factory: sessionmaker[Session]) -> None:
    job_id = _enqueue(factory, "test_flaky", {"succeed_at": 3})
    worker = Worker(factory, factory)
    waits = []
    for attempt in (1, 2):
        before = now()
        assert worker.run_once() == 1
        job = _job(factory, job_id)
        assert (job.status, job.attempts) == ("queued", attempt)
        assert job.last_error is not None and job.last_error.startswith(
            f"ValueError: receiver unavailable (attempt {attempt})")
        waits.append(round((job.run_after - before).total_seconds()))
        assert worker.run_once() == 0  # not due before its back-off
        _due_now(factory)
    assert waits == [10, 30]  # the task's own back-off: 10 s, then 3 times that
    assert worker.run_once() == 1
    assert _job(factory, job_id).status == "done"
    assert runs == [("flaky", 1), ("flaky", 2), ("flaky", 3)]


def test_after_its_last_attempt_a_job_is_dead_with_its_error(factory: sessionmaker[Session]) -> None:
    job_id = _enqueue(factory, "test_doomed", {})
    worker = Worker(factory, factory)
    worker.run_once()
    _due_now(factory)
    worker.run_once()
    job = _job(factory, job_id)
    assert (job.status, job.attempts) == ("dead", 2)
    assert queue.error_summary(job.last_error) == \
        "ConnectionError: no route to the authority's endpoint"
    assert "Traceback" in (job.last_error or "")  # the trace follows the summary
    _due_now(factory)
    assert worker.run_once() == 0  # a dead job is never taken again by itself
    assert runs == [("doomed", 1), ("doomed", 2)]


def test_a_job_of_a_kind_nobody_registered_fails_like_any_other(
        factory: sessionmaker[Session]) -> None:
    job_id = _enqueue(factory, "no_such_task", {})
    Worker(factory, factory).run_once()
    job = _job(factory, job_id)
    assert job.status == "queued" and job.attempts == 1
    assert queue.error_summary(job.last_error) == \
        "vigil.jobs.registry.UnknownTask: unknown job kind 'no_such_task' (no module registered it)"


def test_the_registry_refuses_a_second_owner_and_bad_settings() -> None:
    def other(ctx: JobContext) -> None: ...

    with pytest.raises(ValueError, match=r"already registered by tests\.jobs\.test_queue\._flaky"):
        registry.register("test_flaky", other)
    with pytest.raises(ValueError, match="1 to 32 characters"):
        registry.register("x" * 33, other)
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        registry.register("test_other", other, max_attempts=0)
    with pytest.raises(ValueError, match="back-off needs"):
        registry.exponential(first=-1)
    assert "assess_report" in registry.kinds() and "crawl" in registry.long_kinds()
    assert {t.name for t in registry.periodic_tasks()} >= {
        "audit:seal", "reports:retention", "accountability:flood", "accountability:usage",
        "takedown:notices", "jobs:prune", "federation:pull"}
    assert registry.exponential()(1) == timedelta(seconds=2)
    assert registry.exponential()(30) == timedelta(hours=1)  # capped


def test_dead_jobs_are_counted_for_monitoring(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        queue.enqueue(s, "test_doomed", {})
        queue.enqueue(s, "test_flaky", {"succeed_at": 1})
    worker = Worker(factory, factory)
    worker.run_once()
    _due_now(factory)
    worker.run_once()
    metrics = CollectorRegistry()
    metrics.register(QueueCollector(factory))
    text = generate_latest(metrics).decode()
    assert "vigil_jobs_dead 1.0" in text
    assert 'vigil_jobs{kind="test_doomed",state="dead"} 1.0' in text
    assert 'vigil_jobs{kind="test_flaky",state="done"} 1.0' in text
    assert 'vigil_jobs{kind="test_flaky",state="queued"} 0.0' in text


@pytest.fixture
def cli_env(db_url: str, data_dir: Path, factory: sessionmaker[Session],
            monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The command line on an initialised instance (its Centre made, as `vigil init` does)."""
    from vigil.db import transaction
    from vigil.orgs import service as orgs
    from vigil.orgs.access import OrgKind

    with transaction(factory) as s:
        orgs.create_organisation(s, None, "Centre", OrgKind.CENTRE)
    monkeypatch.setenv("VIGIL_DATABASE_URL", db_url)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(data_dir))
    return CliRunner()


def test_an_operator_lists_dead_jobs_and_retries_one_from_the_command_line(
        factory: sessionmaker[Session], cli_env: CliRunner) -> None:
    job_id = _enqueue(factory, "test_doomed", {})
    done_id = _enqueue(factory, "test_flaky", {"succeed_at": 1})
    worker = Worker(factory, factory)
    worker.run_once()
    _due_now(factory)
    worker.run_once()
    got = cli_env.invoke(cli, ["jobs", "list", "--state", "dead"])
    assert got.exit_code == 0, got.output
    (line,) = got.stdout.splitlines()
    assert line.startswith(f"{job_id}\ttest_doomed\tdead\t2\t")
    assert line.endswith("ConnectionError: no route to the authority's endpoint")
    assert str(done_id) in cli_env.invoke(cli, ["jobs", "list"]).stdout
    got = cli_env.invoke(cli, ["jobs", "retry", str(job_id)])
    assert got.exit_code == 0 and f"job {job_id} (test_doomed) is queued again" in got.output
    job = _job(factory, job_id)
    assert (job.status, job.attempts) == ("queued", 0)
    with factory() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "job:retried"))
        assert event.subject == f"job:{job_id}" and '"by": "command line"' in event.details
    # Every attempt again, then dead again.
    worker.run_once()
    _due_now(factory)
    worker.run_once()
    assert _job(factory, job_id).status == "dead"
    assert runs.count(("doomed", 1)) == 2


def test_the_command_line_refuses_what_it_cannot_retry(factory: sessionmaker[Session],
                                                       cli_env: CliRunner) -> None:
    job_id = _enqueue(factory, "test_flaky", {"succeed_at": 1})
    got = cli_env.invoke(cli, ["jobs", "retry", str(job_id)])
    assert got.exit_code == 2 and f"job {job_id} is queued, not dead" in got.output
    got = cli_env.invoke(cli, ["jobs", "retry", "999999"])
    assert got.exit_code == 2 and "no job 999999" in got.output
    got = cli_env.invoke(cli, ["jobs", "retry", "x"])
    assert got.exit_code == 2 and "Invalid value for 'job_id'" in got.output
    got = cli_env.invoke(cli, ["jobs", "list", "--state", "failed"])
    assert got.exit_code == 2 and "unknown job state 'failed'" in got.output
    assert _job(factory, job_id).status == "queued"  # nothing changed
    with factory() as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "job:retried")).all() == []
