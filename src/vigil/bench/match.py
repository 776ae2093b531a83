"""``vigil bench match``: the PDQ index against brute force and against HMA's index.

Each contender runs in a fresh process (so that its memory is its own) on the same data, made
from the same seed: ``size`` random 256-bit hashes and ``queries`` queries, half of them
*planted* (an indexed hash with 0..threshold random bits flipped) and half random. Measured:
build time, queries/s single and batch on one thread, recall and false hits against a numpy
brute-force scan, memory (resident set growth while building), add/remove latency, and the
time to save and load the index file.
"""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np

from vigil.matching.codes import flip_bits, hamming, random_codes, unpack_hex


@dataclass(frozen=True)
class BenchSpec:
    size: int
    queries: int
    threshold: int = 31
    seed: int = 1
    updates: int = 1000


def make_data(spec: BenchSpec) -> tuple[np.ndarray, np.ndarray]:
    codes = random_codes(spec.size, spec.seed)
    rng = np.random.default_rng(spec.seed + 1)
    planted_n = spec.queries // 2
    picks = rng.integers(0, spec.size, planted_n)
    flips = rng.integers(0, spec.threshold + 1, planted_n)
    planted = flip_bits(codes[picks], flips, spec.seed + 2)
    rand = random_codes(spec.queries - planted_n, spec.seed + 3)
    return codes, np.concatenate([planted, rand])


def brute_force(codes: np.ndarray, queries: np.ndarray, threshold: int) -> list[set[int]]:
    """The truth: every index row within the threshold of each query (numpy, no index)."""
    return [set(np.nonzero(hamming(codes, q) <= threshold)[0].tolist()) for q in queries]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> None:
    """Reset the kernel's high-water mark of this process's resident set (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _peak_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_vigil(spec: BenchSpec) -> dict[str, Any]:
    from vigil.matching.index import PdqIndex
    from vigil.matching.indexfile import load_index, save_index

    codes, queries = make_data(spec)
    ids = np.arange(spec.size, dtype=np.int64)
    # Compile (or load the cached compiled kernels) outside the measured region.
    PdqIndex.build(codes[:1000], ids[:1000]).search_batch(queries[:2], spec.threshold)
    rss0 = _rss_bytes()
    _reset_peak()
    t0 = time.perf_counter()
    index = PdqIndex.build(codes, ids)
    build_s = time.perf_counter() - t0
    mem = _rss_bytes() - rss0
    peak = _peak_bytes() - rss0

    t0 = time.perf_counter()
    found_single = [
        {m.id for m in index.search(queries[i : i + 1], spec.threshold)}
        for i in range(len(queries))
    ]
    single_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    batch = index.search_batch(queries, spec.threshold)
    batch_s = time.perf_counter() - t0
    found_batch = [{m.id for m in batch.for_query(i)} for i in range(len(queries))]
    assert found_batch == found_single, "single and batch queries disagree"

    # Additions and removals, one at a time, on the built index.
    extra = random_codes(spec.updates, spec.seed + 4)
    add_us = []
    for i in range(spec.updates):
        t0 = time.perf_counter()
        index.add(extra[i : i + 1], [spec.size + i])
        add_us.append((time.perf_counter() - t0) * 1e6)
    victims = np.random.default_rng(spec.seed + 5).choice(spec.size, spec.updates, replace=False)
    remove_us = []
    for v in victims:
        t0 = time.perf_counter()
        index.remove([int(v)])
        remove_us.append((time.perf_counter() - t0) * 1e6)
    gone = index.search_batch(codes[victims], 0)
    assert not set(gone.ids.tolist()) & set(victims.tolist()), "removed hash still matches"
    added = index.search_batch(extra, 0)
    assert len(set(added.ids.tolist())) == spec.updates, "added hash not found"

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.vpi")
        t0 = time.perf_counter()
        save_index(index, path)
        save_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = load_index(path)
        load_s = time.perf_counter() - t0
        assert len(loaded) == len(index)
    return {
        "build_s": build_s,
        "single_qps": len(queries) / single_s,
        "batch_qps": len(queries) / batch_s,
        "memory_bytes": mem,
        "array_bytes": index.memory_bytes(),
        "peak_bytes": peak,
        "add_us_p50": float(np.median(add_us)),
        "add_us_p99": float(np.percentile(add_us, 99)),
        "add_us_max": float(np.max(add_us)),
        "remove_us_p50": float(np.median(remove_us)),
        "remove_us_p99": float(np.percentile(remove_us, 99)),
        "remove_us_max": float(np.max(remove_us)),
        "save_s": save_s,
        "load_s": load_s,
        "found": [sorted(s) for s in found_single],
    }


def run_threatexchange(spec: BenchSpec) -> dict[str, Any]:
    import faiss
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    faiss.omp_set_num_threads(1)
    codes, queries = make_data(spec)
    hexes = unpack_hex(codes)
    qhex = unpack_hex(queries)
    entries = list(zip(hexes, range(spec.size), strict=True))
    rss0 = _rss_bytes()
    _reset_peak()
    t0 = time.perf_counter()
    index = PDQIndex(entries)
    build_s = time.perf_counter() - t0
    mem = _rss_bytes() - rss0
    peak = _peak_bytes() - rss0
    del entries
    # PDQIndex's threshold is fixed at construction (31); the spec's threshold must match.
    t0 = time.perf_counter()
    found = [{m.metadata for m in index.query(h)} for h in qhex]
    single_s = time.perf_counter() - t0
    # HMA's API takes one hash per call; its inner FAISS index takes a batch.
    t0 = time.perf_counter()
    index.index.search_with_distance_in_result(qhex, spec.threshold)
    batch_s = time.perf_counter() - t0
    return {
        "build_s": build_s,
        "single_qps": len(queries) / single_s,
        "batch_qps": len(queries) / batch_s,
        "memory_bytes": mem,
        "peak_bytes": peak,
        "found": [sorted(s) for s in found],
    }


def _in_fresh_process(fn: Any, spec: BenchSpec) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(fn, spec).result()
        return result


def _recall(found: list[list[int]], truth: list[set[int]]) -> tuple[float, int]:
    hits = sum(len(truth[i] & set(f)) for i, f in enumerate(found))
    total = sum(len(t) for t in truth)
    false = sum(len(set(f) - truth[i]) for i, f in enumerate(found))
    return (hits / total if total else 1.0), false


def run(spec: BenchSpec, compare: bool) -> dict[str, Any]:
    codes, queries = make_data(spec)
    truth = brute_force(codes, queries, spec.threshold)
    del codes
    out: dict[str, Any] = {
        "size": spec.size, "queries": spec.queries, "threshold": spec.threshold,
        "seed": spec.seed, "machine": machine(), "true_matches": sum(len(t) for t in truth),
    }
    v = _in_fresh_process(run_vigil, spec)
    v["recall"], v["false_matches"] = _recall(v.pop("found"), truth)
    out["vigil"] = v
    if compare:
        p = _in_fresh_process(run_threatexchange, spec)
        p["recall"], p["false_matches"] = _recall(p.pop("found"), truth)
        out["threatexchange_pdqindex"] = p
        out["ratios"] = {
            "single_qps": v["single_qps"] / p["single_qps"],
            "batch_qps": v["batch_qps"] / p["batch_qps"],
            "memory": v["memory_bytes"] / max(p["memory_bytes"], 1),
            "build_speedup": p["build_s"] / v["build_s"],
        }
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB, Python {platform.python_version()}"
