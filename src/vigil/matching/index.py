"""The PDQ match index: exact Hamming-radius search over 256-bit hashes.

Design (see docs/dev/decisions/0002-pdq-index.md for the reasoning and the numbers):

* **Exact.** Multi-index hashing over 12 chunks of 21-22 bits (11 of 23-24 bits in segments
  of 4M hashes or more) with the refined pigeonhole rule (see :mod:`vigil.matching._kernels`)
  finds every stored hash within the threshold; each candidate's full distance is checked, so
  nothing beyond it is returned. Thresholds 0-64 are chosen per query. When probing would cost
  more than reading everything (large thresholds, small segments), the kernel scans instead —
  still exact.
* **Compact.** Per hash: 32 bytes of code, 8 of id, 1 of liveness and 12 (or 11) x 4 bytes of
  postings — about 90 bytes plus the bucket tables, against ~450-600 for HMA's FAISS index.
* **Mutable without rebuilding.** Like a log-structured merge tree: a large *main* segment, a
  smaller *delta* segment, and an unindexed *tail* (at most ``tail_limit`` hashes, scanned
  linearly). Additions go to the tail; a full tail is indexed into the delta (cost: the delta's
  size), and a delta larger than ``delta_ratio`` of the main is merged into it. Removal clears
  one liveness byte, so a removed hash never matches again from the next query on.
* **Safe to read while written.** Writers hold a lock; readers take a snapshot of the segment
  references, which writers replace rather than mutate (except the liveness bytes and slots
  beyond the visible length, which a reader never relies on).

Ids are caller-chosen int64 values (row numbers, indicator ids); the index never interprets them.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vigil.matching import _kernels
from vigil.matching.codes import as_codes
from vigil.matching.errors import DuplicateEntry, InvalidSignal
from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD, PDQ_HEX_LEN

MAX_THRESHOLD = 64

_BALL, _BALL_ADDR = _kernels.ball_tables()


@dataclass(frozen=True, slots=True)
class IndexMatch:
    id: int
    distance: int


@dataclass(frozen=True)
class BatchMatches:
    """All hits of a batch query, ordered by query, then distance, then id."""

    query: np.ndarray  # int64 index into the batch
    ids: np.ndarray  # int64
    distances: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.query.shape[0])

    def for_query(self, i: int) -> list[IndexMatch]:
        lo, hi = np.searchsorted(self.query, [i, i + 1])
        return [
            IndexMatch(int(a), int(b))
            for a, b in zip(self.ids[lo:hi], self.distances[lo:hi], strict=True)
        ]


def _empty_tables(chunks: int) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.zeros((chunks, (1 << _kernels.MIN_ADDR_BITS) + 1), dtype=np.uint32),
        np.empty((chunks, 0), dtype=np.uint32),
    )


@dataclass(frozen=True)
class _Segment:
    """Codes, ids and liveness in slots ``0 .. total``; slots ``0 .. indexed`` are covered by the
    chunk tables (one row per chunk of ``layout``, :func:`vigil.matching._kernels.layout`) and
    by ``sorted_ids`` (for lookups by id)."""

    codes: np.ndarray
    ids: np.ndarray
    alive: np.ndarray
    off: np.ndarray
    ent: np.ndarray
    addr_bits: int
    sorted_ids: np.ndarray
    sorted_slots: np.ndarray
    indexed: int
    total: int
    layout: np.ndarray

    def grown_to(self, total: int, codes: np.ndarray | None = None, ids: np.ndarray | None = None,
                 alive: np.ndarray | None = None) -> _Segment:
        """The same segment with ``total`` slots visible (and, if given, larger arrays)."""
        return _Segment(self.codes if codes is None else codes, self.ids if ids is None else ids,
                        self.alive if alive is None else alive, self.off, self.ent,
                        self.addr_bits, self.sorted_ids, self.sorted_slots, self.indexed, total,
                        self.layout)

    @classmethod
    def build(cls, codes: np.ndarray, ids: np.ndarray, capacity: int | None = None,
              chunks: int | None = None) -> _Segment:
        """A segment over ``codes``/``ids`` with room for ``capacity`` slots, its tables in the
        layout of ``chunks`` chunks (by default the one for its size)."""
        n = codes.shape[0]
        chunks = chunks or _kernels.chunks_for(n)
        layout = _kernels.layout(chunks)
        cap = max(n, capacity or 0)
        all_codes = np.empty((cap, 4), dtype=np.uint64)
        all_codes[:n] = codes
        all_ids = np.empty(cap, dtype=np.int64)
        all_ids[:n] = ids
        alive = np.zeros(cap, dtype=np.uint8)
        alive[:n] = 1
        bits = _kernels.addr_bits_for(n, chunks)
        limit = _kernels.max_segment_size(bits, chunks)
        if n >= limit:
            raise ValueError(f"an index segment holds at most {limit - 1}"
                             " hashes; split larger lists over several indexes")
        if n:
            off, ent = _kernels.build_tables(all_codes[:n], bits, layout)
        else:
            bits = _kernels.MIN_ADDR_BITS
            off, ent = _empty_tables(chunks)
        live_ids = all_ids[:n]
        if n < 2 or bool((live_ids[1:] > live_ids[:-1]).all()):
            # Ids already ascending (the usual bulk case): look them up in place and save
            # 16 bytes per hash. An empty sorted_slots means "slot = position".
            return cls(all_codes, all_ids, alive, off, ent, bits, live_ids,
                       np.empty(0, np.int64), n, n, layout)
        order = np.argsort(live_ids, kind="stable")
        return cls(all_codes, all_ids, alive, off, ent, bits, live_ids[order],
                   order.astype(np.int64), n, n, layout)

    def locate(self, ids: np.ndarray) -> np.ndarray:
        """Slot of each id among the indexed slots if it is alive there, else -1."""
        if len(self.sorted_ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.searchsorted(self.sorted_ids, ids)
        pos = np.minimum(pos, len(self.sorted_ids) - 1)
        slots = self.sorted_slots[pos] if len(self.sorted_slots) else pos
        found = (self.sorted_ids[pos] == ids) & (self.alive[slots] == 1)
        return np.where(found, slots, -1)


@dataclass
class _Stats:
    main_rebuilds: int = 0
    delta_rebuilds: int = 0


class PdqIndex:
    """Exact Hamming-radius index over PDQ hashes (see the module docstring)."""

    #: How the kernel searches a segment: "auto" (by cost), "probe" or "scan". Not a tuning
    #: knob for users — it lets the tests exercise both exact paths on small data.
    STRATEGIES: ClassVar[dict[str, int]] = {"auto": 0, "probe": 1, "scan": 2}

    def __init__(self, *, tail_limit: int = 4096, delta_ratio: float = 0.125,
                 min_merge: int = 65536, strategy: str = "auto", chunks: int | None = None) -> None:
        """``chunks`` fixes the layout of every segment (12 or 11; by default each segment's
        size chooses it). Like ``strategy``, not a tuning knob for users: it lets the tests
        check both layouts on small data."""
        if strategy not in self.STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(self.STRATEGIES)}")
        if chunks is not None:
            _kernels.layout(chunks)  # raises ValueError for a layout that does not exist
        self._chunks = chunks
        self._strategy = self.STRATEGIES[strategy]
        self._tail_limit = tail_limit
        self._delta_ratio = delta_ratio
        self._min_merge = min_merge
        self._lock = threading.RLock()
        # (main, delta), replaced as one reference so that a reader never pairs a new main
        # with an old delta (which would report the merged entries twice).
        self._segs = (_Segment.build(np.empty((0, 4), np.uint64), np.empty(0, np.int64),
                                     chunks=chunks),
                      _Segment.build(np.empty((0, 4), np.uint64), np.empty(0, np.int64),
                                     capacity=tail_limit, chunks=chunks))
        self._tail: dict[int, int] = {}  # id -> delta slot, for slots delta.indexed .. total
        self._count = 0
        self._main_dead = 0
        self.stats = _Stats()
        self._kernel_args: tuple[object, tuple[object, ...]] = (None, ())
        self._out = threading.local()  # per-thread result buffers of single queries

    @property
    def _main(self) -> _Segment:
        return self._segs[0]

    @property
    def _delta(self) -> _Segment:
        return self._segs[1]

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def build(cls, hashes: np.ndarray | Sequence[str], ids: Iterable[int] | np.ndarray,
              **options: int | float | str) -> PdqIndex:
        """Bulk-build an index (the fast path: one counting sort per chunk)."""
        index = cls(**options)  # type: ignore[arg-type]
        codes = as_codes(hashes)
        id_arr = _as_ids(ids, codes.shape[0])
        _check_unique(id_arr)
        with index._lock:
            index._segs = (_Segment.build(codes, id_arr, chunks=index._chunks), index._segs[1])
            index._count = codes.shape[0]
        return index

    def __len__(self) -> int:
        return self._count

    # -- as arrays (a memory-mapped file shared between processes) ------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """Every live entry as the arrays of one segment, chunk tables included: ``codes``
        (n, 4) uint64, ``ids`` (n,) int64, ``off`` (chunks, 2**bits + 1) uint32, ``ent``
        (chunks, n) uint32 (chunks: 12 or 11, the layout), ``sorted_ids`` and ``sorted_slots``
        (int64; both empty when ids ascend). Merges the delta and drops removed entries first
        (:meth:`compact`) if there are any. The arrays are the index's own: never write to
        them."""
        with self._lock:
            main, delta = self._segs
            if delta.total or main.total != main.indexed or self._main_dead:
                self.compact()
                main = self._main
            n = main.total
            ordered = len(main.sorted_slots) == 0  # then sorted_ids is ids itself
            return {"codes": main.codes[:n], "ids": main.ids[:n], "off": main.off,
                    "ent": main.ent,
                    "sorted_ids": np.empty(0, np.int64) if ordered else main.sorted_ids,
                    "sorted_slots": main.sorted_slots}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], **options: int | float | str) -> PdqIndex:
        """An index over arrays from :meth:`arrays` (typically memory-mapped read-only), used in
        place: nothing is copied but a liveness byte per entry. Every structural claim the
        search kernel relies on is checked first (shapes, dtypes, bucket offsets, every table
        entry pointing at a real slot, ids unique), so a damaged table is refused, never read
        out of bounds. Raises ValueError naming the problem."""
        try:
            codes, ids, off, ent = arrays["codes"], arrays["ids"], arrays["off"], arrays["ent"]
            sorted_ids, sorted_slots = arrays["sorted_ids"], arrays["sorted_slots"]
        except KeyError as exc:
            raise ValueError(f"index arrays lack {exc.args[0]!r}") from None
        n = ids.shape[0] if ids.ndim == 1 else -1
        if (codes.dtype != np.uint64 or codes.shape != (n, 4) or ids.dtype != np.int64
                or off.dtype != np.uint32 or ent.dtype != np.uint32
                or sorted_ids.dtype != np.int64 or sorted_slots.dtype != np.int64):
            raise ValueError("index arrays have the wrong dtypes or shapes")
        index = cls(**options)  # type: ignore[arg-type]
        if n == 0:
            return index
        bits = int(off.shape[1] - 1).bit_length() - 1 if off.ndim == 2 else -1
        chunks = int(off.shape[0]) if off.ndim == 2 else -1
        if (chunks not in _kernels.LAYOUTS
                or not _kernels.MIN_ADDR_BITS <= bits <= _kernels.max_addr_bits(chunks)
                or off.shape != (chunks, (1 << bits) + 1)
                or ent.shape != (chunks, n) or n >= _kernels.max_segment_size(bits, chunks)):
            raise ValueError("index arrays: chunk tables do not fit the entries")
        if (off[:, 0] != 0).any() or (off[:, -1] != n).any() or (off[:, 1:] < off[:, :-1]).any():
            raise ValueError("index arrays: bucket offsets are not ascending from 0 to n")
        layout = _kernels.layout(chunks)
        for c in range(chunks):
            low = np.uint32(layout[2, c] - bits)
            if int((ent[c] >> low).max()) >= n:
                raise ValueError("index arrays: a table entry points beyond the entries")
        if len(sorted_slots) == 0:
            if len(sorted_ids) or not bool((ids[1:] > ids[:-1]).all()):
                raise ValueError("index arrays: ids neither ascend nor come with an order")
            sorted_ids = ids
        elif (sorted_slots.shape != (n,) or sorted_ids.shape != (n,)
              or int(sorted_slots.min()) < 0 or int(sorted_slots.max()) >= n
              or not bool((sorted_ids[1:] > sorted_ids[:-1]).all())
              or not bool((ids[sorted_slots] == sorted_ids).all())):
            raise ValueError("index arrays: the id order is not a sorted permutation")
        main = _Segment(codes, ids, np.ones(n, np.uint8), off, ent, bits, sorted_ids,
                        sorted_slots, n, n, layout)
        with index._lock:
            index._segs = (main, index._segs[1])
            index._count = n
        return index

    # -- mutation ---------------------------------------------------------------------------

    def add(self, hashes: np.ndarray | Sequence[str], ids: Iterable[int] | np.ndarray) -> None:
        """Add hashes under new ids. Raises :class:`DuplicateEntry` (and adds nothing) if an id
        is already present or repeated in the batch."""
        codes = as_codes(hashes)
        id_arr = _as_ids(ids, codes.shape[0])
        if not len(id_arr):
            return
        with self._lock:
            _check_unique(id_arr)
            present = self._locate(id_arr)
            if (present[0] != 0).any():
                dup = int(id_arr[np.argmax(present[0] != 0)])
                raise DuplicateEntry(f"id {dup} is already in the index")
            self._append(codes, id_arr)
            self._count += len(id_arr)
            self._maintain()

    def remove(self, ids: Iterable[int] | np.ndarray) -> int:
        """Remove entries by id; unknown ids are ignored. Returns how many were removed. A
        removed hash no longer matches from the next query on."""
        id_arr = np.unique(_as_ids(ids, None))
        with self._lock:
            where, slots = self._locate(id_arr)
            removed = 0
            for seg_code, seg in ((1, self._main), (2, self._delta)):
                mask = where == seg_code
                if mask.any():
                    seg.alive[slots[mask]] = 0
                    removed += int(mask.sum())
            for ident in id_arr[where == 3]:
                slot = self._tail.pop(int(ident))
                self._delta.alive[slot] = 0
                removed += 1
            self._count -= removed
            self._main_dead += int((where == 1).sum())
            if self._main_dead > max(1024, self._main.total // 4):
                self.compact()
            return removed

    def __contains__(self, ident: int) -> bool:
        with self._lock:
            return bool(self._locate(np.array([ident], dtype=np.int64))[0][0] != 0)

    def compact(self) -> None:
        """Merge everything alive into one main segment (drops removed entries)."""
        with self._lock:
            codes, ids = self._alive_entries()
            main = _Segment.build(codes, ids, chunks=self._chunks)
            delta = _Segment.build(np.empty((0, 4), np.uint64), np.empty(0, np.int64),
                                   capacity=self._tail_limit, chunks=self._chunks)
            self._segs = (main, delta)
            self._tail = {}
            self._main_dead = 0
            self.stats.main_rebuilds += 1

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, ids)`` of every live entry."""
        with self._lock:
            return self._alive_entries()

    def _alive_entries(self) -> tuple[np.ndarray, np.ndarray]:
        parts_c, parts_i = [], []
        for seg in (self._main, self._delta):
            live = seg.alive[: seg.total] == 1
            parts_c.append(seg.codes[: seg.total][live])
            parts_i.append(seg.ids[: seg.total][live])
        return np.concatenate(parts_c), np.concatenate(parts_i)

    def _locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(where, slot) per id: where is 0 absent, 1 main, 2 delta (indexed part), 3 tail."""
        where = np.zeros(len(ids), dtype=np.int8)
        slots = np.full(len(ids), -1, dtype=np.int64)
        m = self._main.locate(ids)
        where[m >= 0] = 1
        slots[m >= 0] = m[m >= 0]
        d = self._delta.locate(ids)
        where[d >= 0] = 2
        slots[d >= 0] = d[d >= 0]
        if self._tail:
            for k, ident in enumerate(ids):
                slot = self._tail.get(int(ident))
                if slot is not None:
                    where[k] = 3
                    slots[k] = slot
        return where, slots

    def _append(self, codes: np.ndarray, ids: np.ndarray) -> None:
        seg = self._delta
        start, end = seg.total, seg.total + len(ids)
        if end > seg.codes.shape[0]:
            cap = max(end, int(seg.codes.shape[0] * 1.5) + self._tail_limit)
            grown_codes = np.empty((cap, 4), np.uint64)
            grown_codes[: seg.total] = seg.codes[: seg.total]
            grown_ids = np.empty(cap, np.int64)
            grown_ids[: seg.total] = seg.ids[: seg.total]
            grown_alive = np.zeros(cap, np.uint8)
            grown_alive[: seg.total] = seg.alive[: seg.total]
            seg = seg.grown_to(seg.total, grown_codes, grown_ids, grown_alive)
        seg.codes[start:end] = codes
        seg.ids[start:end] = ids
        seg.alive[start:end] = 1
        for k, ident in enumerate(ids.tolist()):
            self._tail[ident] = start + k
        # Publish the new length only after the slots are written.
        self._segs = (self._segs[0], seg.grown_to(end))

    def _maintain(self) -> None:
        delta = self._delta
        if delta.total - delta.indexed < self._tail_limit:
            return
        if delta.total > max(self._min_merge, self._delta_ratio * self._main.total):
            self.compact()
            return
        live = delta.alive[: delta.total] == 1
        rebuilt = _Segment.build(delta.codes[: delta.total][live], delta.ids[: delta.total][live],
                                 capacity=int(live.sum()) + self._tail_limit, chunks=self._chunks)
        self._segs = (self._segs[0], rebuilt)
        self._tail = {}
        self.stats.delta_rebuilds += 1

    # -- queries ----------------------------------------------------------------------------

    def search(self, hash_: str | np.ndarray,
               threshold: int = PDQ_DEFAULT_THRESHOLD) -> list[IndexMatch]:
        """Every entry within ``threshold`` bits of one hash, nearest first."""
        if type(threshold) is not int or not 0 <= threshold <= MAX_THRESHOLD:
            if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer) \
                    or not 0 <= threshold <= MAX_THRESHOLD:
                raise InvalidSignal(
                    f"threshold must be between 0 and {MAX_THRESHOLD}, got {threshold}")
            threshold = int(threshold)
        words = _one_query(hash_)
        args = self._kernel_args_now()
        out = self._out
        ids_buf, d_buf = getattr(out, "ids", None), getattr(out, "d", None)
        if ids_buf is None or d_buf is None:
            ids_buf, d_buf = out.ids, out.d = np.empty(64, np.int64), np.empty(64, np.int32)
        n = _kernels.search_one(*words, threshold, ids_buf, d_buf, *args)
        if n == 0:
            return []
        if n > len(ids_buf):
            ids_buf, d_buf = out.ids, out.d = np.empty(2 * n, np.int64), np.empty(2 * n, np.int32)
            n = _kernels.search_one(*words, threshold, ids_buf, d_buf, *args)
        if n == 1:
            return [IndexMatch(int(ids_buf[0]), int(d_buf[0]))]
        ids, d = ids_buf[:n], d_buf[:n]
        order = np.lexsort((ids, d))
        ids, d = ids[order], d[order]
        return [IndexMatch(i, x) for i, x in zip(ids.tolist(), d.tolist(), strict=True)]

    def search_batch(self, hashes: np.ndarray | Sequence[str],
                     thresholds: int | Sequence[int] | np.ndarray = PDQ_DEFAULT_THRESHOLD
                     ) -> BatchMatches:
        """Every entry within the threshold of each query (one threshold, or one per query)."""
        queries = as_codes(hashes)
        t = _thresholds(thresholds, queries.shape[0])
        q, ids, d = self._run(queries, t)
        order = np.lexsort((ids, d, q))
        return BatchMatches(q[order], ids[order], d[order])

    def _run(self, queries: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q, ids, d = _kernels.search(queries, t, *self._kernel_args_now())
        return q, ids, d

    def _kernel_args_now(self) -> tuple[object, ...]:
        """The kernel's segment arguments for the current snapshot of both segments, built once
        per snapshot (segments are immutable and replaced on every change): a single query then
        pays for the call, not for slicing and looking up eighteen arrays. The snapshot is read
        once, so a reader never pairs a new main segment with an old delta."""
        segs = self._segs
        cached = self._kernel_args
        if cached[0] is not segs:
            main, delta = segs
            m_masks, m_counts = _kernels.flip_masks(main.addr_bits)
            d_masks, d_counts = _kernels.flip_masks(delta.addr_bits)
            cached = (segs, (
                _BALL, _BALL_ADDR,
                main.codes[: main.total], main.alive, main.ids, main.off, main.ent,
                main.addr_bits, m_masks, m_counts, main.layout,
                delta.codes, delta.alive, delta.ids, delta.off, delta.ent,
                delta.addr_bits, d_masks, d_counts, delta.layout,
                delta.indexed, delta.total, self._strategy,
            ))
            self._kernel_args = cached
        return cached[1]

    def memory_bytes(self) -> int:
        """Bytes held by the index's arrays (the Python dict of the tail excluded)."""
        total = 0
        for seg in (self._main, self._delta):
            for arr in (seg.codes, seg.ids, seg.alive, seg.off, seg.ent,
                        seg.sorted_slots):
                total += arr.nbytes
            if len(seg.sorted_slots):  # otherwise sorted_ids is a view of ids
                total += seg.sorted_ids.nbytes
        return total


