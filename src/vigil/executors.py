"""Where batch work runs: a local process pool by default, or a Dask distributed cluster when a
scheduler address is given (by the settings, or the operator at the command line — never by an
API caller: Dask's protocol unpickles what the scheduler sends). Both are
``concurrent.futures`` executors, so the work's code path is the same whichever runs it: the
crawler's fetches and ``vigil scan``'s hashing use this one function. The scheduler is an
outbound connection like any other: the egress policy must allow it."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager

from vigil.egress import EgressPolicy
from vigil.matching.batch import process_pool


@contextmanager
def batch_executor(workers: int = 2, scheduler: str | None = None,
                   policy: EgressPolicy | None = None) -> Iterator[Executor]:
    """A process pool of ``workers`` (spawned: the caller may run threads, which a fork would
    copy in whatever state they are in), or an executor on the Dask cluster at ``scheduler``
    (``tcp://host:8786``), checked by ``policy`` first (raises
    :class:`~vigil.egress.EgressRefused`). Work submitted to Dask is never cached by its
    arguments (``pure=False``): the same URL fetched twice is two fetches."""
    if scheduler:
        (policy or EgressPolicy()).check_endpoint(scheduler)  # raises EgressRefused
        from distributed import Client

        client = Client(scheduler)  # type: ignore[no-untyped-call]
        try:
            yield client.get_executor(pure=False)  # type: ignore[no-untyped-call]
        finally:
            client.close()  # type: ignore[no-untyped-call]
        return
    pool = process_pool(workers, multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)
