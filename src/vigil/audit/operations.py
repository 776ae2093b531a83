"""Actions on the service itself that must leave a trace in the audit trail, for the adapters
that offer them (the workspace's jobs page, ``vigil jobs``): the job queue sits below the audit
trail, so the audited form of its administrative actions lives here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.jobs import queue
from vigil.jobs.models import Job

if TYPE_CHECKING:
    from vigil.orgs.access import Principal


def retry_job(session: Session, actor: Principal | None, job_id: int) -> Job:
    """Re-queue a dead job (:func:`vigil.jobs.queue.retry`) and record ``job:retried`` in the
    same transaction. ``actor`` None: the operator at the server's command line. Raises
    NotFound, or Conflict if the job is not dead."""
    job = queue.retry(session, job_id)
    record(session, actor, AuditAction.JOB_RETRIED, subject=f"job:{job.id}",
           details={"kind": job.kind, "by": "workspace" if actor else "command line"})
    return job
