"""Duplicate stacks and near-duplicate series among a scan's media.

**Duplicates**: files with the same MD5, or images whose PDQ hashes are within
``duplicate_threshold`` bits (default 10: re-encodings and resizes of one picture; PDQ's own
match threshold, 31, also joins different pictures of one scene). Stacks are the connected
components of those links.

**Near-duplicate series** (likely one series, for victim identification): among *unknown*
images only — known ones are identified already, allowed ones are benign — single-linkage
clustering of the duplicate stacks at ``series_threshold`` bits (default 31): two stacks are in
one series when a chain of images joins them, each link within the threshold. The links are
the answers of exact PDQ radius queries (:class:`~vigil.matching.index.PdqIndex`), the
components are found with union-find; a series has at least two stacks (one stack alone is a
set of duplicates, not a series). Only images with a PDQ of quality ≥ 50 take part (flat
pictures give colliding hashes).

**Videos** are compared by vPDQ, as vPDQ matches (:func:`vigil.matching.video.vpdq_compare`:
the share of one video's distinct frames of quality ≥ 50 that have a frame of the other
within the threshold): two videos are **duplicates** when each has at least
:data:`VIDEO_PERCENT` (80, vPDQ's query match percent) of its frames in the other within
``duplicate_threshold`` bits (the same video re-encoded or resized), and two unknown videos'
stacks are in one **series** when one has at least 80% of its frames in the other within
``series_threshold`` bits (a clip of the other, or a re-cut) and at least
:data:`MIN_CONTAINED_FRAMES` usable frames (a one-frame title card is in every video showing
it). The frame pairs come from exact radius queries over every video's frames (at most
:data:`MAX_VIDEO_FRAMES` a video, spread over its length); images and videos are never linked
to each other.

Single linkage chains: a long run of gradually changing pictures becomes one series even when
its ends are far apart — what is wanted for one photo session, and why the threshold is stated
with the results. Memory: 48 bytes per file (MD5 and PDQ), 40 bytes per video frame kept, the
links of one chunk of queries, and a count per pair of linked videos. Identical PDQs are joined
directly and searched once, so many byte-different copies of one picture (re-saved, EXIF
changed) cost one query. Time grows with the links: thousands of *near*-identical pictures are
still thousands squared links, found chunk by chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from vigil.matching.index import PdqIndex

DUPLICATE_THRESHOLD = 10
SERIES_THRESHOLD = 31
#: vPDQ's query match percent: the share of a video's frames found in the other.
VIDEO_PERCENT = 80.0
#: Frames of one video that take part (distinct, quality >= 50, spread over its length).
MAX_VIDEO_FRAMES = 256
#: Frames a video needs to join another's series by being (mostly) in it: a title card, logo
#: or test card of one frame is in every video that shows it.
MIN_CONTAINED_FRAMES = 5
#: Radius queries per chunk: the links of a chunk are unioned before the next is asked.
QUERY_CHUNK = 1024
#: Stated with every result, so that a reader knows what a "series" is.
SERIES_METHOD = ("single-linkage clustering of duplicate stacks of unknown media: PDQ "
                 "distance <= {threshold} bits between any two images of a chain, and for "
                 "videos at least 80% of one video's vPDQ frames within {threshold} bits of the "
                 "other's (exact PDQ radius queries, union-find)")


@numba.njit(cache=True)
def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


@numba.njit(cache=True)
def _union_pairs(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    for k in range(a.shape[0]):
        ra, rb = _find(parent, a[k]), _find(parent, b[k])
        if ra != rb:
            if ra < rb:  # the smaller index is the root: stable, order-independent ids
                parent[rb] = ra
            else:
                parent[ra] = rb


@numba.njit(cache=True)
def _roots(parent: np.ndarray) -> np.ndarray:
    out = np.empty(parent.shape[0], np.int64)
    for i in range(parent.shape[0]):
        out[i] = _find(parent, i)
    return out


@dataclass(frozen=True)
class Groups:
    """Per file (by its position in the scan): ``duplicate`` (stack number from 1, or 0: no
    duplicate) and ``series`` (series number from 1, or 0)."""

    duplicate: np.ndarray
    series: np.ndarray
    duplicate_threshold: int
    series_threshold: int

    @property
    def duplicate_groups(self) -> int:
        return int(self.duplicate.max(initial=0))

    @property
    def series_count(self) -> int:
        return int(self.series.max(initial=0))


def _link_pdqs(parent: np.ndarray, codes: np.ndarray, rows: np.ndarray,
               threshold: int) -> None:
    """Union every two of ``rows`` whose codes are within ``threshold`` bits. Identical codes
    are joined directly and searched once; the radius queries go in chunks of
    :data:`QUERY_CHUNK` and their links are unioned as they come, so memory stays bounded
    however many files share one picture."""
    if rows.shape[0] < 2:
        return
    uniq, first, inverse = np.unique(codes[rows], axis=0, return_index=True,
                                     return_inverse=True)
    rep = rows[first]  # one row per distinct code
    _union_pairs(parent, rep[np.asarray(inverse).reshape(-1)], rows)
    if uniq.shape[0] < 2:
        return
    index = PdqIndex.build(uniq, np.arange(uniq.shape[0], dtype=np.int64))
    for start in range(0, uniq.shape[0], QUERY_CHUNK):
        found = index.search_batch(uniq[start:start + QUERY_CHUNK], threshold)
        q = found.query + start
        keep = q != found.ids
        _union_pairs(parent, rep[q[keep]], rep[found.ids[keep]])


def _video_links(frames: np.ndarray, frame_rows: np.ndarray, threshold: int,
                 both: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of videos (file rows) whose vPDQ frames match at ``threshold`` bits: each has at
    least :data:`VIDEO_PERCENT` of its frames in the other (``both``), or one of them does —
    one with at least :data:`MIN_CONTAINED_FRAMES` frames, so that a one-frame title card
    cannot chain every video holding it into a series. ``frames``: ``(m, 4)`` packed frame
    PDQs, distinct within a video; ``frame_rows``: the file row of each frame. The radius
    queries go in chunks; what is kept between them is a count per pair of videos."""
    videos, per_video = np.unique(frame_rows, return_counts=True)
    if videos.shape[0] < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    index = PdqIndex.build(frames, np.arange(frames.shape[0], dtype=np.int64))
    counts: dict[tuple[int, int], int] = {}
    for start in range(0, frames.shape[0], QUERY_CHUNK):
        found = index.search_batch(frames[start:start + QUERY_CHUNK], threshold)
        q = found.query + start
        ra, rb = frame_rows[q], frame_rows[found.ids]
        other = ra != rb
        # Frames of video a with a close frame in video b: distinct (a, b, frame of a); the
        # chunks split the query frames, so their counts add up.
        hits = np.unique(np.stack([ra[other], rb[other], q[other]], axis=1), axis=0)
        if hits.shape[0] == 0:
            continue
        pairs, found_frames = np.unique(hits[:, :2], axis=0, return_counts=True)
        for (a, b), k in zip(pairs.tolist(), found_frames.tolist(), strict=True):
            counts[(a, b)] = counts.get((a, b), 0) + k
    total = dict(zip(videos.tolist(), per_video.tolist(), strict=True))
    share = {pair: 100.0 * k / total[pair[0]] for pair, k in counts.items()}
    out_a, out_b = [], []
    for (a, b), pct in share.items():
        if a >= b:
            continue
        back = share.get((b, a), 0.0)
        if both:
            linked = pct >= VIDEO_PERCENT and back >= VIDEO_PERCENT
        else:
            linked = ((pct >= VIDEO_PERCENT and total[a] >= MIN_CONTAINED_FRAMES)
                      or (back >= VIDEO_PERCENT and total[b] >= MIN_CONTAINED_FRAMES))
        if linked:
            out_a.append(a)
            out_b.append(b)
    return np.asarray(out_a, np.int64), np.asarray(out_b, np.int64)