#: The packed code's four little-endian words, read as signed integers.
_WORDS = struct.Struct("<4q")



def _one_query(hash_: str | np.ndarray) -> tuple[int, int, int, int]:
    """One query as the four words of its packed code, as signed 64-bit integers (one compiled
    signature for every hash). A hex string takes a fast path: 64 characters that
    ``bytes.fromhex`` turns into 32 bytes are 64 hex digits (it skips only whitespace)."""
    if type(hash_) is str and len(hash_) == PDQ_HEX_LEN:
        try:
            raw = bytes.fromhex(hash_)
        except ValueError:
            raw = b""
        if len(raw) == 32:
            return _WORDS.unpack(raw)
    codes = as_codes([hash_] if isinstance(hash_, str) else np.atleast_2d(hash_))
    if codes.shape[0] != 1:
        raise InvalidSignal("search takes one hash; use search_batch for several")
    return _WORDS.unpack(np.ascontiguousarray(codes, dtype="<u8").tobytes())


def _as_ids(ids: Iterable[int] | np.ndarray, expected: int | None) -> np.ndarray:
    try:
        arr = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
    except (TypeError, ValueError) as exc:
        raise InvalidSignal(f"index ids: {exc}") from None
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidSignal("index ids must be a flat sequence of integers")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise InvalidSignal("index ids must fit in a signed 64-bit integer")
    arr = arr.astype(np.int64)
    if expected is not None and arr.shape[0] != expected:
        raise InvalidSignal(f"got {expected} hashes but {arr.shape[0]} ids")
    return arr


def _check_unique(ids: np.ndarray) -> None:
    s = np.sort(ids)
    dup = s[1:][s[1:] == s[:-1]]
    if dup.size:
        raise DuplicateEntry(f"id {int(dup[0])} appears more than once")


def _thresholds(thresholds: int | Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(thresholds)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,) or not (np.issubdtype(arr.dtype, np.integer) or n == 0):
        raise InvalidSignal(f"threshold: expected one integer or {n} integers")
    if n and (arr.min() < 0 or arr.max() > MAX_THRESHOLD):
        bad = int(arr[(arr < 0) | (arr > MAX_THRESHOLD)][0])
        raise InvalidSignal(f"threshold must be between 0 and {MAX_THRESHOLD}, got {bad}")
    return arr.astype(np.int64)
