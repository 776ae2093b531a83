"""``vigil bench crawl``: the crawler end to end on a loopback site of generated benign images,
against ``vigil hash`` (the batch hasher) on the same files in the same run.

The site runs in its own process (HTTP/1.1, keep-alive) on 127.0.0.1: an index page, pages
of 100 images each. A handful of the images are planted as active indicators, so the matching
and notice path runs too. Each side runs ``repeats`` times, alternating; the report gives the
medians and the ratio of the medians (crawl / hash)."""

from __future__ import annotations

import multiprocessing
import os
import platform
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: ``progress(stage, done, total)``: how far a stage ("generating images", "hash run 1/3", …) is.
Progress = Callable[[str, int, int], None]

PER_PAGE = 100


@dataclass(frozen=True)
class CrawlBenchSpec:
    images: int = 10_000
    workers: int = 2
    repeats: int = 3
    size: tuple[int, int] = (640, 480)
    planted: int = 10
    directory: Path | None = None


def _make(args: tuple[Path, int, tuple[int, int]]) -> None:
    from vigil.samples import encode, pattern_image

    path, seed, size = args
    if not path.exists():
        path.write_bytes(encode(pattern_image(seed, size)))


def make_site(root: Path, spec: CrawlBenchSpec, progress: Progress | None = None) -> list[Path]:
    """The images (generated once; an existing directory is reused) and the HTML pages."""
    from vigil.matching.batch import process_pool

    img = root / "img"
    img.mkdir(parents=True, exist_ok=True)
    files = [img / f"{i:06d}.jpg" for i in range(spec.images)]
    ctx = multiprocessing.get_context("spawn")
    pool = process_pool(spec.workers, ctx)
    try:
        for done, _ in enumerate(pool.map(_make, [(f, 100_000 + i, spec.size)
                                                  for i, f in enumerate(files)], chunksize=16), 1):
            if progress:
                progress("generating images", done, len(files))
    finally:
        pool.shutdown(cancel_futures=True)  # interrupted: the queued images are never made
    pages = (len(files) + PER_PAGE - 1) // PER_PAGE
    (root / "index.html").write_text("<html><body>" + "".join(
        f'<a href="/p/{p}.html">page {p}</a>' for p in range(pages)) + "</body></html>")
    (root / "p").mkdir(exist_ok=True)
    for p in range(pages):
        chunk = files[p * PER_PAGE:(p + 1) * PER_PAGE]
        (root / "p" / f"{p}.html").write_text("<html><body>" + "".join(
            f'<img src="/img/{f.name}" alt="">' for f in chunk) + "</body></html>")
    return files


class _Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, every keep-alive
    # response would wait ~40 ms for the client's delayed ACK (as any real server avoids).
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass


