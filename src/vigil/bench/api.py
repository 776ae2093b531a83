"""``vigil bench api``: hashes per second through ``POST /v1/match`` of a real server.

A throwaway data directory gets a database with ``size`` active PDQ indicators (random hashes,
loaded with bulk SQL — the benchmark measures matching, not the two-organisation workflow), a
provider key, and a ``vigil serve`` process on a loopback port. Client threads then send
requests of ``batch`` hashes (half of them near-duplicates of listed hashes, half random) over
persistent connections for ``seconds``; the server's hashes/s and per-request latency
percentiles are reported. The last line printed is one JSON object.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from vigil.bench.match import machine
from vigil.bench.server import Progress, drive, readiness, vigil_server_process
from vigil.matching.codes import flip_bits, random_codes, unpack_hex


@dataclass(frozen=True)
class ApiBenchSpec:
    size: int = 1_000_000
    batch: int = 100
    seconds: float = 20.0
    clients: int = 2
    workers: int = 1
    seed: int = 1
    database_url: str | None = None


def prepare(spec: ApiBenchSpec, data_dir: Path, codes: np.ndarray) -> tuple[str, str]:
    """Database with the indicators and a provider key; returns (database URL, token)."""
    from vigil.db import make_engine, session_factory, transaction
    from vigil.indicators import service as indicators
    from vigil.indicators.models import Indicator, ListChange
    from vigil.migrations import upgrade
    from vigil.orgs import service as orgs
    from vigil.orgs.access import KIND_SCOPES, OrgKind

    url = spec.database_url or f"sqlite:///{data_dir / 'vigil.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with transaction(factory) as s:
        centre = orgs.create_organisation(s, None, "Bench Centre", OrgKind.CENTRE)
        key = orgs.issue_key(s, None, centre.id, "bench", set(KIND_SCOPES[OrgKind.CENTRE]))
        provider = orgs.create_organisation(s, None, "Bench Provider", OrgKind.PROVIDER)
        token = orgs.issue_key(s, None, provider.id, "bench", set(KIND_SCOPES[OrgKind.PROVIDER])).token
        hl = indicators.create_list(s, None, "known-material", "verified", 31)
        list_id, org_id, key_id = hl.id, centre.id, key.key.id
    now = datetime.now(UTC)
    hexes = unpack_hex(codes)
    if engine.dialect.name == "postgresql":
        _copy_rows(engine, hexes, list_id, org_id, key_id, now)
    else:
        step = 50_000
        with engine.begin() as conn:
            for start in range(0, len(hexes), step):
                conn.execute(insert(Indicator), [
                    {"id": start + i + 1, "list_id": list_id, "signal_type": "pdq", "value": h,
                     "salt": "00" * 16, "status": "active", "legal_basis": "benchmark",
                     "proposed_by_org": org_id, "proposed_by_key": key_id, "proposer": "bench",
                     "proposed_at": now}
                    for i, h in enumerate(hexes[start : start + step])])
                conn.execute(insert(ListChange), [
                    {"list_id": list_id, "indicator_id": start + i + 1, "action": "add", "at": now}
                    for i in range(len(hexes[start : start + step]))])
    engine.dispose()
    return url, token


def _copy_rows(engine: Any, hexes: list[str], list_id: int, org_id: int, key_id: int,
               now: datetime) -> None:
    """Load the rows with PostgreSQL's ``COPY`` (about ten times the rate of batched INSERTs:
    10M rows in minutes, not the better part of an hour), then move the id sequences past them."""
    stamp = now.isoformat()
    step = 100_000
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            with cur.copy("COPY indicators (id, list_id, signal_type, value, salt, status, legal_basis,"
                          " proposed_by_org, proposed_by_key, proposer, proposed_at) FROM STDIN") as copy:
                tail = f"\t{'00' * 16}\tactive\tbenchmark\t{org_id}\t{key_id}\tbench\t{stamp}\n"
                for start in range(0, len(hexes), step):  # one write per block: each waits
                    copy.write("".join(f"{start + i + 1}\t{list_id}\tpdq\t{h}{tail}"
                                       for i, h in enumerate(hexes[start : start + step])))
            with cur.copy("COPY list_changes (list_id, indicator_id, action, at) FROM STDIN") as copy:
                for start in range(0, len(hexes), step):
                    copy.write("".join(f"{list_id}\t{i}\tadd\t{stamp}\n"
                                       for i in range(start + 1, min(start + step, len(hexes)) + 1)))
            cur.execute("SELECT setval(pg_get_serial_sequence('indicators', 'id'), %s)",
                        (max(len(hexes), 1),))
            cur.execute("ANALYZE indicators")
            cur.execute("ANALYZE list_changes")
        raw.commit()
    finally:
        raw.close()


def _client(port: int, token: str, bodies: list[bytes], stop: float,
            latencies: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    i = 0
    while time.perf_counter() < stop:
        body = bodies[i % len(bodies)]
        i += 1
        t0 = time.perf_counter()
        conn.request("POST", "/v1/match", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        latencies.append(time.perf_counter() - t0)
        if resp.status != 200:
            errors.append(f"{resp.status}: {data[:200]!r}")
            break
    conn.close()


def run(spec: ApiBenchSpec, progress: Progress | None = None) -> dict[str, Any]:
    codes = random_codes(spec.size, spec.seed)
    rng = np.random.default_rng(spec.seed + 1)
    bodies = []
    for b in range(64):
        half = spec.batch // 2
        near = flip_bits(codes[rng.integers(0, spec.size, half)], rng.integers(0, 32, half),
                         spec.seed + 10 + b)
        qs = unpack_hex(np.concatenate([near, random_codes(spec.batch - half, spec.seed + 100 + b)]))
        bodies.append(json.dumps({"items": [{"signal_type": "pdq", "value": h} for h in qs]}).encode())
    with tempfile.TemporaryDirectory(prefix="vigil-bench-api-") as tmp:
        data = Path(tmp)
        t0 = time.perf_counter()
        url, token = prepare(spec, data, codes)
        load_s = time.perf_counter() - t0
        del codes
        # First start: no index file yet, so the index is built from the database (and, from
        # VIGIL_INDEX_FILE_MIN indicators up, saved). Then the start that counts: a restart
        # that maps the saved file and catches up from the change feed.
        t0 = time.perf_counter()
        with vigil_server_process(data, url, spec.workers, spec.size,
                                  progress) as (_, first):
            cold_ready_s = time.perf_counter() - t0
            cold = {"peak_pss": first.peak_pss, "peak_rss": first.peak_rss}
        t0 = time.perf_counter()
        with vigil_server_process(data, url, spec.workers, spec.size,
                                  progress) as (port, server):
            ready_s = time.perf_counter() - t0
            time.sleep(2)  # let start-up garbage settle before calling the memory idle
            idle = server.memory()
            # Each worker's own index load (from /readyz): the rest of ready_s is starting
            # Python processes and the app.
            loads = sorted({readiness(f"http://127.0.0.1:{port}")[1]["index"]["load_seconds"]
                            for _ in range(8 * spec.workers)})
            latencies, errors, wall = drive(
                lambda stop, lat, err, _k: _client(port, token, bodies, stop, lat, err),
                spec.clients, spec.seconds, progress)
            after = server.memory()
            restarted = sorted(m["pid"] for m in after) != sorted(m["pid"] for m in idle)
    if errors:
        raise RuntimeError(f"requests failed: {errors[:3]}")
    lat = np.array(latencies) * 1000
    return {
        "size": spec.size, "batch": spec.batch, "clients": spec.clients,
        "workers": spec.workers, "seconds": round(wall, 2), "machine": machine(),
        "database": "postgresql" if spec.database_url and "postgres" in spec.database_url else "sqlite",
        "requests": len(latencies),
        "hashes_per_s": len(latencies) * spec.batch / wall,
        "requests_per_s": len(latencies) / wall,
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p99": float(np.percentile(lat, 99)),
        "latency_ms_max": float(lat.max()),
        "load_s": load_s, "ready_s": ready_s, "cold_ready_s": cold_ready_s,
        "index_load_s": loads,
        # Memory in MB: per worker at idle (after start-up) and after the run; the start-up
        # peaks of the cold (built) and the measured (mapped) start.
        "memory_mb": {
            "idle_rss": [_mb(m["rss"]) for m in idle], "idle_pss": [_mb(m["pss"]) for m in idle],
            "idle_shared": [_mb(m["shared"]) for m in idle],
            "after_run_rss": [_mb(m["rss"]) for m in after],
            "after_run_pss": [_mb(m["pss"]) for m in after],
            "startup_peak_rss": [_mb(m["peak_rss"]) for m in idle],
            "startup_peak_pss_total": _mb(server.peak_pss),
            "cold_startup_peak_rss": _mb(cold["peak_rss"]),
            "cold_startup_peak_pss_total": _mb(cold["peak_pss"]),
        },
        "workers_restarted": restarted,
    }


def _mb(n: int) -> float:
    return round(n / 2**20, 1)
