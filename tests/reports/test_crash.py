"""The server is killed (SIGKILL) again and again while a provider streams reports and retries;
afterwards no report is lost and none is stored twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.world import build_world
from vigil.bench.server import free_port
from vigil.reports.models import Report

# Three kills mid-stream, each after 20, 30 and 40 more reports: every restart costs a server
# start (seconds), so more kills add minutes to the suite and no new case.
N_REPORTS = 200
KILLS = 3


def _start(db_url: str, data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIGIL_DATA_DIR": str(data), "VIGIL_DATABASE_URL": db_url,
           "VIGIL_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "vigil", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)


def _body(i: int) -> bytes:
    return json.dumps({"incident_at": "2026-11-01T10:00:00Z", "concerns": "new_material",
                       "legal_basis": "x", "content_removed": False,
                       "hashes": [{"signal_type": "md5", "value": f"{i:032x}"}]}).encode()


@pytest.mark.slow
def test_no_report_lost_or_duplicated_when_the_server_is_killed(
        db_url: str, tmp_path: Path, factory: sessionmaker[Session]) -> None:
    token = build_world(factory).tokens["provider"]
    port = free_port()
    acknowledged: dict[str, str] = {}
    done = threading.Event()

    def client() -> None:
        for i in range(N_REPORTS):
            key = f"stream-{i}"
            deadline = time.monotonic() + 120
            while True:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    conn.request("POST", "/v1/reports", body=_body(i), headers={
                        "Authorization": f"Bearer {token}", "Idempotency-Key": key,
                        "Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status in (200, 201):
                        acknowledged[key] = json.loads(data)["id"]
                        break
                except (OSError, http.client.HTTPException):
                    pass  # the server died mid-request: retry with the same key
                finally:
                    conn.close()  # also when the server died mid-request (no leaked socket)
                assert time.monotonic() < deadline, f"report {i} never accepted"
                time.sleep(0.05)
        done.set()

    server = _start(db_url, tmp_path, port)
    thread = threading.Thread(target=client)
    thread.start()
    kills = 0
    try:
        while not done.is_set() and kills < KILLS:
            _wait_up(port)
            # Let a few more reports through since the restart, then kill mid-stream (paced by
            # progress, not by the clock, so a fast machine cannot finish first).
            target = len(acknowledged) + 20 + 10 * kills
            deadline = time.monotonic() + 30
            while len(acknowledged) < target and not done.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            kills += 1
            server = _start(db_url, tmp_path, port)
        thread.join(timeout=180)
    finally:
        server.kill()
        server.wait()
    assert kills >= 2, "the stream finished before the server could be killed"
    assert len(acknowledged) == N_REPORTS
    with factory() as s:
        stored = s.scalar(select(func.count()).select_from(Report))
        keys = dict(s.execute(select(Report.idempotency_key, Report.public_id)).all())
    assert stored == N_REPORTS
    assert keys == acknowledged  # every acknowledged id is the one stored, once
