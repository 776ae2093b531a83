"""Where a crawl's tasks run: :func:`vigil.executors.batch_executor` (a local process pool, or
a Dask cluster named by the settings or the operator, through the egress policy). The crawl's
name for it, kept for its callers."""

from __future__ import annotations

from vigil.executors import batch_executor as crawl_executor

__all__ = ["crawl_executor"]
