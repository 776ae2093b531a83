"""``vigil worker``: the loop that claims jobs and runs periodic work, through the task registry.

It knows no task by name: each domain registers its own in its ``tasks.py`` (imported below),
and the worker dispatches through :mod:`vigil.jobs.registry`. Any number of workers, on any
number of hosts, share one database: a job is claimed by one of them (:mod:`vigil.jobs.queue`),
and each periodic task runs once per interval across all of them (:mod:`vigil.jobs.periodic`).
A failed attempt is retried after its task's back-off; after its last one the job is dead,
listed for the Centre's administrators until one re-queues it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

# Each domain's tasks register themselves when their module is imported.
from vigil.accountability import tasks as accountability_tasks
from vigil.audit import tasks as audit_tasks
from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.federation import tasks as federation_tasks
from vigil.indicators.matcher import LiveMatcher
from vigil.jobs import periodic, queue, registry
from vigil.jobs import tasks as jobs_tasks
from vigil.jobs.models import Job
from vigil.jobs.registry import JobContext, Services
from vigil.orgs import tasks as orgs_tasks
from vigil.reports import tasks as reports_tasks
from vigil.reports.handoff import Handoff, NullHandoff
from vigil.reports.retention import RetentionResult
from vigil.reports.storage import FileStore, load_file_key
from vigil.takedown import tasks as takedown_tasks
from vigil.takedown.referrals import tasks as referral_tasks
from vigil.translog.repository import TreeCache

log = logging.getLogger("vigil.worker")

#: The modules whose tasks this worker runs.
TASK_MODULES = (accountability_tasks, audit_tasks, federation_tasks, jobs_tasks, orgs_tasks,
                reports_tasks, takedown_tasks, referral_tasks)


class Worker:
    """One worker process's loop. ``factory`` writes, ``read_factory`` only reads; ``handoff``
    delivers reports to authorities (default: nowhere); without ``settings`` (tests) it runs
    jobs but no periodic work; ``store`` is the evidence store retention needs."""

    def __init__(self, factory: sessionmaker[Session], read_factory: sessionmaker[Session],
                 handoff: Handoff | None = None, settings: Settings | None = None,
                 store: FileStore | None = None) -> None:
        self.services = Services(factory, read_factory, handoff or NullHandoff(), LiveMatcher(),
                                 TreeCache(), settings=settings, store=store,
                                 file_key=b"" if settings is None else load_file_key(settings))
        #: Per periodic task: no need to ask the database before this time.
        self._not_before: dict[str, datetime] = {}

    # -- jobs --------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Run every short job that is due (assessments, hand-offs, webhooks); returns how
        many ran. Long jobs (crawls) have a queue of their own (:meth:`run_long_once`): an
        hour-long crawl never holds an urgent report unassessed."""
        self.services.matcher.sync(self.services.read_factory)
        ran = 0
        while (job := self._claim(long=False)) is not None:
            ran += 1
            self._run(job)
        return ran

    def run_long_once(self) -> int:
        """Run the long jobs that are due, one after the other; returns how many ran."""
        ran = 0
        while (job := self._claim(long=True)) is not None:
            ran += 1
            self._run(job)
        return ran

    def _claim(self, *, long: bool) -> Job | None:
        with transaction(self.services.factory) as s:
            return queue.claim(s, long=long)

    def _run(self, job: Job) -> None:
        factory = self.services.factory
        try:
            task = registry.task(job.kind)
            payload = json.loads(job.payload)
            if task.long:
                # Long tasks write in transactions of their own as they go (a crawl's
                # frontier); the lease is renewed while they run, so no second worker starts
                # them again, and if this process dies another resumes within the lease.
                with _renewing(lambda s: queue.renew(s, job.id), factory,
                               lambda: queue.LEASE, f"vigil-lease-{job.id}"):
                    task.run(JobContext(self.services, job.id, job.kind, payload, job.attempts))
                with transaction(factory) as s:
                    queue.finish(s, job.id)
            else:
                with transaction(factory) as s:
                    task.run(JobContext(self.services, job.id, job.kind, payload, job.attempts,
                                        _session=s))
                    queue.finish(s, job.id)
        except Exception as exc:
            with transaction(factory) as s:
                status = queue.fail(s, job, queue.describe(exc))
            log.exception("job %s (%s), attempt %d, failed%s", job.id, job.kind, job.attempts,
                          ": dead after its last attempt" if status == "dead" else "")

    # -- periodic work -------------------------------------------------------------------------

    def run_periodic(self, at: datetime | None = None,
                     only: Collection[str] | None = None) -> dict[str, object]:
        """Run each periodic task (of ``only``, if given) that is due and that no other worker
        runs; returns what each that ran here gave (an exception, if it failed). Nothing
        without settings."""
        settings = self.services.settings
        if settings is None:
            return {}
        done: dict[str, object] = {}
        for task in registry.periodic_tasks():
            if only is not None and task.name not in only:
                continue
            t = at or now()
            if self._not_before.get(task.name, t) > t:
                continue
            interval = timedelta(seconds=task.interval(settings))
            with transaction(self.services.factory) as s:
                claim = periodic.claim(s, task.name, interval, task.lease, at=t)
            self._not_before[task.name] = claim.next_check
            if claim.claimed:
                done[task.name] = self._run_periodic(task)
        return done

    def _run_periodic(self, task: registry.PeriodicTask) -> object:
        error = None
        result: object = None
        try:
            with _renewing(lambda s: periodic.renew(s, task.name, task.lease),
                           self.services.factory, lambda: task.lease, f"vigil-{task.name}"):
                result = task.run(self.services)
            log.info("%s: %s", task.name, result)
        except Exception as exc:
            error, result = queue.describe(exc), exc
            log.exception("periodic task %s failed", task.name)
        with transaction(self.services.factory) as s:
            periodic.finish(s, task.name, error)
        return result

    def retention(self) -> RetentionResult | None:
        """Apply the retention periods now (needs settings and the file store)."""
        return reports_tasks.retention(self.services)

    def sign_head(self) -> int | None:
        """Sign (and store) a head for the log as it is now; returns its size."""
        return audit_tasks.sign_head(self.services)

    # -- the loop --------------------------------------------------------------------------------

    def run_forever(self, interval: float = 0.5,
                    queues: tuple[str, ...] = ("short", "long")) -> None:
        """Serve the queues until stopped: long jobs on a thread of their own, so that the
        short queue and the periodic work never wait for them."""
        if "long" in queues:
            def long_loop() -> None:
                while True:
                    try:
                        if self.run_long_once() == 0:
                            time.sleep(interval)
                    except Exception:
                        log.exception("worker loop (long jobs)")
                        time.sleep(max(interval, 5.0))

            threading.Thread(target=long_loop, name="vigil-long-jobs", daemon=True).start()
        if "short" not in queues:
            threading.Event().wait()
        while True:
            try:
                self.run_periodic()
                if self.run_once() == 0:
                    time.sleep(interval)
            except Exception:  # the database away for a moment: try again, do not die
                log.exception("worker loop")
                time.sleep(max(interval, 5.0))


@contextmanager
def _renewing(renew: Callable[[Session], None], factory: sessionmaker[Session],
              lease: Callable[[], timedelta], name: str) -> Iterator[None]:
    """Renew a lease (``renew`` in a transaction) every third of it while the body runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease().total_seconds() / 3):
            try:
                with transaction(factory) as s:
                    renew(s)
            except Exception:  # the next beat tries again; the lease is long enough for two
                log.exception("renewing %s failed", name)

    thread = threading.Thread(target=beat, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
