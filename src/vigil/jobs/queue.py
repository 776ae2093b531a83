"""Putting work on the queue. A job is written in the caller's transaction — the outbox
pattern: it exists exactly when the change that needs it was committed, and ``vigil worker``
runs it after that commit, never before."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from vigil.clock import now
from vigil.jobs.models import Job


def enqueue(session: Session, kind: str, payload: dict[str, Any]) -> None:
    """Add a job of ``kind`` (a name the worker knows) with a JSON-serialisable payload."""
    session.add(Job(kind=kind, payload=json.dumps(payload), status="queued", attempts=0,
                    run_after=now()))
