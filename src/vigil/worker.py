"""``vigil worker``: takes jobs from the database and runs them.

A job is claimed by an UPDATE that only succeeds for one worker (status queued → running), so
several workers can share a queue on PostgreSQL or SQLite. A job that raises is retried with
back-off, up to ``MAX_ATTEMPTS``, then marked failed with its error; a worker that dies leaves
its job ``running`` until ``locked_until`` passes, when another worker takes it again. Jobs must
therefore be idempotent (assessment checks the report's status first).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import traceback
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from vigil.accountability import flood, usage
from vigil.audit.seal import seal
from vigil.clock import now
from vigil.config import Settings
from vigil.db import reseal_plaintext, transaction
from vigil.indicators.matcher import LiveMatcher
from vigil.jobs.models import Job
from vigil.jobs.queue import enqueue
from vigil.orgs.models import Organisation
from vigil.reports.assessment import assess
from vigil.reports.handoff import Handoff, Notice, NullHandoff
from vigil.reports.retention import RetentionResult, apply_retention, sweep_orphans
from vigil.reports.storage import FileStore, load_file_key
from vigil.reports.tasks import REENCRYPT, reencrypt_files
from vigil.takedown.notify import Notifier
from vigil.takedown.tasks import check_notices, crawl_job, notifier_for
from vigil.translog.repository import TreeCache, signed_head
from vigil.translog.sth import TreeHeadSigner
from vigil.webhooks import WebhookSender

log = logging.getLogger("vigil.worker")
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)


#: Jobs that manage their own transactions (and may run for a long time).
LONG_JOBS = frozenset({"crawl"})


class Worker:
    def __init__(self, factory: sessionmaker[Session], read_factory: sessionmaker[Session],
                 handoff: Handoff | None = None, settings: Settings | None = None,
                 store: FileStore | None = None) -> None:
        self.factory = factory
        self.read_factory = read_factory
        self.handoff = handoff or NullHandoff()
        self.matcher = LiveMatcher()
        self.settings = settings
        self.store = store
        self._last_retention = 0.0
        self._signer: TreeHeadSigner | None = None
        self._tree = TreeCache()
        self._last_takedown = 0.0
        #: How takedown notices are sent (None: e-mail and webhooks from the settings).
        self.notifier: Notifier | None = None
        self._file_key = b""
        if settings is not None:
            self._file_key = load_file_key(settings)

    @property
    def subject_key(self) -> bytes:
        """A key of its own purpose, derived from the current file key (after a rotation, the
        new one: :mod:`vigil.reports.tasks` keys the stored digests again)."""
        key = self.store.ring.current if self.store is not None else self._file_key
        if not key:
            return b""
        return hashlib.sha256(b"vigil-subject-key-v1" + key).digest()

    def retention(self) -> RetentionResult | None:
        """Apply the retention periods (needs settings and the file store)."""
        if self.settings is None or self.store is None:
            return None
        with transaction(self.factory) as s:
            result = apply_retention(s, self.settings, self.store)
        with transaction(self.factory) as s:
            result.orphans_deleted = sweep_orphans(s, self.store)
        with transaction(self.factory) as s:
            result.personal_sealed = reseal_plaintext(s)
        self._last_retention = time.monotonic()
        return result

    def _claim(self, long: bool = False) -> Job | None:
        """The next due job of the short queue (or, with ``long``, of the long one)."""
        kinds = Job.kind.in_(LONG_JOBS) if long else Job.kind.not_in(LONG_JOBS)
        with transaction(self.factory) as s:
            t = now()
            candidate = s.scalar(
                select(Job).where(kinds, or_(
                    (Job.status == "queued") & (Job.run_after <= t),
                    (Job.status == "running") & (Job.locked_until < t)))
                .order_by(Job.id).limit(1))
            if candidate is None:
                return None
            claimed = s.execute(
                update(Job).where(Job.id == candidate.id, Job.status == candidate.status,
                                  Job.attempts == candidate.attempts)
                .values(status="running", attempts=candidate.attempts + 1,
                        locked_until=t + LEASE))
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None  # another worker got it first
            s.expunge(candidate)
            candidate.attempts += 1
            return candidate

    def run_once(self) -> int:
        """Run every short job that is due (assessments, hand-offs, webhooks); returns how
        many ran. Long jobs (crawls) have a queue of their own (:meth:`run_long_once`): an
        hour-long crawl never holds an urgent report unassessed."""
        self.matcher.sync(self.read_factory)
        ran = 0
        while (job := self._claim()) is not None:
            ran += 1
            try:
                with transaction(self.factory) as s:
                    self._run(s, job)
                    s.execute(update(Job).where(Job.id == job.id)
                              .values(status="done", locked_until=None))
            except Exception:
                self._failed(job)
        return ran

    def run_long_once(self) -> int:
        """Run the long jobs that are due, one after the other; returns how many ran."""
        ran = 0
        while (job := self._claim(long=True)) is not None:
            ran += 1
            try:
                # Long jobs write in transactions of their own as they go (a crawl's
                # frontier): they must not run inside the job's transaction.
                self._run_long(job)
                with transaction(self.factory) as s:
                    s.execute(update(Job).where(Job.id == job.id)
                              .values(status="done", locked_until=None))
            except Exception:
                self._failed(job)
        return ran

    def _failed(self, job: Job) -> None:
        error = traceback.format_exc(limit=5)
        log.exception("job %s (%s) failed", job.id, job.kind)
        with transaction(self.factory) as s:
            failed = job.attempts >= MAX_ATTEMPTS
            s.execute(update(Job).where(Job.id == job.id).values(
                status="failed" if failed else "queued", last_error=error[-4000:],
                locked_until=None, run_after=now() + timedelta(seconds=2 ** job.attempts)))

    def _run(self, session: Session, job: Job) -> None:
        payload = json.loads(job.payload)
        if job.kind == "assess_report":
            assess(session, int(payload["report_id"]), self.matcher, self.handoff,
                   self.subject_key)
        elif job.kind == "deliver_notice":
            self.handoff.deliver(Notice(**payload))
        elif job.kind == "notify_providers":
            self._notify_providers(session, payload)
        elif job.kind == "notify_provider":
            self._notify_provider(session, payload)
        elif job.kind == REENCRYPT and self.store is not None:
            reencrypt_files(session, self.store, payload, self.subject_key)
        else:
            raise ValueError(f"unknown job kind {job.kind!r}")

    def _post(self, name: str, url: str, payload: dict[str, Any]) -> None:
        """One signed webhook through the one sender; a failure raises, and the job is
        retried."""
        assert self.settings is not None
        secret = self.settings.provider_webhook_secrets.get(name) or self.settings.webhook_secret
        WebhookSender(self.settings.egress()).send(url, payload, secret or "")
        log.info("notified %s of %s", name, payload.get("event"))

    def _notify_providers(self, session: Session, payload: dict[str, Any]) -> None:
        """Every provider that set a webhook (VIGIL_PROVIDER_WEBHOOKS) hears of a list event:
        one job each, so that one failing receiver is retried alone."""
        if self.settings is None:
            return
        for name in sorted(self.settings.provider_webhooks):
            enqueue(session, "notify_provider", {"provider": name, "payload": payload})

    def _notify_provider(self, session: Session, payload: dict[str, Any]) -> None:
        """One provider hears of an event: a list event (by name), or one about its own report
        (by organisation: e.g. an authority's request to delay the user's notification, which it
        also reads in its view of the report)."""
        if self.settings is None:
            return
        name = payload.get("provider") or session.scalar(select(Organisation.name).where(
            Organisation.id == int(payload["provider_org"])))
        url = self.settings.provider_webhooks.get(name or "")
        if url:
            self._post(name or "", url, payload["payload"])

    def _run_long(self, job: Job) -> None:
        # The lease is renewed while the job runs, so no second worker starts it again; if
        # this process dies, the lease runs out within LEASE and another worker resumes it.
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(LEASE.total_seconds() / 3):
                with transaction(self.factory) as s:
                    s.execute(update(Job).where(Job.id == job.id, Job.status == "running")
                              .values(locked_until=now() + LEASE))

        beat = threading.Thread(target=renew, name=f"vigil-lease-{job.id}", daemon=True)
        beat.start()
        try:
            self._run_long_job(job)
        finally:
            stop.set()
            beat.join()

    def _run_long_job(self, job: Job) -> None:
        payload = json.loads(job.payload)
        if job.kind == "crawl":
            if self.settings is None:
                raise ValueError("a crawl job needs the worker's settings")
            crawl_job(self.factory, self.read_factory, self.settings, int(payload["crawl_id"]),
                      workers=int(payload.get("workers", 2)))
        else:
            raise ValueError(f"unknown job kind {job.kind!r}")

    def takedown(self) -> int:
        """Process the takedown notices that are due; returns how many."""
        if self.settings is None:
            return 0
        self._last_takedown = time.monotonic()
        if self.notifier is None:
            self.notifier = notifier_for(self.settings)
        self.seal_audit()
        self.flood_check()
        self.usage_check()
        self.matcher.sync(self.read_factory)
        return len(check_notices(self.factory, self.settings, self.notifier, matcher=self.matcher))

    def usage_check(self) -> int:
        if self.settings is None:
            return 0
        with transaction(self.factory) as s:
            return len(usage.check(s, factor=self.settings.unusual_use_factor,
                             min_events=self.settings.unusual_use_min_events))

    def flood_check(self) -> list[int]:
        if self.settings is None:
            return []
        with transaction(self.factory) as s:
            return flood.check(s, factor=self.settings.flood_factor, min_hits=self.settings.flood_min_hits)

    def seal_audit(self) -> dict[str, object] | None:
        """Seal the audit events of the last while into the transparency log, then sign a
        tree head: an entry is tamper-evident only once a signed head covers it, and heads
        must not wait for someone to ask for one."""
        with transaction(self.factory) as s:
            leaf = seal(s)
        self.sign_head()
        return leaf

    def sign_head(self) -> int | None:
        """Sign (and store) a head for the log as it is now; returns its size."""
        if self.settings is None:
            return None
        if self._signer is None:
            self._signer = TreeHeadSigner.from_file(self.settings.effective_log_key_path,
                                                    create=True)
        with transaction(self.factory) as s:
            return signed_head(s, self._tree, self._signer).size

    def run_forever(self, interval: float = 0.5, retention_every: float = 3600.0,
                    queues: tuple[str, ...] = ("short", "long")) -> None:
        """Serve the queues until stopped: long jobs on a thread of their own, so that the
        short queue and the periodic work never wait for them."""
        if "long" in queues:
            def long_loop() -> None:
                while True:
                    if self.run_long_once() == 0:
                        time.sleep(interval)

            threading.Thread(target=long_loop, name="vigil-long-jobs", daemon=True).start()
        if "short" not in queues:
            threading.Event().wait()
        while True:
            if time.monotonic() - self._last_retention > retention_every:
                self.retention()
            if self.settings is not None and \
                    time.monotonic() - self._last_takedown > self.settings.takedown_check_seconds:
                self.takedown()
            if self.run_once() == 0:
                time.sleep(interval)
