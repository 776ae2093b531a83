"""`vigil serve --workers 2` as an operator runs it, with Redis: the two worker processes
share one limit, /metrics sums both, every log line is JSON with the request's id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.redis import SharedRedis, closed_port
from vigil.bench.server import free_port, loaded_indicators

LIMIT = 4


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    shared = _redis()
    data = tmp_path_factory.mktemp("workers")
    port = free_port()
    env = {**os.environ, "VIGIL_DATA_DIR": str(data), "VIGIL_REDIS_URL": shared.url,
           "VIGIL_REDIS_KEY_PREFIX": shared.prefix, "VIGIL_TRUSTED_PROXIES": "127.0.0.1",
           "VIGIL_PUBLIC_REPORTS_PER_HOUR": str(LIMIT)}
    for name in ("VIGIL_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    log = open(data / "server.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([sys.executable, "-m", "vigil", "serve", "--demo", "--workers", "2",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            # Ready means both workers have answered /readyz with their index loaded (200): one
            # worker ready while the other still loads would take every request.
            try:
                if loaded_indicators(base) > 0 and len({
                        x["pid"] for x in _log(data)
                        if x.get("route") == "/readyz" and x.get("status") == 200}) >= 2:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {(data / 'server.log').read_text()}")
            time.sleep(0.1)
        yield base, data
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        _cleanup(shared)


def _redis() -> SharedRedis:
    import uuid

    import redis

    from tests.fixtures.redis import REDIS_URL

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI and unreachable: {exc}")
        pytest.skip(f"Redis unreachable ({type(exc).__name__})")
    return SharedRedis(REDIS_URL, f"vigil-test-{uuid.uuid4().hex[:12]}")


def _cleanup(shared: SharedRedis) -> None:
    import redis

    client = redis.Redis.from_url(shared.url)
    for key in client.scan_iter(match=f"{shared.prefix}:*"):
        client.delete(key)
    client.close()


def _request(url: str, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # a new connection every time
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def _log(data: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (data / "server.log").read_text().splitlines()
            if line.startswith("{")]


def _logged(data: Path, route: str, count: int) -> list[dict[str, Any]]:
    """The request lines of ``route``, once ``count`` are written (a worker writes its line
    just after the response has gone out, so the last one may lag the client by a moment)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [x for x in _log(data) if x.get("route") == route]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _both_workers_answer(base: str, data: Path) -> set[int]:
    """Requests until both workers have answered some (the kernel picks which accepts)."""
    for _ in range(400):
        _request(base + "/healthz")
        pids = {x["pid"] for x in _log(data) if x.get("route") == "/healthz"}
        if len(pids) >= 2:
            return pids
    raise AssertionError("one worker answered every request")


def test_two_workers_accept_a_public_form_exactly_n_times(two_workers: tuple[str, Path]) -> None:
    base, data = two_workers
    _both_workers_answer(base, data)
    codes = []
    for i in range(12):
        status, headers, body = _request(base + "/v1/public/url-reports",
                                         {"url": f"https://example.test/{i}"})
        codes.append(status)
        if status == 429:
            error = json.loads(body)["error"]
            assert error["message"].startswith(f"too many URL reports: at most {LIMIT} per 60 minutes")
            assert int(headers["Retry-After"]) > 0 and len(headers["X-Request-ID"]) == 32
    assert codes == [202] * LIMIT + [429] * (12 - LIMIT)
    answered = _logged(data, "/v1/public/url-reports", len(codes))
    assert [x["status"] for x in answered] == codes
    assert len({x["pid"] for x in answered}) == 2, "one worker answered every report: run again"


def test_metrics_sum_over_both_workers(two_workers: tuple[str, Path]) -> None:
    base, data = two_workers
    pids = _both_workers_answer(base, data)
    status, _, body = _request(base + "/metrics")
    assert status == 200
    lines = body.decode().splitlines()
    count = next(line for line in lines
                 if line.startswith('vigil_http_requests_total{method="GET",route="/healthz",status="200"}'))
    counted = int(float(count.split()[-1]))
    # Every worker's answers, once: as many as the two workers' request lines.
    assert len(_logged(data, "/healthz", counted)) == counted
    assert "vigil_index_indicators 12.0" in lines  # the fewest any live worker holds
    assert pids <= {int(p.stem.split("_")[-1]) for p in (data / "metrics").glob("counter_*.db")}


def test_every_line_is_json_with_the_request_id(two_workers: tuple[str, Path]) -> None:
    base, data = two_workers
    status, headers, _ = _request(base + "/healthz", headers={"X-Request-ID": "proxy-given-7f3a"})
    assert status == 200 and headers["X-Request-ID"] == "proxy-given-7f3a"  # a trusted proxy's
    status, headers, _ = _request(base + "/v1/log/head", headers={"Authorization": "Bearer vgl_00_nope"})
    assert status == 401
    generated = headers["X-Request-ID"]
    time.sleep(0.2)
    lines = (data / "server.log").read_text().splitlines()
    entries = _log(data)
    assert any(x.get("request_id") == "proxy-given-7f3a" and x["route"] == "/healthz" for x in entries)
    assert any(x.get("request_id") == generated and x["status"] == 401 for x in entries)
    assert "vgl_00_nope" not in "\n".join(lines)
    # Nothing but JSON lines from the workers (the supervisor's own start-up lines aside).
    assert all(line.startswith("{") for line in lines[lines.index(next(
        line for line in lines if line.startswith("{"))):])


def test_serve_refuses_a_redis_that_does_not_answer(tmp_path: Path) -> None:
    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path),
           "VIGIL_REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    env.pop("VIGIL_DATABASE_URL", None)
    proc = subprocess.run([sys.executable, "-m", "vigil", "serve", "--demo", "--workers", "2",
                           "--port", str(free_port())], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2
    assert "does not answer" in proc.stderr and "VIGIL_REDIS_URL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_production_refuses_several_workers_without_redis(tmp_path: Path) -> None:
    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path), "VIGIL_ENVIRONMENT": "production"}
    for name in ("VIGIL_DATABASE_URL", "VIGIL_REDIS_URL"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, "-m", "vigil", "serve", "--workers", "2",
                           "--port", str(free_port())], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2
    assert "set VIGIL_REDIS_URL" in proc.stderr and "Traceback" not in proc.stderr
