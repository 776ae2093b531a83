"""``vigil bench match``: the PDQ index against brute force and, like for like, HMA's index.

**Like for like** (decision 0016): both contenders get the same input, hex strings — what a
list file, a snapshot or an API request holds — and parsing them is part of the measured build
and queries on both sides. Both answer the same thresholds (default 10, 31 and 50; HMA's
``PDQIndex`` answers at a fixed 31, so the peer here is a subclass that only changes
``get_match_threshold``; its FAISS multi-hash index sets ``nflip = t // 16`` itself, exact at
every threshold). Each run is a fresh process (its memory is its own) on data made from the same
seed; ``repeats`` runs of each side are interleaved, the starting side alternating (A B, B A,
A B ...), so slow drift of a shared machine falls on both; medians are reported, and ratios of
medians.

**Data sets.** ``uniform``: ``size`` random 256-bit hashes. ``clustered``: near-duplicate
families as real lists have them (one picture listed as several re-encoded or resized copies):
``size / family`` random base hashes, each with ``family - 1`` variants 1-16 random bits away,
rows shuffled. Queries, the same at every threshold: half *planted* (an indexed hash with 0..t
random bits flipped, split evenly over the thresholds t), half random. The data are made once,
saved, and read by each run's process.

Measured per side: build time from hex, queries/s single (one hash per call) and batch on one
thread at each threshold, recall and false matches against a numpy brute-force scan, memory
(resident set growth while building); for vigil also add/remove latency and the index file's
save and load time.
"""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from typing import Any

import numpy as np

from vigil.matching.codes import random_codes, unpack_hex

DATASETS = ("uniform", "clustered")
THRESHOLDS = (10, 31, 50)
VIGIL, PEER = "vigil", "threatexchange_pdqindex"
#: Largest distance of a clustered variant from its family's base hash.
FAMILY_SPREAD = 16
#: The --compare-threatexchange peer's modules, and how to get them.
PEER_MODULES = ("faiss", "threatexchange.signal_type.pdq.pdq_index")
PEER_INSTALL = "pip install -e '.[compare]' (./scripts/install --test includes it)"


@dataclass(frozen=True)
class BenchSpec:
    size: int
    queries: int
    thresholds: tuple[int, ...] = THRESHOLDS
    seed: int = 1
    updates: int = 1000
    dataset: str = "uniform"
    #: Hashes per near-duplicate family in the clustered data set.
    family: int = 8
    repeats: int = 3


def peer_missing() -> str | None:
    """None when HMA's index can be imported; else one line naming what is missing and how to
    install it. Cheap next to a benchmark: call it before doing any work."""
    import importlib

    for name in PEER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or name
            return (f"--compare-threatexchange needs HMA's index (threatexchange and faiss-cpu), "
                    f"but {missing!r} cannot be imported; install it with: {PEER_INSTALL}")
    return None


# -- data -------------------------------------------------------------------------------

