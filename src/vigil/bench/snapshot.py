"""``vigil bench snapshot``: downloading a large list's signed snapshot from a real server.

A throwaway data directory gets a database with ``entries`` active PDQ indicators on one list
(bulk SQL, as ``vigil bench api`` loads them), and a ``vigil serve`` process on a loopback port
with them in its index. Then, over HTTP with a provider key: the first download (the server
builds the snapshot file of this list version), ``repeats`` further downloads (the file is
streamed), and ``repeats`` revalidations with ``If-None-Match`` (304). Each download is timed to
its first byte of body and to its last. The last line printed is one JSON object.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.bench.api import ApiBenchSpec, prepare
from vigil.bench.match import machine
from vigil.bench.server import vigil_server
from vigil.matching.codes import random_codes

LIST = "known-material"


@dataclass(frozen=True)
class SnapshotBenchSpec:
    entries: int = 1_000_000
    repeats: int = 3
    seed: int = 1
    database_url: str | None = None


@dataclass(frozen=True)
class Download:
    status: int
    first_byte_s: float
    total_s: float
    size: int
    etag: str
    sha256: str


def download(port: int, token: str, if_none_match: str | None = None) -> Download:
    """One ``GET /v1/lists/known-material/snapshot``, read to the end and thrown away."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {token}"}
    if if_none_match:
        headers["If-None-Match"] = if_none_match
    digest = hashlib.sha256()
    try:
        t0 = time.perf_counter()
        conn.request("GET", f"/v1/lists/{LIST}/snapshot", headers=headers)
        resp = conn.getresponse()
        chunk = resp.read(1)
        first = time.perf_counter() - t0
        size = 0
        while chunk:
            size += len(chunk)
            digest.update(chunk)
            chunk = resp.read(1 << 20)
        total = time.perf_counter() - t0
    finally:
        conn.close()
    if resp.status not in (200, 304):
        raise RuntimeError(f"snapshot download failed: {resp.status}")
    return Download(resp.status, first, total, size, resp.getheader("ETag") or "",
                    digest.hexdigest())


def run(spec: SnapshotBenchSpec) -> dict[str, Any]:
    """Returns the figures in seconds (``*_s``) and bytes; raises ``RuntimeError`` when a
    download fails or a repeated download differs from the first."""
    codes = random_codes(spec.entries, spec.seed)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-snapshot-") as tmp:
        data = Path(tmp)
        t0 = time.perf_counter()
        url, token = prepare(ApiBenchSpec(size=spec.entries, database_url=spec.database_url),
                             data, codes)
        load_s = time.perf_counter() - t0
        del codes
        with vigil_server(data, url, 1, spec.entries) as port:
            peak_before, cpu_before = _server_peak_bytes(), _server_cpu_s()
            first = download(port, token)
            peak_after, cpu_after = _server_peak_bytes(), _server_cpu_s()
            repeated = [download(port, token) for _ in range(spec.repeats)]
            revalidated = [download(port, token, first.etag) for _ in range(spec.repeats)]
        files = sorted(p.name for p in (data / "snapshots").glob("*.json"))
    if any(d.sha256 != first.sha256 or d.etag != first.etag for d in repeated):
        raise RuntimeError("a repeated download of the same list version differed")
    if any(d.status != 304 for d in revalidated):
        raise RuntimeError("If-None-Match with the current ETag did not answer 304")

    def med(values: list[float]) -> float:
        return float(np.median(values))

    return {
        "entries": spec.entries, "repeats": spec.repeats, "machine": machine(),
        "database": "postgresql" if spec.database_url and "postgres" in spec.database_url
        else "sqlite",
        "bytes": first.size, "load_s": load_s, "files_on_disk": len(files),
        "first_download_first_byte_s": first.first_byte_s,
        "first_download_total_s": first.total_s,
        "repeat_first_byte_s": med([d.first_byte_s for d in repeated]),
        "repeat_total_s": med([d.total_s for d in repeated]),
        "repeat_first_byte_s_max": max(d.first_byte_s for d in repeated),
        "not_modified_s": med([d.total_s for d in revalidated]),
        # The server's resident-set high-water mark before and after the first download
        # (the build); None where /proc cannot tell.
        "server_peak_bytes_before": peak_before, "server_peak_bytes_after": peak_after,
        # CPU seconds the server spent on the first download (the build): a figure that a
        # busy shared machine stretches less than the wall time.
        "first_download_server_cpu_s": (cpu_after - cpu_before
                                        if cpu_before is not None and cpu_after is not None
                                        else None),
    }


def _children() -> list[Path]:
    """``/proc/<pid>`` of this process's children (the ``vigil serve`` process)."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if any(line.split(":", 1)[1].strip() == str(os.getpid())
               for line in text.splitlines() if line.startswith("PPid:")):
            out.append(status.parent)
    return out


def _server_cpu_s() -> float | None:
    """User and system CPU seconds of this process's children so far (Linux)."""
    total = None
    for proc in _children():
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total = (total or 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _server_peak_bytes() -> int | None:
    """The largest VmHWM among this process's children."""
    peaks = []
    for proc in _children():
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) * 1024)
        except OSError:
            continue
    return max(peaks) if peaks else None
