"""Background work of the reports flow, registered with the job registry: assessing a report
once it is filed, delivering a hand-off to an authority, (periodically) the retention periods,
and re-encrypting evidence after a file-key rotation.

``vigil keys rotate --file-key`` (or ``vigil keys reencrypt``) enqueues one
``reencrypt_files`` job; each run does one bounded batch in one transaction and enqueues the
next, so the work is resumable (a stopped worker leaves the rest for the next) and idempotent
(a file already on the current key is not touched again). Three stages:

1. ``files``: every stored file not on the current key is decrypted and written again, under a
   new storage key, with the current key; the old ciphertext is deleted once the row points to
   the new one (never before: a crash leaves an orphan that the retention sweep removes, never
   a row without its file);
2. ``personal``: personal-data columns sealed with a previous key are sealed again
   (:func:`vigil.db.reseal_plaintext`);
3. ``subjects``: reported users' digests are keyed with the current key again, so that
   reports before and after the rotation are still linked by user.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, event, func, or_, select
from sqlalchemy.orm import Session

from vigil.db import column_key_from, column_key_id, reseal_plaintext, sealed_with, transaction
from vigil.jobs.models import Job
from vigil.jobs.queue import enqueue
from vigil.jobs.registry import JobContext, Services, periodic, register
from vigil.reports.assessment import assess, subject_digests
from vigil.reports.handoff import Notice
from vigil.reports.models import Report, ReportFile, ReportSubject
from vigil.reports.retention import RetentionResult, apply_retention, sweep_orphans
from vigil.reports.service import aad
from vigil.reports.storage import FileKeys, FileStore, StorageError, key_id

log = logging.getLogger("vigil.reports")

REENCRYPT = "reencrypt_files"
#: One run's batch: at most this many files and (about) this many bytes, in one transaction.
BATCH_FILES = 100
BATCH_BYTES = 64 * 1024 * 1024
BATCH_REPORTS = 500


@dataclass
class Reencrypted:
    stage: str
    done: int = 0
    #: Files that could not be read with any key of the ring (left as they are).
    unreadable: int = 0
    #: The payload of the next run (None: finished).
    next: dict[str, Any] | None = None


def reencrypt_files(session: Session, store: FileStore, payload: dict[str, Any],
                    subject_key: bytes | None = None) -> Reencrypted:
    """One batch of the re-encryption; enqueues the next run in the same transaction.
    ``payload``: ``{"stage": "files" | "personal" | "subjects", "after": id}`` (empty: start).
    ``subject_key``: the key reported users' digests are made with (None: stage 3 skipped)."""
    stage = str(payload.get("stage", "files"))
    after = int(payload.get("after", 0))
    if stage == "files":
        result = _files(session, store, after)
    elif stage == "personal":
        n = reseal_plaintext(session)
        result = Reencrypted(stage, n, next={"stage": "personal"} if n else
                             {"stage": "subjects", "after": 0})
    elif stage == "subjects":
        result = _subjects(session, after, subject_key) if subject_key is not None \
            else Reencrypted(stage)
    else:
        raise ValueError(f"unknown re-encryption stage {stage!r}")
    if result.next is not None:
        enqueue(session, REENCRYPT, result.next)
    log.info("re-encryption %s: %d done, %d unreadable", stage, result.done, result.unreadable)
    return result


def _files(session: Session, store: FileStore, after: int) -> Reencrypted:
    current = store.ring.current_id
    rows = session.execute(
        select(ReportFile, Report.public_id).join(Report, Report.id == ReportFile.report_id)
        .where(ReportFile.id > after, ReportFile.storage_key.isnot(None),
               ReportFile.nonce.isnot(None),
               or_(ReportFile.key_id.is_(None), ReportFile.key_id != current))
        .order_by(ReportFile.id).limit(BATCH_FILES)
        .with_for_update(of=ReportFile)).all()  # retention must not delete it meanwhile
    out = Reencrypted("files")
    size = 0
    last = after
    for f, public_id in rows:
        if size >= BATCH_BYTES:
            break
        last = f.id
        assert f.storage_key is not None and f.nonce is not None
        try:
            data = store.get(f.storage_key, f.nonce, aad(public_id, f.id), f.key_id)
        except StorageError as exc:
            log.warning("file %s of report %s not re-encrypted: %s", f.id, public_id, exc)
            out.unreadable += 1
            continue
        old = f.storage_key
        f.storage_key, f.nonce, f.key_id = store.put(data, aad(public_id, f.id))
        new = f.storage_key
        session.info.setdefault("on_rollback", []).append(lambda new=new: store.delete(new))
        event.listen(session, "after_commit", lambda _s, old=old: store.delete(old), once=True)
        size += len(data)
        out.done += 1
    out.next = {"stage": "files", "after": last} if rows else {"stage": "personal"}
    return out


