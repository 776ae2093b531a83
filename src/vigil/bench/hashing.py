"""``vigil bench hash``: image hashing throughput, vigil's batch hasher against threatexchange's.

The same files for both sides: ``images`` generated benign JPEGs (landscape-like patterns from
:func:`vigil.samples.pattern_image`) of about ``megapixels`` each, written once to a temporary
directory that is removed when the run ends or is interrupted. Three timings per round, the
order rotating from round to round so that neither side always runs on a warm or a cold
machine:

- **vigil**: :func:`vigil.matching.batch.hash_files` with ``jobs`` processes, what ``vigil hash``
  and report intake run — the full decoding pipeline of docs/hashing.md (orientation, colour
  profile, transparency) plus MD5 and SHA-256;
- **peer, one core**: threatexchange's ``pdq_from_file`` (HMA's hasher) in a loop, as HMA hashes;
- **peer, ``jobs`` processes**: the same function on a process pool of the same size, so the
  ratio that is like for like is printed too.

Reported: images/s per side (median of the rounds), the ratios of the medians, and how many
files both sides hash to the same PDQ (the pipelines differ only for rotated, profiled or
transparent pictures, which the generated set does not contain, so this should be all of
them).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.bench.match import machine
from vigil.matching.batch import hash_files
from vigil.matching.hashing import ImageHashes
from vigil.samples import encode, pattern_image


@dataclass(frozen=True)
class HashBenchSpec:
    images: int = 300
    megapixels: float = 1.0
    jobs: int = 2
    repeats: int = 3
    quality: int = 90


def peer_available() -> str | None:
    """None when threatexchange is importable; otherwise how to install it (one line)."""
    import importlib.util

    if importlib.util.find_spec("threatexchange") is None:
        return ("bench hash compares with threatexchange, which is not installed: "
                "install it with `./scripts/install --test` (or `pip install -e '.[compare]'`)")
    return None


def _size(megapixels: float) -> tuple[int, int]:
    # 4:3, as a camera's picture: w * h = megapixels * 1e6.
    h = round((megapixels * 1e6 * 3 / 4) ** 0.5)
    return h * 4 // 3, h


def make_images(root: Path, spec: HashBenchSpec,
                advance: Callable[[], None] | None = None) -> list[Path]:
    files = []
    size = _size(spec.megapixels)
    for i in range(spec.images):
        path = root / f"{i:05d}.jpg"
        path.write_bytes(encode(pattern_image(200_000 + i, size), quality=spec.quality))
        files.append(path)
        if advance:
            advance()
    return files


def _peer_one(path: str) -> str:
    from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_file

    return str(pdq_from_file(Path(path))[0])


def _vigil(files: list[Path], jobs: int) -> tuple[float, list[str]]:
    start = time.perf_counter()
    out = []
    for r in hash_files(files, jobs=jobs):
        if not r.ok or not isinstance(r.hashes, ImageHashes):
            raise RuntimeError(f"vigil could not hash {r.path}: {r.error}")
        out.append(r.hashes.pdq)
    return time.perf_counter() - start, out


def _peer_single(files: list[Path]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    out = [_peer_one(str(f)) for f in files]
    return time.perf_counter() - start, out


def _peer_pool(files: list[Path], jobs: int) -> tuple[float, list[str]]:
    # Timed from before the pool starts, as vigil's side is (hash_files starts its own).
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        out = list(pool.map(_peer_one, [str(f) for f in files], chunksize=4))
    return time.perf_counter() - start, out


def run(spec: HashBenchSpec, progress: Callable[[str, int, int], None] | None = None
        ) -> dict[str, Any]:
    """Run the benchmark; ``progress(stage, done, total)`` is called as work advances.
    Raises RuntimeError when the peer is missing or a file cannot be hashed."""
    missing = peer_available()
    if missing:
        raise RuntimeError(missing)
    sides: dict[str, Callable[[list[Path]], tuple[float, list[str]]]] = {
        "vigil": lambda f: _vigil(f, spec.jobs),
        "peer_single": _peer_single,
        "peer_pool": lambda f: _peer_pool(f, spec.jobs),
    }
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-hash-") as tmp:
        made = [0]

        def advance() -> None:
            made[0] += 1
            if progress:
                progress("making images", made[0], spec.images)

        files = make_images(Path(tmp), spec, advance)
        hashes: dict[str, list[str]] = {}
        names = list(sides)
        rounds = spec.repeats
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                s, out = sides[name](files)
                seconds[name].append(s)
                hashes[name] = out
            if progress:
                progress("timing", r + 1, rounds)
    same = sum(1 for a, b in zip(hashes["vigil"], hashes["peer_single"], strict=True) if a == b)
    rate = {name: len(files) / statistics.median(v) for name, v in seconds.items()}
    w, h = _size(spec.megapixels)
    return {
        "images": len(files), "image_size": f"{w}x{h} JPEG (q{spec.quality})",
        "jobs": spec.jobs, "repeats": rounds,
        "vigil_images_per_s": round(rate["vigil"], 1),
        "peer_single_images_per_s": round(rate["peer_single"], 1),
        "peer_pool_images_per_s": round(rate["peer_pool"], 1),
        "ratio_vs_peer_single": round(rate["vigil"] / rate["peer_single"], 3),
        "ratio_vs_peer_pool": round(rate["vigil"] / rate["peer_pool"], 3),
        "same_pdq": same,
        "seconds": {name: [round(x, 2) for x in v] for name, v in seconds.items()},
        "machine": machine(),
    }
