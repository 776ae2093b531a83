"""The jobs page (both databases): the Centre's administrator sees the dead jobs with their
error and re-queues one (recorded in the audit trail); other roles get a 403 page, strangers the
sign-in page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import make_client
from tests.fixtures.workspace import PASSWORD, build_workspace, sign_in
from vigil.audit.models import AuditEvent
from vigil.config import Settings
from vigil.db import transaction
from vigil.jobs import queue, registry
from vigil.jobs.models import Job
from vigil.jobs.registry import JobContext
from vigil.orgs import accounts
from vigil.worker import Worker


def _refused(ctx: JobContext) -> None:
    raise PermissionError("the authority's endpoint answered 403 <script>")


@pytest.fixture(autouse=True)
def task() -> Iterator[None]:
    registry.register("test_refused", _refused, max_attempts=1)
    yield
    registry.unregister("test_refused")


def _dead_job(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as s:
        job = queue.enqueue(s, "test_refused", {})
        s.flush()
        job_id = job.id
    Worker(factory, factory).run_once()
    return job_id


def test_an_administrator_sees_dead_jobs_and_runs_one_again(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    ws = build_workspace(factory, data_dir)
    with transaction(factory) as s:
        accounts.create_account(s, None, ws.world.principals["centre"].organisation_id, "ada",
                                "admin", password=PASSWORD, display_name="Ada")
    job_id = _dead_job(factory)
    with make_client(db_url, data_dir) as client:
        monitoring = TestClient(client.app, client=("127.0.0.1", 50000))
        assert "vigil_jobs_dead 1.0" in monitoring.get("/metrics").text
        r = client.get("/app/jobs", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/app/login")
        sign_in(client, "rita")  # a reviewer: not an administrator
        r = client.get("/app/jobs")
        assert r.status_code == 403 and "may not open this page" in r.text
        assert 'href="/app/jobs"' not in client.get("/app/review").text
        token = sign_in(client, "rita")
        r = client.post(f"/app/jobs/{job_id}/retry", data={"csrf": token})
        assert r.status_code == 403
        token = sign_in(client, "ada")
        page = client.get("/app/jobs").text
        assert 'href="/app/jobs"' in page  # in the menu
        assert "Jobs that gave up (1)" in page
        row = re.search(rf"<tr><td>{job_id}</td>.*?</tr>", page, re.S)
        assert row is not None
        assert "<code>test_refused</code>" in row.group(0) and "<td>1</td>" in row.group(0)
        # The error's first line, escaped; the time it was created and last changed.
        assert "PermissionError: the authority&#39;s endpoint answered 403 &lt;script&gt;" in row.group(0)
        assert len(re.findall(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC", row.group(0))) == 2
        r = client.post(f"/app/jobs/{job_id}/retry", data={"csrf": "forged"})
        assert r.status_code == 403
        r = client.post(f"/app/jobs/{job_id}/retry", data={"csrf": token})
        assert r.status_code == 200 and f"Job {job_id} (test_refused) is queued again." in r.text
        assert "No job has given up." in r.text
        assert "vigil_jobs_dead 0.0" in monitoring.get("/metrics").text
        with factory() as s:
            job = s.get(Job, job_id)
            assert job is not None and (job.status, job.attempts) == ("queued", 0)
            (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "job:retried"))
            assert event.subject == f"job:{job_id}" and event.organisation_id is not None
        # Twice is refused: the job is on its way already.
        r = client.post(f"/app/jobs/{job_id}/retry", data={"csrf": token})
        assert f"job {job_id} is queued, not dead" in r.text
        assert client.post("/app/jobs/999999/retry", data={"csrf": token}).status_code == 404
        assert client.post("/app/jobs/0/retry", data={"csrf": token}).status_code == 422


def test_the_page_shows_when_each_periodic_task_ran(db_url: str, data_dir: Path,
                                                     factory: sessionmaker[Session]) -> None:
    ws = build_workspace(factory, data_dir)
    with transaction(factory) as s:
        accounts.create_account(s, None, ws.world.principals["centre"].organisation_id, "ada",
                                "admin", password=PASSWORD, display_name="Ada")
    Worker(factory, factory, settings=Settings(data_dir=data_dir, environment="test")
           ).run_periodic(only=["jobs:prune"])
    with make_client(db_url, data_dir) as client:
        sign_in(client, "ada")
        page = client.get("/app/jobs").text
    assert "No job has given up." in page
    row = re.search(r"<tr><td><code>jobs:prune</code></td>.*?</tr>", page, re.S)
    assert row is not None and "<td>1</td>" in row.group(0)
    assert len(re.findall(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC", row.group(0))) == 3
