"""``vigil bench scan``: ``vigil scan`` end to end against threatexchange's hashing of the same
files on one core, in the same run.

The files: ``images`` benign JPEGs — Debian's opencv-doc example photos where installed, the rest
generated landscape-like patterns (:func:`vigil.samples.pattern_image`) — in a temporary folder
removed at the end. The hash set: ``hashes`` random PDQs (threatexchange's text format) with the
PDQs of one file in a hundred planted, so that there are hits to report. Loading the set is
timed apart (a scan loads it once, whatever the number of files).

- **vigil**: :func:`vigil.scan.run.hash_sources` on ``jobs`` processes plus
  :func:`vigil.scan.results.finalize` — everything ``vigil scan`` does: typing, MD5, SHA-1,
  SHA-256, PDQ through the decoding pipeline, blurred previews, the journal, matching through the
  match policy against the set, duplicates, series, and every output file;
- **peer**: threatexchange's ``pdq_from_file`` (HMA's hasher) in a loop on one core — hashing
  only, no matching: the peer's side is lighter than vigil's;
- **Dask** (``dask_workers``): the same scan's hashing on a local Dask cluster of 1, 2, ...
  worker processes (files shipped as bytes, as to a remote cluster), to show how it scales.

Reported: files/s per side (median of ``repeats``, sides alternating), their ratio, the set's
load time, and files/s per Dask cluster size.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.bench.match import machine
from vigil.executors import batch_executor
from vigil.matching.hashing import hash_image_bytes
from vigil.matching.listfile import load_list
from vigil.samples import encode, pattern_image
from vigil.scan.results import finalize
from vigil.scan.run import hash_sources

#: Benign example photos of Debian's opencv-doc (fruit, buildings, objects), when installed.
PHOTOS = Path("/usr/share/doc/opencv-doc/examples/data")


@dataclass(frozen=True)
class ScanBenchSpec:
    images: int = 500
    hashes: int = 100_000
    jobs: int = 2
    repeats: int = 1
    width: int = 640
    dask_workers: tuple[int, ...] = field(default_factory=tuple)
    seed: int = 1


def peer_missing() -> str | None:
    import importlib.util

    if importlib.util.find_spec("threatexchange") is None:
        return ("bench scan compares with threatexchange, which is not installed: "
                "pip install -e '.[compare]'")
    return None


def make_files(root: Path, spec: ScanBenchSpec, tell: Callable[[int], None]) -> list[Path]:
    files = []
    photos = sorted(p for p in PHOTOS.glob("*.jpg") if p.is_file()) if PHOTOS.is_dir() else []
    for i, p in enumerate(photos[: spec.images]):
        files.append(Path(shutil.copy(p, root / f"photo-{i:05d}.jpg")))
    size = (spec.width, spec.width * 3 // 4)
    for i in range(len(files), spec.images):
        path = root / f"{i // 1000:03d}" / f"{i:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(encode(pattern_image(300_000 + i, size), quality=88))
        files.append(path)
        if i % 100 == 0:
            tell(i)
    return files


def write_hash_set(path: Path, spec: ScanBenchSpec, planted: list[str]) -> None:
    rng = np.random.default_rng(spec.seed)
    with open(path, "w", encoding="ascii") as fh:
        for start in range(0, spec.hashes, 100_000):
            n = min(100_000, spec.hashes - start)
            raw = rng.integers(0, 256, (n, 32), dtype=np.uint8).tobytes().hex()
            fh.write("".join(f"pdq {raw[k * 64:(k + 1) * 64]}\n" for k in range(n)))
        fh.writelines(f"pdq {h}\n" for h in planted)


def _peer(files: list[Path]) -> float:
    from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_file

    start = time.perf_counter()
    for f in files:
        pdq_from_file(f)
    return time.perf_counter() - start


def run(spec: ScanBenchSpec, progress: Callable[[str, int, int], None] | None = None
        ) -> dict[str, Any]:
    missing = peer_missing()
    if missing:
        raise RuntimeError(missing)

    def tell(stage: str, done: int, total: int) -> None:
        if progress:
            progress(stage, done, total)

    with tempfile.TemporaryDirectory(prefix="vigil-bench-scan-") as tmp:
        root = Path(tmp)
        src = root / "seized"
        src.mkdir()
        files = make_files(src, spec, lambda i: tell("making images", i, spec.images))
        tell("making images", spec.images, spec.images)
        planted = [hash_image_bytes(files[i].read_bytes()).pdq
                   for i in range(0, len(files), 100)]
        set_path = root / "set.txt"
        write_hash_set(set_path, spec, planted)
        started = time.perf_counter()
        hash_set = load_list(set_path)
        load_s = time.perf_counter() - started
        seconds: dict[str, list[float]] = {"vigil": [], "peer": []}
        known = 0
        for r in range(spec.repeats):
            for side in (("vigil", "peer") if r % 2 == 0 else ("peer", "vigil")):
                if side == "peer":
                    seconds["peer"].append(_peer(files))
                    continue
                out = root / f"out-{r}"
                start = time.perf_counter()
                hash_sources([src], out, lambda: batch_executor(spec.jobs))
                known = finalize(out, [hash_set], sources=[str(src)])["known"]
                seconds["vigil"].append(time.perf_counter() - start)
                shutil.rmtree(out)
            tell("timing", r + 1, spec.repeats)
        dask = {}
        for n in spec.dask_workers:
            dask[str(n)] = round(len(files) / _dask(src, root / f"dask-{n}", n, hash_set), 1)
            tell(f"dask, {n} worker(s)", 1, 1)
    rate = {k: len(files) / statistics.median(v) for k, v in seconds.items()}
    return {
        "images": len(files), "image_size": f"{spec.width}x{spec.width * 3 // 4} JPEG (q88)",
        "photos": sum(1 for f in files if f.name.startswith("photo-")),
        "hashes": spec.hashes + len(planted), "known": known, "jobs": spec.jobs,
        "repeats": spec.repeats, "hash_set_load_s": round(load_s, 2),
        "vigil_files_per_s": round(rate["vigil"], 1), "peer_files_per_s": round(rate["peer"], 1),
        "ratio": round(rate["vigil"] / rate["peer"], 3),
        "seconds": {k: [round(x, 2) for x in v] for k, v in seconds.items()},
        "dask_files_per_s": dask, "machine": machine(),
    }


def _dask(src: Path, out: Path, workers: int, hash_set: Any) -> float:
    from distributed import LocalCluster

    from vigil.egress import EgressPolicy

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:  # type: ignore[no-untyped-call]
        policy = EgressPolicy.of(allow=["127.0.0.1"])
        start = time.perf_counter()
        hash_sources([src], out, lambda: batch_executor(workers, cluster.scheduler_address,
                                                        policy),
                     window=16 * workers, ship_bytes=True)
        finalize(out, [hash_set], sources=[str(src)])
        return time.perf_counter() - start
