"""Where a crawl's tasks run: a local process pool by default, or a Dask distributed cluster
when a scheduler address is given (by the settings, or the operator at the command line — never
by an API caller: Dask's protocol unpickles what the scheduler sends). Both are
``concurrent.futures`` executors, so the crawl's code path is the same. The scheduler is an
outbound connection like any other: the egress policy must allow it."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager

from vigil.egress import EgressPolicy
from vigil.matching.batch import process_pool


@contextmanager
def crawl_executor(workers: int = 2, scheduler: str | None = None,
                   policy: EgressPolicy | None = None) -> Iterator[Executor]:
    if scheduler:
        (policy or EgressPolicy()).check_endpoint(scheduler)  # raises EgressRefused
        from distributed import Client

        client = Client(scheduler)  # type: ignore[no-untyped-call]
        try:
            # pure=False: the same URL fetched twice is two fetches (content changes).
            yield client.get_executor(pure=False)  # type: ignore[no-untyped-call]
        finally:
            client.close()  # type: ignore[no-untyped-call]
        return
    # "spawn": the coordinator may run threads (a server, the index poller), which fork
    # would copy in whatever state they are in.
    pool = process_pool(workers, multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)
