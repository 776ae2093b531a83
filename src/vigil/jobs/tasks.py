"""The queue's own periodic work: finished jobs are kept a week (for the record, and for the
metrics), then deleted, so that the queue table does not grow for ever. Dead jobs are kept until
an administrator re-queues them."""

from __future__ import annotations

from datetime import timedelta

from vigil.clock import now
from vigil.db import transaction
from vigil.jobs.queue import prune_done
from vigil.jobs.registry import Services, periodic

#: How long a finished job stays in the table.
KEEP_DONE = timedelta(days=7)


@periodic("jobs:prune", every=6 * 3600)
def prune(services: Services) -> int:
    """Delete jobs finished more than :data:`KEEP_DONE` ago; returns how many."""
    with transaction(services.factory) as s:
        return prune_done(s, now() - KEEP_DONE)
