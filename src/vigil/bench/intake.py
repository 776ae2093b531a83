"""``vigil bench intake``: reports per second into the database through ``POST /v1/reports``.

A throwaway database (PostgreSQL when ``--database-url`` names one, as issue 4 asks; SQLite
otherwise), a provider key, a ``vigil serve`` process on a loopback port; client threads send
reports carrying two files' hashes each, every one with its own ``Idempotency-Key``, over
persistent connections. Reports/s and per-request latency percentiles are reported, and the
number of reports stored is checked against the number acknowledged.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from vigil.bench.match import machine
from vigil.bench.server import Progress, drive, vigil_server


@dataclass(frozen=True)
class IntakeBenchSpec:
    seconds: float = 20.0
    clients: int = 4
    workers: int = 2
    database_url: str | None = None


def _body(i: int) -> bytes:
    rng = np.random.default_rng(i)
    return json.dumps({
        "incident_at": "2026-11-01T10:00:00Z", "concerns": "new_material",
        "legal_basis": "Regulation (EU) 2024/1307", "content_removed": True,
        "hashes": [{"signal_type": "md5", "value": rng.bytes(16).hex()},
                   {"signal_type": "pdq", "value": rng.bytes(32).hex()}],
        "users": [{"user_ids": [f"user-{i}"],
                   "ips": [{"ip": "193.99.144.80", "at": "2026-11-01T09:59:00Z"}]}],
    }).encode()


def _client(port: int, token: str, stop: float, latencies: list[float], errors: list[str],
            seed: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    bodies = [_body(seed * 1000 + k) for k in range(50)]
    i = 0
    while time.perf_counter() < stop:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Idempotency-Key": str(uuid.uuid4())}
        t0 = time.perf_counter()
        conn.request("POST", "/v1/reports", body=bodies[i % len(bodies)], headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        latencies.append(time.perf_counter() - t0)
        i += 1
        if resp.status != 201:
            errors.append(f"{resp.status}: {data[:200]!r}")
            break
    conn.close()


def run(spec: IntakeBenchSpec, progress: Progress | None = None) -> dict[str, Any]:
    from vigil.db import make_engine, session_factory, transaction
    from vigil.migrations import upgrade
    from vigil.orgs import service as orgs
    from vigil.orgs.access import KIND_SCOPES, OrgKind
    from vigil.reports.models import Report

    with tempfile.TemporaryDirectory(prefix="vigil-bench-intake-") as tmp:
        data = Path(tmp)
        url = spec.database_url or f"sqlite:///{data / 'vigil.db'}"
        upgrade(url)
        engine = make_engine(url)
        with transaction(session_factory(engine)) as s:
            # The Centre first: `vigil serve` refuses a database that `vigil init` never set up.
            orgs.create_organisation(s, None, "Bench Centre", OrgKind.CENTRE)
            org = orgs.create_organisation(s, None, "Bench Provider", OrgKind.PROVIDER)
            token = orgs.issue_key(s, None, org.id, "bench", set(KIND_SCOPES[OrgKind.PROVIDER])).token
        with vigil_server(data, url, spec.workers, progress=progress) as port:
            latencies, errors, wall = drive(
                lambda stop, lat, err, k: _client(port, token, stop, lat, err, k),
                spec.clients, spec.seconds, progress)
        with session_factory(engine)() as s:
            stored = s.scalar(select(func.count()).select_from(Report)) or 0
        engine.dispose()
    if errors:
        raise RuntimeError(f"requests failed: {errors[:3]}")
    lat = np.array(latencies) * 1000
    return {
        "clients": spec.clients, "workers": spec.workers, "seconds": round(wall, 2),
        "machine": machine(),
        "database": "postgresql" if spec.database_url and "postgres" in spec.database_url else "sqlite",
        "reports": len(latencies), "stored": stored, "reports_per_s": len(latencies) / wall,
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p99": float(np.percentile(lat, 99)),
        "latency_ms_max": float(lat.max()),
    }
