"""`vigil serve --workers 2` on a large index: every worker answers /healthz while its index
loads, becomes ready (/readyz 503, then 200), and is never killed and restarted by the
process manager; a restart maps the index file the first start wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from vigil.bench.api import ApiBenchSpec, prepare
from vigil.bench.server import ServerProcess, free_port, readiness
from vigil.matching.codes import random_codes

SIZE = 200_000


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _start(data: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIGIL_DATA_DIR": str(data), "VIGIL_DATABASE_URL": url,
           "VIGIL_LOG_LEVEL": "INFO"}
    with open(data / "server.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "vigil", "serve", "--port", str(port),
                                 "--workers", "2"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def _ready_pids(log: Path, offset: int) -> set[int]:
    """The workers that have answered /readyz with 200 since ``offset`` of the log."""
    with open(log, "rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode(errors="replace").splitlines()
    return {x["pid"] for x in (json.loads(line) for line in lines if line.startswith("{"))
            if x.get("route") == "/readyz" and x.get("status") == 200 and "pid" in x}


def _until_ready(base: str, proc: subprocess.Popen[bytes], seen: dict[str, set[int]],
                 log: Path, offset: int) -> None:
    """Until *both* workers have answered /readyz with 200 (the kernel picks which worker
    accepts: under load one can answer many times in a row while the other still loads)."""
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, "the server exited"
        assert time.monotonic() < deadline, f"not ready; saw {seen}"
        seen["healthz"].add(_status(f"{base}/healthz"))
        code = _status(f"{base}/readyz")
        seen["readyz"].add(code)
        if code == 200 and len(_ready_pids(log, offset)) >= 2:
            return
        time.sleep(0.05)


@pytest.mark.slow
def test_two_workers_on_a_large_index_become_ready_and_stay_up(tmp_path: Path) -> None:
    url, _ = prepare(ApiBenchSpec(size=SIZE), tmp_path, random_codes(SIZE, 21))
    for start in ("built", "mapped"):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = tmp_path / "server.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        proc = _start(tmp_path, url, port)
        server = ServerProcess(proc)
        try:
            seen: dict[str, set[int]] = {"healthz": set(), "readyz": set()}
            _until_ready(base, proc, seen, log_path, offset)
            if start == "built":
                # While the index was being built, health answered and readiness did not.
                assert 503 in seen["readyz"], seen
                assert 200 in seen["healthz"] and seen["healthz"] <= {0, 200}, seen
            index_file = tmp_path / "live-index.vmx"
            assert index_file.exists()
            if start == "built":
                written = index_file.stat().st_mtime_ns
            else:  # mapped as it was, not rebuilt
                assert index_file.stat().st_mtime_ns == written
            workers = sorted(server.workers())
            assert len(workers) == 2
            status, body = readiness(base)  # loopback: the monitoring's details
            assert status == 200, body
            index = body["index"]
            assert index["loaded"] and index["indicators"] == SIZE and index["behind"] == 0, body
            assert 0 < index["load_seconds"] < 60
            # The same two worker processes, still answering, a while later: none was
            # killed and restarted by the supervisor.
            for _ in range(10):
                time.sleep(0.5)
                assert _status(f"{base}/readyz") == 200
            assert sorted(server.workers()) == workers
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        log = (tmp_path / "server.log").read_text()
        assert "died" not in log and "Traceback" not in log, log[-3000:]
    # First start: one worker built the index and wrote the file, the other mapped it; the
    # restart: both mapped it.
    assert log.count("(from the database)") == 1 and log.count("(from the file)") == 3, log[-3000:]
