"""A scan's results, from its journal: matched through the one match policy, grouped, written.

Two passes over ``journal.jsonl`` (:mod:`vigil.scan.run`), so that memory stays flat in the
number of files (48 bytes a file for grouping, the hits themselves, and at most
``report_limit`` rows per section of the report):

1. every file's hashes through :func:`vigil.matching.policy.match_items` against the hash sets
   (in batches, two at a time on threads), and the MD5s and PDQs into arrays for
   :func:`vigil.scan.groups.group`;
2. one line per file into each output:

``results.jsonl``  one object per file: ``path`` (``archive.zip!/inner/path`` inside an
                   archive), ``kind`` (image, video, other), ``size``, its hashes (``md5``,
                   ``sha1``, ``sha256``, ``pdq`` and ``quality``, ``vpdq``), ``verdict``
                   (``known``: a hash set matched, ``unknown``, ``error``), ``match_verdict``
                   (the policy's: ``verified_match``, ``unverified_match``, ``allowed``,
                   ``no_match``), ``matches`` (list, trust, signal type, distance, variant,
                   entry id and label, category, series, victim identified), ``duplicate_group``
                   and ``series`` (numbers, or null), ``error``
``results.csv``    the same, flat, one row per file (cells that a spreadsheet would run as a
                   formula are prefixed with ``'``)
``vics.json``      Project VIC VICS 1.3, written by :mod:`vigil.matching.vics` (the format's one
                   home): one medium per distinct MD5 (:func:`_vics_media`)
``report.html``    one self-contained page: the figures, known media, series, errors; pictures
                   only as reduced, greyscale previews, blurred into their pixels by default
``summary.json``   the figures, the hash sets with their trust, the thresholds and the
                   clustering method

A hit states its trust like every hit of vigil: ``verified`` (two organisations confirmed the
material), ``unverified`` — a reason for review, never for action — or, for an allow list, a
benign look-alike (``match_verdict`` ``allowed``; such a file counts as unknown and joins no
series).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import os
from array import array
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from vigil.matching.errors import InvalidSignal
from vigil.matching.listfile import FactsLookup, HashList
from vigil.matching.policy import Candidate, Item, Outcome, Sources, Verdict, match_items
from vigil.matching.signals import VpdqHash
from vigil.matching.vics import VicsMedia, VicsMediaFile, category_fields, write_vics_file
from vigil.matching.video import usable_frames
from vigil.scan.groups import (
    DUPLICATE_THRESHOLD,
    MAX_VIDEO_FRAMES,
    SERIES_METHOD,
    SERIES_THRESHOLD,
    Groups,
    group,
)
from vigil.scan.run import JOURNAL
from vigil.scan.work import Hashed

#: Files matched per batch (one batched PDQ query each).
BATCH = 512
#: Batches matched at once (threads).
MATCH_THREADS = 2
#: Rows per section of report.html, at most (every file is in results.jsonl and .csv).
REPORT_LIMIT = 2000

CSV_COLUMNS = ("path", "kind", "size", "verdict", "match_verdict", "trust", "lists",
               "distance", "variant", "category", "series_name", "victim_identified",
               "duplicate_group", "series", "md5", "sha1", "sha256", "pdq", "quality", "error")


@dataclass(frozen=True)
class Summary:
    figures: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.figures[key]


def _journal(out: Path) -> Iterator[Hashed]:
    with open(out / JOURNAL, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield Hashed.from_json(json.loads(line))


def _batches(out: Path) -> Iterator[list[Hashed]]:
    batch: list[Hashed] = []
    for h in _journal(out):
        batch.append(h)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _item(h: Hashed) -> Item:
    return h.content.item() if h.content is not None else Item()


def _hit(c: Candidate, facts: FactsLookup) -> dict[str, Any]:
    f = facts.of(c)
    out: dict[str, Any] = {
        "list": c.list.name, "trust": c.trust.value, "signal_type": c.signal_type.value,
        "distance": c.distance, "variant": c.variant, "id": str(c.key), "label": c.label,
        "category": f.category if f else None, "series": f.series if f else None,
        "victim_identified": f.victim_identified if f else None,
    }
    if c.query_match_percent is not None:
        out["query_match_percent"] = c.query_match_percent
        out["target_match_percent"] = c.target_match_percent
    return out


def _verdict(h: Hashed, outcome: Outcome) -> str:
    if outcome.verdict in (Verdict.VERIFIED, Verdict.UNVERIFIED):
        return "known"
    return "error" if h.problem else "unknown"


def finalize(out: Path, lists: Sequence[HashList], *, sources: Sequence[str] = (),
             duplicate_threshold: int = DUPLICATE_THRESHOLD,
             series_threshold: int = SERIES_THRESHOLD, thumbnails: str = "blurred",
             report_limit: int = REPORT_LIMIT) -> Summary:
    """Match, group and write every output of the scan in ``out`` (see the module docstring).
    Thresholds in PDQ bits (0-64)."""
    for name, t in (("duplicate threshold", duplicate_threshold),
                    ("series threshold", series_threshold)):
        if not 0 <= t <= 64:
            raise ValueError(f"the {name} must be 0-64 bits, got {t}")
    source = Sources(list(lists))
    facts = FactsLookup(lists)
    md5 = bytearray()  # 16 bytes a file
    pdq = bytearray()  # 32 bytes an image with a usable PDQ
    pdq_rows = array("q")
    unknown = bytearray()
    frames = bytearray()  # 32 bytes a vPDQ frame kept
    frame_rows = array("q")
    hits: dict[int, tuple[str, list[dict[str, Any]]]] = {}
    verdicts = bytearray()
    n = 0
    for batch, outcomes in _matched(source, _batches(out)):
        for h, outcome in zip(batch, outcomes, strict=True):
            v = _verdict(h, outcome)
            verdicts.append("kue".index(v[0]))
            if outcome.hits or outcome.verdict is Verdict.ALLOWED:
                hits[n] = (outcome.verdict.value, [_hit(c, facts) for c in outcome.hits])
            c = h.content
            md5 += bytes.fromhex(c.md5) if c is not None else bytes(16)
            usable = c.usable_pdq if c is not None else None
            if usable:
                pdq += bytes.fromhex(usable)
                pdq_rows.append(n)
            kept = _video_frames(c.vpdq) if c is not None and c.vpdq else []
            for frame in kept:
                frames += bytes.fromhex(frame)
                frame_rows.append(n)
            unknown.append(v == "unknown" and outcome.verdict is not Verdict.ALLOWED
                           and c is not None and c.kind in ("image", "video"))
            n += 1
    md5_arr = np.frombuffer(bytes(md5), dtype="<u8").astype(np.uint64).reshape(n, 2) \
        if n else np.zeros((0, 2), np.uint64)
    pdq_arr = np.zeros((n, 4), np.uint64)
    has_pdq = np.zeros(n, bool)
    if pdq_rows:
        rows = np.frombuffer(pdq_rows, dtype=np.int64)
        # The packed form of codes.pack_hex: the hex's 32 bytes as four little-endian words.
        pdq_arr[rows] = np.frombuffer(bytes(pdq), dtype="<u8").astype(np.uint64).reshape(-1, 4)
        has_pdq[rows] = True
    frames_arr = np.frombuffer(bytes(frames), dtype="<u8").astype(np.uint64).reshape(-1, 4)
    groups = group(md5_arr, pdq_arr, has_pdq, np.frombuffer(bytes(unknown), np.uint8) > 0,
                   duplicate_threshold, series_threshold, frames=frames_arr,
                   frame_rows=np.frombuffer(frame_rows, dtype=np.int64))
    figures = _write_all(out, groups, hits, lists, sources, thumbnails, report_limit)
    return Summary(figures)


def _matched(source: Sources, batches: Iterator[list[Hashed]]
             ) -> Iterator[tuple[list[Hashed], list[Outcome]]]:
    """Each batch with its outcomes, in order, matched on :data:`MATCH_THREADS` threads (the
    index's search releases the GIL: the second core takes the next batch's PDQ queries) with
    at most that many batches in memory."""
    with ThreadPoolExecutor(MATCH_THREADS, thread_name_prefix="vigil-scan-match") as pool:
        pending: deque[tuple[list[Hashed], Future[list[Outcome]]]] = deque()
        for batch in batches:
            pending.append((batch, pool.submit(match_items, source, [_item(h) for h in batch])))
            if len(pending) >= MATCH_THREADS:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _video_frames(vpdq: str) -> list[str]:
    """The frames of a video that take part in grouping: its distinct frames of quality
    >= 50, at most :data:`~vigil.scan.groups.MAX_VIDEO_FRAMES`, spread over its length."""
    try:
        usable = usable_frames(VpdqHash.parse(vpdq))
    except InvalidSignal:
        return []
    if len(usable) > MAX_VIDEO_FRAMES:
        step = len(usable) / MAX_VIDEO_FRAMES
        usable = [usable[int(k * step)] for k in range(MAX_VIDEO_FRAMES)]
    return usable


def _record(i: int, h: Hashed, groups: Groups,
            hits: dict[int, tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    c = h.content
    match_verdict, matches = hits.get(i, (Verdict.NONE.value, []))
    known = match_verdict in (Verdict.VERIFIED.value, Verdict.UNVERIFIED.value)
    dup, series = int(groups.duplicate[i]), int(groups.series[i])
    return {
        "path": h.path, "kind": c.kind if c else None, "size": h.size,
        "md5": c.md5 if c else None, "sha1": h.sha1, "sha256": c.sha256 if c else None,
        "pdq": c.pdq if c else None, "quality": c.quality if c else None,
        "vpdq": c.vpdq if c else None,
        "verdict": "known" if known else "error" if h.problem else "unknown",
        "match_verdict": match_verdict, "matches": matches,
        "duplicate_group": dup or None, "series": series or None, "error": h.problem,
    }


def _csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: no formula from a file name (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_row(r: dict[str, Any]) -> list[Any]:
    m = r["matches"]
    best = m[0] if m else {}
    row = {**r, "trust": best.get("trust"), "lists": ";".join(sorted({x["list"] for x in m})),
           "distance": best.get("distance"), "variant": best.get("variant"),
           "category": best.get("category"), "series_name": best.get("series"),
           "victim_identified": best.get("victim_identified")}
    return [_csv_cell("" if row.get(k) is None else row[k]) for k in CSV_COLUMNS]


def _write_all(out: Path, groups: Groups, hits: dict[int, tuple[str, list[dict[str, Any]]]],
               lists: Sequence[HashList], sources: Sequence[str], thumbnails: str,
               report_limit: int) -> dict[str, Any]:
    counts = {"files": 0, "known": 0, "known_verified": 0, "known_unverified": 0,
              "unknown": 0, "allowed": 0, "errors": 0, "images": 0, "videos": 0, "other": 0}
    known_rows: list[dict[str, Any]] = []
    series_rows: list[dict[str, Any]] = []
    error_rows: list[dict[str, Any]] = []
    media: dict[str, tuple[VicsMedia, list[VicsMediaFile]]] = {}
    updated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    more = {"known": 0, "series": 0, "errors": 0}
    tmp = {name: out / f"{name}.tmp" for name in ("results.jsonl", "results.csv")}
    with open(tmp["results.jsonl"], "w", encoding="utf-8") as jl, \
            open(tmp["results.csv"], "w", encoding="utf-8", newline="") as cf:
        writer = csv.writer(cf)
        writer.writerow(CSV_COLUMNS)
        for i, h in enumerate(_journal(out)):
            r = _record(i, h, groups, hits)
            jl.write(json.dumps(r, sort_keys=True) + "\n")
            writer.writerow(_csv_row(r))
            counts["files"] += 1
            kind = r["kind"] or ""
            counts[{"image": "images", "video": "videos"}.get(kind, "other")] += 1
            counts[{"known": "known", "unknown": "unknown", "error": "errors"}[r["verdict"]]] += 1
            if r["verdict"] == "known":
                best = r["matches"][0]["trust"]
                counts["known_verified" if best == "verified" else "known_unverified"] += 1
            counts["allowed"] += r["match_verdict"] == Verdict.ALLOWED.value
            _vics_media(media, r, updated)
            row = {**r, "thumbnail": _data_uri(h.thumbnail)}
            for name, rows, wanted in (("known", known_rows, r["verdict"] == "known"),
                                       ("series", series_rows, r["series"] is not None),
                                       ("errors", error_rows, r["verdict"] == "error")):
                if wanted:
                    if len(rows) < report_limit:
                        rows.append(row if name != "errors" else {**row, "thumbnail": None})
                    else:
                        more[name] += 1
    for name, p in tmp.items():
        os.replace(p, out / name)
    write_vics_file(out / "vics.json", (replace(m, media_files=tuple(files))
                                        for m, files in media.values()))
    figures: dict[str, Any] = {
        **counts,
        "duplicate_groups": groups.duplicate_groups,
        "files_in_duplicate_groups": int((groups.duplicate > 0).sum()),
        "series": groups.series_count,
        "files_in_series": int((groups.series > 0).sum()),
        "duplicate_threshold": groups.duplicate_threshold,
        "series_threshold": groups.series_threshold,
        "duplicate_method": (f"same MD5, or PDQ distance <= {groups.duplicate_threshold} bits "
                             "(images with PDQ quality >= 50)"),
        "series_method": SERIES_METHOD.format(threshold=groups.series_threshold),
        "hash_sets": [{"name": hl.ref.name, "trust": hl.ref.trust.value,
                       "pdq_threshold": hl.ref.pdq_threshold, "entries": len(hl.entries)}
                      for hl in lists],
        "sources": list(sources),
        "thumbnails": thumbnails,
        "written": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    _atomic_text(out / "summary.json", json.dumps(figures, indent=2, sort_keys=True) + "\n")
    series_rows.sort(key=lambda r: (r["series"], r["duplicate_group"] or 0))
    _atomic_text(out / "report.html", _report(figures, known_rows, series_rows, error_rows,
                                              more, thumbnails))
    return figures


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _data_uri(jpeg: bytes | None) -> str | None:
    return None if jpeg is None else "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


# -- VICS 1.3 -------------------------------------------------------------------------------

def _vics_media(media: dict[str, tuple[VicsMedia, list[VicsMediaFile]]], r: dict[str, Any],
                updated: str) -> None:
    """Add one file to the VICS media, one medium per MD5 (MediaID 1, 2, ... in the order
    first seen; every file with that MD5 is one of its ``MediaFiles``). A category is VICS's
    number where the hash set gave one, else the hash set's text in ``Tags``
    (:func:`~vigil.matching.vics.category_fields`); unknown media are uncategorised. PDQ goes
    to ``AlternativeHashes``."""
    if not r["md5"]:
        return
    path = r["path"]
    name = path.replace("!/", "/").rsplit("/", 1)[-1]
    where = path[: len(path) - len(name)].rstrip("/")
    found = VicsMediaFile(name or None, where or None, r["md5"], False)
    if r["md5"] in media:
        media[r["md5"]][1].append(found)
        return
    best = r["matches"][0] if r["verdict"] == "known" else {}
    category, tags = category_fields(best.get("category"))
    media[r["md5"]] = (VicsMedia(
        len(media) + 1, category, r["md5"], r["sha1"], series=best.get("series"),
        victim_identified=best.get("victim_identified"), pdq=r["pdq"], media_size=r["size"],
        is_precategorized=bool(best) and best.get("category") is not None, tags=tags,
        relative_file_path=path or None, date_updated=updated), [found])


# -- report.html ----------------------------------------------------------------------------

_ENV = Environment(loader=PackageLoader("vigil.scan", "templates"),
                   autoescape=select_autoescape(["html"]))


def _report(figures: dict[str, Any], known: list[dict[str, Any]],
            series: list[dict[str, Any]], errors: list[dict[str, Any]], more: dict[str, int],
            thumbnails: str) -> str:
    return _ENV.get_template("report.html").render(
        f=figures, known=known, series=series, errors=errors, more=more, mode=thumbnails)
