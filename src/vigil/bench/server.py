"""Shared by the HTTP benchmarks: a ``vigil serve`` process on a loopback port, and client
threads that drive it for a fixed time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def vigil_server(data: Path, database_url: str, workers: int,
                 min_indicators: int = 0, progress: Progress | None = None) -> Iterator[int]:
    """Start ``vigil serve`` on a free port; yields the port once every worker is ready
    (``/readyz``, with at least ``min_indicators`` loaded in its index, told to
    ``progress``); stops it afterwards, however the block ends."""
    with vigil_server_process(data, database_url, workers, min_indicators,
                              progress) as (port, _):
        yield port


@dataclass
class ServerProcess:
    """A running ``vigil serve``: its process and what its start-up cost."""

    popen: subprocess.Popen[bytes]
    #: Highest sum over the workers of their proportional set size (shared pages divided
    #: among the processes mapping them) seen while starting, in bytes.
    peak_pss: int = 0
    #: Highest resident set of any one worker while starting (its VmHWM), in bytes.
    peak_rss: int = 0

    def workers(self) -> list[int]:
        """Process ids serving requests: the server itself with one worker, else its
        children (uvicorn's supervisor does not serve)."""
        children = _children(self.popen.pid)
        return [p for p in children if "resource_tracker" not in _cmdline(p)] or [self.popen.pid]

    def memory(self) -> list[dict[str, int]]:
        """Per worker, from ``/proc``: ``pid``, ``rss``, ``pss``, ``shared`` (clean + dirty shared
        pages), ``private`` and ``peak_rss`` (VmHWM), in bytes."""
        return [{"pid": p, **m} for p, m in ((p, process_memory(p)) for p in self.workers()) if m]


@contextmanager
def vigil_server_process(data: Path, database_url: str, workers: int,
                         min_indicators: int = 0, progress: Progress | None = None
                         ) -> Iterator[tuple[int, ServerProcess]]:
    """Like :func:`vigil_server`, also yielding the :class:`ServerProcess` (memory, pids)."""
    port = free_port()
    env = {**os.environ, "VIGIL_DATA_DIR": str(data), "VIGIL_DATABASE_URL": database_url,
           "VIGIL_LOG_LEVEL": "WARNING",
           # The benchmark measures throughput: no per-key request limit.
           "VIGIL_KEY_REQUESTS_PER_MINUTE": "0", "VIGIL_MATCH_HASHES_PER_DAY": "0"}
    with open(data / "server.log", "ab") as log:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "vigil", "serve", "--port", str(port),
             "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
        proc = ServerProcess(server)
        try:
            _wait_ready(port, min_indicators, workers, proc, data, progress)
            yield port, proc
        finally:
            server.terminate()
            server.wait(timeout=30)


def readiness(base: str) -> tuple[int, dict[str, Any]]:
    """``/readyz`` of one server worker: (HTTP status, body). From loopback the body says how
    many indicators the worker's index holds (``index.indicators``)."""
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:  # noqa: S310 - loopback
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def loaded_indicators(base: str) -> int:
    """How many indicators a ready server worker's index holds (0 while it loads)."""
    status, body = readiness(base)
    return int((body.get("index") or {}).get("indicators", 0)) if status == 200 else 0


def process_memory(pid: int) -> dict[str, int]:
    """``rss``, ``pss``, ``shared``, ``private`` (``/proc/PID/smaps_rollup``) and ``peak_rss``
    (VmHWM of ``/proc/PID/status``) in bytes; empty if the process is gone."""
    out: dict[str, int] = {}
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    kb = {}
    for line in rollup.splitlines()[1:] + status.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            kb[name] = int(parts[0]) * 1024
    out["rss"], out["pss"] = kb.get("Rss", 0), kb.get("Pss", 0)
    out["shared"] = kb.get("Shared_Clean", 0) + kb.get("Shared_Dirty", 0)
    out["private"] = kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)
    out["peak_rss"] = kb.get("VmHWM", 0)
    return out


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_ready(port: int, size: int, workers: int, proc: ServerProcess, data: Path,
                progress: Progress | None = None) -> None:
    deadline = time.monotonic() + 3600
    ready = 0
    while ready < max(workers, 1) * 3:  # several answers, so that every worker is likely up
        if proc.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not become ready: "
                               f"{(data / 'server.log').read_text()[-2000:]}")
        memory = proc.memory()
        proc.peak_pss = max(proc.peak_pss, sum(m["pss"] for m in memory))
        proc.peak_rss = max([proc.peak_rss, *(m["peak_rss"] for m in memory)])
        try:
            loaded = loaded_indicators(f"http://127.0.0.1:{port}")
            if progress:
                progress("server starting: indicators loaded", min(loaded, size), size)
            if loaded >= size:
                ready += 1
                continue
        except (OSError, ValueError):
            pass
        time.sleep(0.25)


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