def _subjects(session: Session, after: int, key: bytes) -> Reencrypted:
    rows = session.execute(select(Report.id, Report.details).where(
        Report.id > after, Report.details.isnot(None)).order_by(Report.id)
        .limit(BATCH_REPORTS)).all()
    out = Reencrypted("subjects")
    for report_id, details in rows:
        digests = subject_digests(json.loads(details or "{}"), key)
        have = set(session.scalars(select(ReportSubject.digest).where(
            ReportSubject.report_id == report_id)))
        if have == digests:
            continue
        session.execute(delete(ReportSubject).where(ReportSubject.report_id == report_id))
        session.add_all(ReportSubject(report_id=report_id, digest=d) for d in sorted(digests))
        out.done += 1
    out.next = {"stage": "subjects", "after": rows[-1][0]} if rows else None
    return out


def reencryption_runs(session: Session, since: datetime | None = None) -> int:
    """Re-encryption runs waiting or running — with ``since``, also those that finished after
    it (a backup's copy of the database and of the files then disagree)."""
    busy = Job.status.in_(("queued", "running"))
    return int(session.scalar(select(func.count()).select_from(Job).where(
        Job.kind == REENCRYPT, or_(busy, Job.updated_at >= since) if since is not None else busy))
        or 0)


def files_by_key(session: Session) -> dict[str | None, int]:
    """How many stored files each file key id encrypts (None: files from before key ids)."""
    from sqlalchemy import func

    return {kid: int(n) for kid, n in session.execute(
        select(ReportFile.key_id, func.count()).where(ReportFile.storage_key.isnot(None))
        .group_by(ReportFile.key_id))}


@dataclass(frozen=True)
class KeyUsage:
    """What the file keys encrypt now — the one rule for whether a previous key may be retired,
    which ``vigil keys status`` shows and ``vigil keys retire`` applies.

    ``files``: stored files by file key id (None: files from before key ids); ``values``:
    personal values by the file key id whose column key sealed them (``"not sealed"``; a column
    key of no key in the ring as ``"unknown column key <id>"``); ``pending``: re-encryption runs
    queued or running."""

    files: dict[str | None, int]
    values: dict[str, int]
    pending: int

    def uses(self, kid: str) -> bool:
        """Whether any file or personal value is encrypted under file key ``kid``."""
        return bool(self.files.get(kid) or self.values.get(kid))

    @property
    def settled(self) -> bool:
        """No re-encryption queued or running, and no file from before key ids."""
        return not self.pending and not self.files.get(None)

    def retirable(self, kid: str) -> bool:
        return self.settled and not self.uses(kid)


def key_usage(session: Session, ring: FileKeys) -> KeyUsage:
    """:class:`KeyUsage` of ``ring`` now."""
    by_column = {column_key_id(column_key_from(k)): key_id(k)
                 for k in (*ring.previous, ring.current)}
    values: dict[str, int] = {}
    for cid, n in sealed_with(session).items():
        name = by_column.get(cid, f"unknown column key {cid}" if cid != "plain" else "not sealed")
        values[name] = values.get(name, 0) + n
    return KeyUsage(files_by_key(session), values, reencryption_runs(session))


@register("assess_report")
def assess_report(ctx: JobContext) -> None:
    """Payload ``{"report_id": int}``. Idempotent: assessment checks the report's status
    first."""
    services = ctx.services
    assess(ctx.session, int(ctx.payload["report_id"]), services.matcher, services.handoff,
           services.subject_key)


@register("deliver_notice")
def deliver_notice(ctx: JobContext) -> None:
    """Payload: a :class:`~vigil.reports.handoff.Notice` as a dict. A failed delivery raises and
    is retried with the task's back-off."""
    ctx.services.handoff.deliver(Notice(**ctx.payload))


@periodic("reports:retention", every=lambda settings: settings.retention_seconds)
def retention(services: Services) -> RetentionResult | None:
    """Apply the retention periods, sweep orphaned files and seal personal data written before
    sealing (each in a transaction of its own). None without settings and a file store."""
    if services.settings is None or services.store is None:
        return None
    with transaction(services.factory) as s:
        result = apply_retention(s, services.settings, services.store)
    with transaction(services.factory) as s:
        result.orphans_deleted = sweep_orphans(s, services.store)
    with transaction(services.factory) as s:
        result.personal_sealed = reseal_plaintext(s)
    return result


@register(REENCRYPT)
def reencrypt_job(ctx: JobContext) -> None:
    """Payload: see :func:`reencrypt_files`. Needs the worker's file store."""
    store = ctx.services.store
    if store is None:
        raise ValueError("re-encrypting files needs the worker's file store")
    reencrypt_files(ctx.session, store, ctx.payload, ctx.services.subject_key)