def _numbered(roots: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Component numbers from 1 in order of first appearance, for components of at least two
    of ``members``; 0 elsewhere."""
    out = np.zeros(roots.shape[0], np.int64)
    r = roots[members]
    uniq, first, counts = np.unique(r, return_index=True, return_counts=True)
    big = counts >= 2
    order = np.argsort(first[big], kind="stable")
    numbers = dict(zip(uniq[big][order].tolist(), range(1, int(big.sum()) + 1), strict=True))
    for i in members.tolist():
        out[i] = numbers.get(int(roots[i]), 0)
    return out


def group(md5: np.ndarray, pdq: np.ndarray, has_pdq: np.ndarray, unknown: np.ndarray,
          duplicate_threshold: int = DUPLICATE_THRESHOLD,
          series_threshold: int = SERIES_THRESHOLD, *,
          frames: np.ndarray | None = None, frame_rows: np.ndarray | None = None) -> Groups:
    """Duplicate stacks and series of ``n`` files.

    ``md5``: ``(n, 2)`` uint64 (the 16 bytes; rows of zeros: no MD5, e.g. unreadable);
    ``pdq``: ``(n, 4)`` uint64 packed PDQs (:func:`vigil.matching.codes.pack_hex`);
    ``has_pdq``: which rows have a usable PDQ; ``unknown``: which rows (unknown images and
    videos) may join a series; ``frames`` / ``frame_rows``: videos' vPDQ frames, ``(m, 4)``
    packed, distinct within a video, and the file row of each. Thresholds in bits, 0-64."""
    n = md5.shape[0]
    if frames is None or frame_rows is None:
        frames, frame_rows = np.zeros((0, 4), np.uint64), np.zeros(0, np.int64)
    parent = np.arange(n, dtype=np.int64)
    has_md5 = np.any(md5 != 0, axis=1)
    rows = np.flatnonzero(has_md5)
    if rows.shape[0] > 1:
        order = rows[np.lexsort((md5[rows, 1], md5[rows, 0]))]
        same = np.all(md5[order[1:]] == md5[order[:-1]], axis=1)
        _union_pairs(parent, order[:-1][same], order[1:][same])
    _link_pdqs(parent, pdq, np.flatnonzero(has_pdq), duplicate_threshold)
    a, b = _video_links(frames, frame_rows, duplicate_threshold, both=True)
    _union_pairs(parent, a, b)
    dup_roots = _roots(parent)
    has_frames = np.zeros(n, bool)
    has_frames[frame_rows] = True
    duplicate = _numbered(dup_roots, np.flatnonzero(has_md5 | has_pdq | has_frames))

    # Series: the stacks of unknown images and videos, linked at the series threshold.
    candidates = np.flatnonzero((has_pdq | has_frames) & unknown)
    series_parent = dup_roots.copy()
    _link_pdqs(series_parent, pdq, np.flatnonzero(has_pdq & unknown), series_threshold)
    keep = unknown[frame_rows]
    a, b = _video_links(frames[keep], frame_rows[keep], series_threshold, both=False)
    _union_pairs(series_parent, a, b)
    series_roots = _roots(series_parent)
    series = np.zeros(n, np.int64)
    if candidates.shape[0]:
        # A series needs two different stacks: count distinct stack roots per series root.
        pairs = np.unique(np.stack([series_roots[candidates], dup_roots[candidates]], axis=1),
                          axis=0)
        roots, stacks = np.unique(pairs[:, 0], return_counts=True)
        multi = set(roots[stacks >= 2].tolist())
        members = np.array([i for i in candidates.tolist() if int(series_roots[i]) in multi],
                           dtype=np.int64)
        if members.shape[0]:
            series = _numbered(series_roots, members)
    return Groups(duplicate, series, duplicate_threshold, series_threshold)
