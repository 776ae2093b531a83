"""The queue's metrics, read from the database when ``/metrics`` is scraped.

Workers serve no HTTP, and any number of them share one queue: the truth is the table, so the
server reads it at scrape time instead of each process counting what it saw.

* ``vigil_jobs{kind,state}`` — jobs by kind and state (queued, running, done, dead);
* ``vigil_jobs_dead`` — dead letters waiting for an administrator (alert when above 0);
* ``vigil_periodic_last_started_timestamp_seconds{task}`` and
  ``vigil_periodic_last_failed{task}`` — when each periodic task last started, and whether its
  last run failed (alert when a seal has not run for a few intervals).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from vigil.jobs import periodic, queue
from vigil.jobs.models import STATES


class QueueCollector(Collector):
    """Register on a ``CollectorRegistry``; ``read_factory`` gives read-only sessions."""

    def __init__(self, read_factory: sessionmaker[Session]) -> None:
        self.read_factory = read_factory

    def collect(self) -> Iterator[Metric]:
        with self.read_factory() as s:
            counts = queue.counts(s)
            runs = periodic.runs(s)
        jobs = GaugeMetricFamily("vigil_jobs", "Jobs in the queue, by kind and state",
                                 labels=["kind", "state"])
        for kind in sorted({k for k, _ in counts}):
            for state in STATES:
                jobs.add_metric([kind, state], counts.get((kind, state), 0))
        yield jobs
        yield GaugeMetricFamily("vigil_jobs_dead", "Jobs that gave up after their last attempt "
                                "(dead letters), waiting for an administrator",
                                value=sum(n for (_, state), n in counts.items() if state == "dead"))
        started = GaugeMetricFamily("vigil_periodic_last_started_timestamp_seconds",
                                    "When each periodic task last started (Unix time)",
                                    labels=["task"])
        failed = GaugeMetricFamily("vigil_periodic_last_failed",
                                   "1 if the periodic task's last run failed", labels=["task"])
        for run in runs:
            if run.last_started_at is not None:
                started.add_metric([run.name], run.last_started_at.timestamp())
            failed.add_metric([run.name], 1 if run.last_error else 0)
        yield started
        yield failed