def _serve(root: str, port: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it (terminate) when done
    os.chdir(root)
    ThreadingHTTPServer(("127.0.0.1", port), _Handler).serve_forever()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hash_run(files: list[Path], workers: int, progress: Callable[[int], None]) -> float:
    from vigil.matching.batch import hash_files

    start = time.perf_counter()
    ok = 0
    for done, r in enumerate(hash_files(files, jobs=workers), 1):
        ok += r.ok
        progress(done)
    assert ok == len(files), f"{len(files) - ok} files failed to hash"
    return time.perf_counter() - start


def _world(url: str, files: list[Path], planted: int) -> Any:
    """A fresh database with two organisations and ``planted`` verified indicators."""
    from vigil.db import make_engine, session_factory, transaction
    from vigil.indicators import service as indicators
    from vigil.matching.hashing import hash_image_file
    from vigil.migrations import upgrade
    from vigil.orgs import service as orgs
    from vigil.orgs.access import KIND_SCOPES, OrgKind

    upgrade(url)
    factory = session_factory(make_engine(url))
    with transaction(factory) as s:
        keys = []
        for name, kind in (("Centre", OrgKind.CENTRE), ("Partner", OrgKind.PARTNER_CENTRE)):
            org = orgs.create_organisation(s, None, name, kind)
            keys.append(orgs.authenticate(s, orgs.issue_key(s, None, org.id, "bench",
                                                            set(KIND_SCOPES[kind])).token))
        indicators.create_list(s, None, "known-material", "verified", 31)
        step = max(1, len(files) // max(1, planted))
        created = indicators.propose(s, keys[0], [
            indicators.Proposal("md5", hash_image_file(f).md5, "known-material", "bench")
            for f in files[::step][:planted]])
        for ind in created:
            indicators.verify(s, keys[1], ind.id)
    return factory


def _crawl_run(factory: Any, base: str, workers: int,
               progress: Callable[[int], None]) -> tuple[float, Any]:
    from vigil.db import transaction
    from vigil.egress import EgressPolicy
    from vigil.indicators.matcher import LiveMatcher
    from vigil.takedown.crawler.crawl import CrawlOptions, create_crawl, run_crawl
    from vigil.takedown.crawler.executors import crawl_executor

    start = time.perf_counter()
    with transaction(factory) as s:
        crawl_id = create_crawl(s, None, [f"{base}/index.html"], ["127.0.0.1"], CrawlOptions(
            max_depth=2, max_pages=100_000, per_host_delay=0, in_flight=8 * workers)).id
    matcher = LiveMatcher()
    matcher.sync(factory)
    with crawl_executor(workers) as pool:
        # The loopback site is pinned: fetches refuse non-public addresses otherwise.
        stats = run_crawl(factory, crawl_id, executor=pool, matcher=matcher,
                          policy=EgressPolicy.of({"127.0.0.1": "127.0.0.1"}),
                          progress=lambda st: progress(st.media))
    return time.perf_counter() - start, stats


def _stage(tell: Progress, stage: str, total: int) -> Callable[[int], None]:
    return lambda done: tell(stage, done, total)


def run(spec: CrawlBenchSpec, progress: Progress | None = None) -> dict[str, Any]:
    """Both sides ``spec.repeats`` times. ``progress(stage, done, total)`` is called as images
    are generated, hashed and crawled. Everything but ``spec.directory`` lives in a temporary
    directory that is removed however the run ends (an interrupt included), and the site's
    server process is stopped."""
    tell = progress or (lambda stage, done, total: None)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-crawl-") as tmp:
        root = spec.directory or Path(tmp) / "site"
        files = make_site(root, spec, tell)
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(str(root), port),
                                                              daemon=True)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: the parent stops it
        try:
            server.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        base = f"http://127.0.0.1:{port}"
        try:
            time.sleep(0.5)
            factory = _world(f"sqlite:///{Path(tmp) / 'bench.db'}", files, spec.planted)
            hash_s: list[float] = []
            crawl_s: list[float] = []
            last = None
            n = len(files)
            for i in range(1, spec.repeats + 1):
                hash_s.append(_hash_run(files, spec.workers,
                                        _stage(tell, f"hash run {i}/{spec.repeats}", n)))
                seconds, last = _crawl_run(factory, base, spec.workers,
                                           _stage(tell, f"crawl run {i}/{spec.repeats}", n))
                crawl_s.append(seconds)
                assert last.media == len(files), f"crawled {last.media} of {len(files)} images"
                assert last.hits == spec.planted, f"{last.hits} hits, {spec.planted} planted"
        finally:
            server.terminate()
            server.join(5)
    hash_rate = len(files) / statistics.median(hash_s)
    crawl_rate = len(files) / statistics.median(crawl_s)
    return {"images": len(files), "image_size": f"{spec.size[0]}x{spec.size[1]} JPEG",
            "workers": spec.workers, "repeats": spec.repeats, "planted_hits": spec.planted,
            "crawl_images_per_s": round(crawl_rate, 1), "hash_images_per_s": round(hash_rate, 1),
            "ratio": round(crawl_rate / hash_rate, 3),
            "crawl_seconds": [round(x, 2) for x in crawl_s],
            "hash_seconds": [round(x, 2) for x in hash_s],
            "pages": last.pages if last else 0, "notices": last.notices if last else 0,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                       f"{platform.python_version()}"}
