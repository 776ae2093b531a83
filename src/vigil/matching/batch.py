"""Hash many files: bad input never stops a batch.

Every file yields one :class:`FileResult`: the hashes, or the reason it could not be hashed.
Work runs on a process pool (``jobs`` workers) because PDQ hashing is CPU-bound; results come
back in input order.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from vigil.matching.errors import HashingError
from vigil.matching.hashing import HashOptions, ImageHashes, hash_image_bytes, read_limited
from vigil.matching.video import VideoHashes, hash_video_file, looks_like_video


@dataclass(frozen=True)
class FileResult:
    path: str
    hashes: ImageHashes | VideoHashes | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """The record ``vigil hash`` prints (one JSON object per line)."""
        if self.hashes is None:
            return {"path": self.path, "error": self.error}
        h = self.hashes
        if isinstance(h, ImageHashes):
            out: dict[str, Any] = {
                "path": self.path, "kind": "image", "md5": h.md5, "sha256": h.sha256, "sha1": h.sha1,
                "pdq": h.pdq, "quality": h.quality, "width": h.width, "height": h.height,
                "format": h.format,
            }
            if h.dihedral is not None:
                out["dihedral"] = h.dihedral
            if h.robust is not None:
                out["robust"] = h.robust
            return out
        return {
            "path": self.path, "kind": "video", "md5": h.md5, "sha256": h.sha256, "sha1": h.sha1,
            "width": h.width, "height": h.height, "duration": h.duration, "format": h.format,
            "frames": [
                {"pdq": f.pdq, "quality": f.quality, "timestamp": f.timestamp,
                 "frame_number": f.frame_number}
                for f in h.vpdq.frames
            ],
            "vpdq": h.vpdq.to_str(),
            **({"robust": {name: v.to_str() for name, v in h.robust.items()}}
               if h.robust is not None else {}),
        }


def hash_file(path: Path | str, options: HashOptions | None = None) -> FileResult:
    """Hash one file as an image or a video (sniffed from its bytes); never raises for bad
    input."""
    opts = options or HashOptions()
    p = Path(path)
    try:
        data = read_limited(p, opts.max_file_bytes)
        if data and looks_like_video(data[:512]):
            return FileResult(str(path), hash_video_file(p, opts))
        return FileResult(str(path), hash_image_bytes(data, opts))
    except HashingError as exc:
        return FileResult(str(path), error=exc.message)
    except MemoryError:
        return FileResult(str(path), error="out of memory while hashing")
    except Exception as exc:  # a decoder's own bug must not stop the batch
        return FileResult(str(path), error=f"cannot hash file: {type(exc).__name__}: {exc}")


def iter_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    """Files named, and files under directories named (recursively, sorted). Paths that do not
    exist are yielded too, so that they are reported as errors rather than skipped."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    yield Path(root) / name
        else:
            yield p


def ignore_interrupts() -> None:
    """The initializer of every worker pool: the parent decides when its workers stop (it
    cancels the queued work and shuts the pool down). A terminal's Ctrl-C reaches every process
    of the group; without this each worker would also print a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def process_pool(workers: int, mp_context: BaseContext | None = None) -> ProcessPoolExecutor:
    """A process pool whose workers leave interrupts to the parent (:func:`ignore_interrupts`).
    Its workers are started here with SIGINT ignored, so that they inherit that from the first
    instant: a Ctrl-C while a spawned worker is still importing would otherwise print a
    traceback from it. Shut it down with ``cancel_futures=True``."""
    pool = ProcessPoolExecutor(workers, mp_context=mp_context, initializer=ignore_interrupts)
    if threading.current_thread() is not threading.main_thread():  # signals are the main thread's
        return pool
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # Starts every worker now: a fork pool starts all of them at the first task, a spawn
        # pool one per task while none is idle, so as many tasks as workers.
        for _ in range(workers):
            pool.submit(int)
    finally:
        signal.signal(signal.SIGINT, previous)
    return pool


def _hash_one(args: tuple[str, HashOptions]) -> FileResult:
    return hash_file(args[0], args[1])


def hash_files(paths: Iterable[Path | str], options: HashOptions | None = None,
               jobs: int = 1) -> Iterator[FileResult]:
    """Hash files in order; ``jobs > 1`` uses a process pool."""
    opts = options or HashOptions()
    files = [str(p) for p in paths]
    if jobs <= 1 or len(files) < 2:
        for f in files:
            yield hash_file(f, opts)
        return
    done = 0
    while done < len(files):
        try:
            pool = process_pool(jobs)
            try:
                # A bounded window of work in flight keeps memory flat on huge batches.
                window: deque[Future[FileResult]] = deque()
                submitted = done
                while done < len(files):
                    while submitted < len(files) and len(window) < 4 * jobs:
                        window.append(pool.submit(_hash_one, (files[submitted], opts)))
                        submitted += 1
                    yield window.popleft().result()
                    done += 1
            finally:
                # Interrupted, or the caller stopped reading: what has not started never will.
                pool.shutdown(cancel_futures=True)
        except BrokenProcessPool:
            # A worker died (a decoder crashed, or the kernel killed it). Hash the first
            # unfinished file alone to see whether it is the culprit, then carry on.
            yield _isolated(files[done], opts)
            done += 1


def _isolated(path: str, opts: HashOptions) -> FileResult:
    try:
        with process_pool(1) as pool:
            return pool.submit(_hash_one, (path, opts)).result()
    except BrokenProcessPool:
        return FileResult(path, error="hashing crashed the worker process (corrupt or hostile file?)")
