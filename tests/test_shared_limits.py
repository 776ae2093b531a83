"""Two app instances (two server workers) on one Redis share every limit; without Redis each
counts on its own; a Redis outage refuses limited requests with 503, never lets them through.
The server as a user starts it (``vigil serve --workers 2``) is in tests/cli/test_serve_workers.py."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.redis import SharedRedis, closed_port
from tests.fixtures.world import build_world
from vigil.app import render_metrics


def _report(client: TestClient, i: int) -> int:
    r = client.post("/v1/public/url-reports", json={"url": f"https://example.test/{i}"})
    assert r.status_code in (202, 429), r.text
    if r.status_code == 429:
        assert r.json()["error"]["message"].startswith("too many URL reports: at most 4 per 60 minutes")
        assert int(r.headers["Retry-After"]) > 0
    return r.status_code


def test_two_workers_accept_a_public_form_exactly_n_times(
        db_url: str, data_dir: Path, shared_redis: SharedRedis) -> None:
    shared = {"redis_url": shared_redis.url, "redis_key_prefix": shared_redis.prefix,
              "public_reports_per_hour": 4}
    with make_client(db_url, data_dir, **shared) as a, make_client(db_url, data_dir, **shared) as b:
        codes = [_report(a if i % 2 else b, i) for i in range(10)]
    assert codes == [202] * 4 + [429] * 6


def test_without_redis_each_worker_counts_in_its_own_memory(db_url: str, data_dir: Path) -> None:
    """The default (one server worker): counted in memory, per app."""
    with make_client(db_url, data_dir, public_reports_per_hour=4) as a, \
            make_client(db_url, data_dir, public_reports_per_hour=4) as b:
        assert a.app.state.vigil.limits.where == "memory"  # type: ignore[attr-defined]
        codes = [_report(a, i) for i in range(5)] + [_report(b, i) for i in range(5, 7)]
    assert codes == [202] * 4 + [429] + [202] * 2


def test_two_workers_share_the_daily_match_quota(db_url: str, data_dir: Path,
                                                 factory: sessionmaker[Session],
                                                 shared_redis: SharedRedis) -> None:
    w = build_world(factory)
    provider = auth(w.tokens["provider"])
    items = {"items": [{"signal_type": "md5", "value": "0" * 32}] * 4}
    shared = {"redis_url": shared_redis.url, "redis_key_prefix": shared_redis.prefix,
              "match_hashes_per_day": 10}
    with make_client(db_url, data_dir, **shared) as a, make_client(db_url, data_dir, **shared) as b:
        assert a.post("/v1/match", headers=provider, json=items).status_code == 200
        assert b.post("/v1/match", headers=provider, json=items).status_code == 200
        r = a.post("/v1/match", headers=provider, json=items)
        assert r.status_code == 429
        assert r.json()["error"]["message"] == ("daily quota of 10 hashes for this key reached "
                                                "(8 used); it renews at midnight UTC")
        two = {"items": items["items"][:2]}
        assert b.post("/v1/match", headers=provider, json=two).status_code == 200
        assert a.post("/v1/match", headers=provider, json=two).status_code == 429


def test_a_redis_outage_refuses_limited_requests(db_url: str, data_dir: Path,
                                                 factory: sessionmaker[Session]) -> None:
    """Closed, loudly: 503 with the error body and Retry-After, a log line, a metric; routes
    without a limit still answer."""
    w = build_world(factory)
    down = f"redis://127.0.0.1:{closed_port()}/0"
    with make_client(db_url, data_dir, redis_url=down) as client:
        r = client.post("/v1/public/url-reports", json={"url": "https://example.test/a"})
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
        assert r.json()["error"]["code"] == "unavailable"
        assert "rate limits cannot be checked right now" in r.json()["error"]["message"]
        r = client.get("/v1/log/head", headers=auth(w.tokens["provider"]))  # per-key limit
        assert r.status_code == 503
        assert client.get("/healthz").status_code == 200
        # A load balancer that asks /readyz sends no traffic here meanwhile.
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        assert "store of rate limits" in r.json()["error"]["message"]
        metrics = render_metrics(client.app.state.vigil.metrics).decode()  # type: ignore[attr-defined]
    assert "vigil_limit_storage_errors_total 2.0" in metrics
