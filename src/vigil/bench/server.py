"""Shared by the HTTP benchmarks: a ``vigil serve`` process on a loopback port, and client
threads that drive it for a fixed time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def vigil_server(data: Path, database_url: str, workers: int,
                 min_indicators: int = 0, progress: Progress | None = None) -> Iterator[int]:
    """Start ``vigil serve`` on a free port; yields the port once it answers (with at least
    ``min_indicators`` loaded in its index, told to ``progress``); stops it afterwards, however
    the block ends."""
    port = free_port()
    env = {**os.environ, "VIGIL_DATA_DIR": str(data), "VIGIL_DATABASE_URL": database_url,
           "VIGIL_LOG_LEVEL": "WARNING",
           # The benchmark measures throughput: no per-key request limit.
           "VIGIL_KEY_REQUESTS_PER_MINUTE": "0", "VIGIL_MATCH_HASHES_PER_DAY": "0"}
    with open(data / "server.log", "wb") as log:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "vigil", "serve", "--port", str(port),
             "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, min_indicators, workers, server, data, progress)
            yield port
        finally:
            server.terminate()
            server.wait(timeout=30)


def loaded_indicators(base: str) -> int:
    """How many indicators a server worker's index holds (``vigil_index_indicators`` on
    ``/metrics``, served to loopback)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:  # noqa: S310 - loopback
        for line in r.read().decode().splitlines():
            if line.startswith("vigil_index_indicators "):
                return int(float(line.split()[1]))
    return 0


def _wait_ready(port: int, size: int, workers: int, server: subprocess.Popen[bytes],
                data: Path, progress: Progress | None = None) -> None:
    deadline = time.monotonic() + 600
    ready = 0
    while ready < max(workers, 1) * 3:  # several answers, so that every worker is likely up
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not become ready: "
                               f"{(data / 'server.log').read_text()[-2000:]}")
        try:
            loaded = loaded_indicators(f"http://127.0.0.1:{port}")
            if progress:
                progress("server starting: indicators loaded", min(loaded, size), size)
            if loaded >= size:
                ready += 1
                continue
        except OSError:
            pass
        time.sleep(0.5)


#: ``progress(stage, done, total)``, as in :mod:`vigil.bench.crawl`.
Progress = Callable[[str, int, int], None]
Client = Callable[[float, list[float], list[str], int], None]


def drive(client: Client, clients: int, seconds: float,
          progress: Progress | None = None) -> tuple[list[float], list[str], float]:
    """Run ``clients`` threads of ``client(stop, latencies, errors, index)`` for ``seconds``
    (told to ``progress`` each second); returns the latencies, the errors and the wall time."""
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    # Daemon threads: an interrupted run exits without waiting for the clients' deadline.
    threads = [threading.Thread(target=client, args=(start + seconds, latencies, errors, k),
                                daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    total = round(seconds)
    for t in threads:
        while t.is_alive():
            t.join(1.0)
            if progress:
                progress("sending requests (seconds)",
                         min(total, round(time.perf_counter() - start)), total)
    return latencies, errors, time.perf_counter() - start