def flip_random_bits(codes: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Copy of ``codes`` with ``counts[i]`` distinct random bits flipped in row ``i``
    (vectorised: every row gets a random rank per bit; the bits ranked below its count flip)."""
    out = codes.copy()
    counts = np.asarray(counts, dtype=np.int64)
    step = 65_536
    for lo in range(0, len(codes), step):
        c = counts[lo : lo + step]
        rank = rng.permuted(np.tile(np.arange(256, dtype=np.uint8), (len(c), 1)), axis=1)
        mask = rank < c[:, None]
        out[lo : lo + step] ^= np.packbits(mask, axis=1).view(np.uint64)
    return out


def make_codes(spec: BenchSpec) -> np.ndarray:
    """The indexed hashes of ``spec.dataset``, ``(size, 4)`` uint64."""
    if spec.dataset == "uniform":
        return random_codes(spec.size, spec.seed)
    if spec.dataset != "clustered":
        raise ValueError(f"unknown data set {spec.dataset!r}; choose from {', '.join(DATASETS)}")
    rng = np.random.default_rng(spec.seed + 7)
    bases = random_codes(-(-spec.size // spec.family), spec.seed)
    family_of = np.repeat(np.arange(len(bases)), spec.family)[: spec.size]
    is_base = np.zeros(spec.size, bool)
    is_base[:: spec.family] = True
    counts = np.where(is_base, 0, rng.integers(1, FAMILY_SPREAD + 1, spec.size))
    codes = flip_random_bits(bases[family_of], counts, rng)
    return codes[rng.permutation(spec.size)]


def make_queries(spec: BenchSpec, codes: np.ndarray) -> np.ndarray:
    """``spec.queries`` queries asked at every threshold: half *planted* (an indexed hash with
    0..t random bits flipped, the planted half split evenly over the thresholds t), half
    random."""
    rng = np.random.default_rng(spec.seed + 1000)
    planted_n = spec.queries // 2
    flips = np.concatenate([rng.integers(0, t + 1, n) for t, n in zip(
        spec.thresholds, np.diff(np.linspace(0, planted_n, len(spec.thresholds) + 1).astype(int)),
        strict=True)])
    planted = flip_random_bits(codes[rng.integers(0, len(codes), planted_n)], flips, rng)
    rand = random_codes(spec.queries - planted_n, spec.seed + 2000)
    return np.concatenate([planted, rand])


def brute_force(codes: np.ndarray, queries: np.ndarray,
                thresholds: tuple[int, ...]) -> dict[int, list[set[int]]]:
    """The truth: every index row within each threshold of each query (numpy, no index; one
    64-bit column at a time, which reads a quarter of the memory per step)."""
    cols = [np.ascontiguousarray(codes[:, k]) for k in range(4)]
    truth: dict[int, list[set[int]]] = {t: [] for t in thresholds}
    for q in queries:
        d = np.bitwise_count(cols[0] ^ q[0]).astype(np.uint16)
        for k in range(1, 4):
            d += np.bitwise_count(cols[k] ^ q[k])
        for t in thresholds:
            truth[t].append(set(np.flatnonzero(d <= t).tolist()))
    return truth


# -- measuring ----------------------------------------------------------------------------

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


@dataclass(frozen=True)
class Inputs:
    """Where a side's process reads its input from: one ``.npz`` file with the indexed codes
    (``codes``) and the queries (``queries``), made once by the parent process."""

    spec: BenchSpec
    path: str

    def hex(self) -> tuple[list[str], dict[int, list[str]]]:
        """The same hex strings for both sides: the list, and the queries per threshold."""
        with np.load(self.path) as data:
            queries = unpack_hex(data["queries"])
            return unpack_hex(data["codes"]), {t: queries for t in self.spec.thresholds}


def write_inputs(spec: BenchSpec, directory: str) -> tuple[Inputs, dict[int, list[set[int]]]]:
    """Make the data set and its queries once, save them for the sides' processes; returns
    them with the brute-force truth per threshold."""
    codes = make_codes(spec)
    queries = make_queries(spec, codes)
    path = os.path.join(directory, f"{spec.dataset}.npz")
    np.savez(path, codes=codes, queries=queries)
    return Inputs(spec, path), brute_force(codes, queries, spec.thresholds)


def run_vigil(inputs: Inputs) -> dict[str, Any]:
    from vigil.matching.index import PdqIndex
    from vigil.matching.indexfile import load_index, save_index

    spec = inputs.spec
    hexes, queries = inputs.hex()
    ids = np.arange(spec.size, dtype=np.int64)
    # Compile (or load the cached compiled kernels) outside the measured region.
    warm = PdqIndex.build(hexes[:1000], ids[:1000])
    warm.search_batch(hexes[:2], max(spec.thresholds))
    warm.search(hexes[0], max(spec.thresholds))
    rss0 = _rss_bytes()
    _reset_peak()
    t0 = time.perf_counter()
    index = PdqIndex.build(hexes, ids)  # parsing the hex included, as for the peer
    out: dict[str, Any] = {"build_s": time.perf_counter() - t0,
                           "memory_bytes": _rss_bytes() - rss0, "peak_bytes": _peak_bytes() - rss0,
                           "array_bytes": index.memory_bytes(), "found": {}}
    for t, qs in queries.items():
        t0 = time.perf_counter()
        found = [{m.id for m in index.search(q, t)} for q in qs]
        out[f"single_qps_{t}"] = len(qs) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        batch = index.search_batch(qs, t)
        out[f"batch_qps_{t}"] = len(qs) / (time.perf_counter() - t0)
        if [{m.id for m in batch.for_query(i)} for i in range(len(qs))] != found:
            raise AssertionError("single and batch queries disagree")
        out["found"][t] = [sorted(s) for s in found]
    out.update(_updates(index, spec, hexes))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.vpi")
        t0 = time.perf_counter()
        save_index(index, path)
        out["save_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = load_index(path)
        out["load_s"] = time.perf_counter() - t0
        if len(loaded) != len(index):
            raise AssertionError("the loaded index differs in size")
    return out


def _updates(index: Any, spec: BenchSpec, hexes: list[str]) -> dict[str, float]:
    """Additions and removals, one at a time, on the built index (vigil only: HMA's index
    rebuilds its id map on every addition)."""
    extra = random_codes(spec.updates, spec.seed + 4)
    add_us = []
    for i in range(spec.updates):
        t0 = time.perf_counter()
        index.add(extra[i : i + 1], [spec.size + i])
        add_us.append((time.perf_counter() - t0) * 1e6)
    victims = np.random.default_rng(spec.seed + 5).choice(spec.size, min(spec.updates, spec.size),
                                                          replace=False)
    remove_us = []
    for v in victims:
        t0 = time.perf_counter()
        index.remove([int(v)])
        remove_us.append((time.perf_counter() - t0) * 1e6)
    if len(set(index.search_batch(extra, 0).ids.tolist())) != spec.updates:
        raise AssertionError("an added hash is not found")
    gone = index.search_batch([hexes[v] for v in victims], 0)
    if set(gone.ids.tolist()) & set(victims.tolist()):
        raise AssertionError("a removed hash still matches")
    return {f"{name}_us_{q}": float(fn(values)) for name, values in (("add", add_us),
                                                                    ("remove", remove_us))
            for q, fn in (("p50", np.median), ("p99", lambda v: np.percentile(v, 99)),
                          ("max", np.max))}


def run_threatexchange(inputs: Inputs) -> dict[str, Any]:
    import faiss
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    class PeerIndex(PDQIndex[int]):
        """HMA's PDQIndex at a chosen threshold (its own is fixed at 31)."""

        threshold = 31

        @classmethod
        def get_match_threshold(cls) -> int:
            return cls.threshold

    faiss.omp_set_num_threads(1)
    spec = inputs.spec
    hexes, queries = inputs.hex()
    entries = list(zip(hexes, range(spec.size), strict=True))
    del hexes
    rss0 = _rss_bytes()
    _reset_peak()
    t0 = time.perf_counter()
    index = PeerIndex(entries)  # parses the hex itself
    out: dict[str, Any] = {"build_s": time.perf_counter() - t0,
                           "memory_bytes": _rss_bytes() - rss0, "peak_bytes": _peak_bytes() - rss0,
                           "found": {}}
    del entries
    for t, qs in queries.items():
        PeerIndex.threshold = t
        t0 = time.perf_counter()
        found = [{m.metadata for m in index.query(q)} for q in qs]
        out[f"single_qps_{t}"] = len(qs) / (time.perf_counter() - t0)
        # HMA's API takes one hash per call; its inner FAISS index takes a batch.
        t0 = time.perf_counter()
        index.index.search_with_distance_in_result(qs, t)
        out[f"batch_qps_{t}"] = len(qs) / (time.perf_counter() - t0)
        out["found"][t] = [sorted(s) for s in found]
    return out


SIDES: dict[str, Callable[[Inputs], dict[str, Any]]] = {
    VIGIL: run_vigil, PEER: run_threatexchange}


def _in_fresh_process(fn: Callable[[Inputs], dict[str, Any]], inputs: Inputs) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(fn, inputs).result()
        return result


def _recall(found: list[list[int]], truth: list[set[int]]) -> tuple[float, int]:
    hits = sum(len(truth[i] & set(f)) for i, f in enumerate(found))
    total = sum(len(t) for t in truth)
    false = sum(len(set(f) - truth[i]) for i, f in enumerate(found))
    return (hits / total if total else 1.0), false


def schedule(sides: list[str], repeats: int) -> list[str]:
    """Interleaved runs, the starting side alternating: A B, B A, A B, ..."""
    order: list[str] = []
    for r in range(repeats):
        order += sides if r % 2 == 0 else sides[::-1]
    return order


def run_dataset(spec: BenchSpec, compare: bool,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """One data set: every side ``spec.repeats`` times, interleaved; medians and ratios."""
    sides = [VIGIL, PEER] if compare else [VIGIL]
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-match-") as tmp:
        inputs, truth = write_inputs(spec, tmp)
        if progress is not None:
            progress(f"{spec.dataset}: data and brute-force truth ready")
        for i, side in enumerate(schedule(sides, spec.repeats), 1):
            r = _in_fresh_process(SIDES[side], inputs)
            for t, found in r.pop("found").items():
                r[f"recall_{t}"], r[f"false_matches_{t}"] = _recall(found, truth[t])
            runs[side].append(r)
            if progress is not None:
                progress(f"{spec.dataset}: run {i}/{len(sides) * spec.repeats} ({side}) done")
    out: dict[str, Any] = {"true_matches": {t: sum(len(s) for s in truth[t]) for t in truth}}
    for side, rs in runs.items():
        median = {k: float(np.median([r[k] for r in rs])) for k in rs[0]}
        for t in spec.thresholds:  # the worst run, not the median, for correctness
            median[f"recall_{t}"] = min(r[f"recall_{t}"] for r in rs)
            median[f"false_matches_{t}"] = max(r[f"false_matches_{t}"] for r in rs)
        out[side] = {"median": median, "runs": rs}
    if compare:
        v, p = out[VIGIL]["median"], out[PEER]["median"]
        ratios = {"build_speedup": p["build_s"] / v["build_s"],
                  "memory": v["memory_bytes"] / max(p["memory_bytes"], 1)}
        for t in spec.thresholds:
            for kind in ("single", "batch"):
                ratios[f"{kind}_qps_{t}"] = v[f"{kind}_qps_{t}"] / p[f"{kind}_qps_{t}"]
        out["ratios"] = ratios
    return out


def run(spec: BenchSpec, compare: bool, datasets: tuple[str, ...] = DATASETS,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every data set in ``datasets``; raises ``ValueError`` for an unknown one."""
    for d in datasets:
        if d not in DATASETS:
            raise ValueError(f"unknown data set {d!r}; choose from {', '.join(DATASETS)}")
    return {
        "size": spec.size, "queries": spec.queries, "thresholds": list(spec.thresholds),
        "seed": spec.seed, "repeats": spec.repeats, "family": spec.family,
        "machine": machine(), "input": "hex strings, parsed inside the timed region on both sides",
        "datasets": {d: run_dataset(replace(spec, dataset=d), compare, progress)
                     for d in datasets},
    }


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
