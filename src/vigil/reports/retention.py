"""Retention: delete what the Centre no longer needs, keep what it must count.

After ``retention_days_files`` the evidence files of assessed reports are deleted (ciphertext
removed from disk); after ``retention_days_personal_data`` (``retention_days_unfounded`` for
manifestly unfounded reports) the personal data (users, IPs, URLs, other data) is removed. The
report row stays with its status, dates, jurisdictions and hash counts, so statistics and
transparency reports remain true. Every deletion is an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.config import Settings
from vigil.reports.models import Report, ReportFile, ReportSubject
from vigil.reports.storage import FileStore


@dataclass
class RetentionResult:
    files_deleted: int = 0
    personal_data_deleted: int = 0
    orphans_deleted: int = 0
    #: personal values from before columns were sealed, sealed now
    personal_sealed: int = 0


def apply_retention(session: Session, settings: Settings, store: FileStore,
                    now: datetime | None = None) -> RetentionResult:
    t = now or datetime.now(UTC)
    result = RetentionResult()
    files_cutoff = t - timedelta(days=settings.retention_days_files)
    # Reports retracted or never finished count from when they last changed.
    since = func.coalesce(Report.assessed_at, Report.retracted_at, Report.created_at)
    files = session.execute(
        select(ReportFile, Report.public_id).join(Report, Report.id == ReportFile.report_id)
        .where(ReportFile.deleted_at.is_(None), since < files_cutoff)).all()
    for f, public_id in files:
        if f.storage_key:
            store.delete(f.storage_key)
        f.storage_key, f.nonce, f.deleted_at = None, None, t
        record(session, None, AuditAction.REPORT_FILES_DELETED, subject=public_id,
               details={"file": f.id, "reason": "retention"})
        result.files_deleted += 1
    personal_cutoff = t - timedelta(days=settings.retention_days_personal_data)
    unfounded_cutoff = t - timedelta(days=settings.retention_days_unfounded)
    reports = session.scalars(select(Report).where(
        Report.personal_data_deleted_at.is_(None),
        or_(since < personal_cutoff,
            and_(Report.status.in_(["manifestly_unfounded", "retracted"]),
                 since < unfounded_cutoff))))
    for r in reports:
        r.details = None
        session.execute(delete(ReportSubject).where(ReportSubject.report_id == r.id))
        r.personal_data_deleted_at = t
        record(session, None, AuditAction.REPORT_PERSONAL_DATA_DELETED, subject=r.public_id,
               details={"reason": "retention"})
        result.personal_data_deleted += 1
    return result


def sweep_orphans(session: Session, store: FileStore, older_than: float = 3600.0) -> int:
    """Delete ciphertext no report file points at (a crash between writing a file and its
    transaction's commit leaves one); only files older than ``older_than`` seconds, so that an
    upload in progress is never touched. Returns how many were deleted."""
    names = store.keys(older_than)
    if not names:
        return 0
    known = set(session.scalars(select(ReportFile.storage_key).where(
        ReportFile.storage_key.in_([n for n in names if not n.endswith(".tmp")]))))
    gone = 0
    for name in names:
        if name not in known:
            store.remove_name(name)
            gone += 1
    if gone:
        record(session, None, AuditAction.REPORT_FILES_DELETED, details={"orphans": gone})
    return gone
