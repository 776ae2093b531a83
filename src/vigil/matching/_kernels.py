"""Compiled inner loops of the PDQ index (numba, compiled once and cached on disk).

Layout, shared with :mod:`vigil.matching.index`:

* a hash is four ``uint64`` words; it is cut into *chunks* by one of two *layouts*
  (``LAYOUTS``, chosen per segment by its size, :func:`chunks_for`): 12 chunks of 21, 21 and
  22 bits, three per word, or 11 chunks of 24, 24, 24 and 23 bits (three of which straddle two
  words). A segment passes its layout to the kernels as a ``(4, chunks)`` int64 array
  (:func:`layout`: word, shift, width, and the left shift of the next word's bits for a chunk
  that straddles, else 0);
* a *segment* holds ``codes`` (n x 4 uint64), ``alive`` (n uint8), ``ids`` (n int64) and, per
  chunk, a table addressed by the chunk's top ``A`` bits (``A`` = 16..22, at most 20 for 12
  chunks, chosen from the segment's size so that a bucket holds a few hashes):
  ``off[c, h] .. off[c, h + 1]`` are the positions in ``ent[c]`` of the hashes whose chunk
  ``c`` has top bits ``h``. Each entry is one uint32: the local slot number shifted left by
  ``L = width - A`` bits, or-ed with the chunk's ``L`` low bits. (``max_segment_size`` keeps
  ``slot << L`` within 32 bits; it is checked when a segment is built.)

Search is multi-index hashing with the refined pigeonhole principle (Norouzi, Punjani and Fleet,
"Fast Exact Search in Hamming Space with Multi-Index Hashing", 2014): with ``m`` chunks and a
threshold ``t = m r + a``, any hash within ``t`` of the query is within ``r`` bits on one of
chunks ``0..a`` or within ``r - 1`` bits on one of chunks ``a+1..m-1``. For each chunk, the kernel
visits the buckets whose top bits differ from the query's by ``h <= r`` bits and, inside each,
keeps the hashes whose low byte differs by at most ``r - h`` bits: exactly the hashes within
``r`` on that chunk. Each such candidate's full distance is then computed, so the result is
exact; a hash is reported only through the first chunk that finds it (no hash set needed).

Why 12 chunks of ~21 bits rather than HMA's 16 of 16: at t = 31 it makes ~5x fewer
candidates (each one a cache miss), while the low bits packed into each posting let a bucket be
filtered by a sequential scan of one array instead of more table look-ups. Packing slot and low
bits into one word matters: with two arrays, the second one's cache misses doubled the time.
Why 11 chunks from ``LARGE_SEGMENT`` hashes on: the best chunk width grows with log2(n)
(Norouzi et al. suggest ``m ~ 256 / log2(n)``: 12.8 at 1M, 11 at 10M); at 10M and t = 31 the
wider chunks verify about a third as many candidates for a fifth more bucket visits (measured:
docs/dev/decisions/0037-index-layout-by-size.md).
"""

from __future__ import annotations

# mypy: ignore-errors
# (numba-compiled code: its types are checked by numba when it compiles, not by mypy.)
from math import comb

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Chunk widths of each layout, by number of chunks, in bit order (each sums to 256).
LAYOUTS: dict[int, tuple[int, ...]] = {12: (21, 21, 22) * 4, 11: (24, 24, 24) + (23,) * 8}
MAX_CHUNKS = max(LAYOUTS)
#: Segments of at least this many hashes use 11 chunks, smaller ones 12 (the crossover was
#: measured between 2M and 4M: decision 0037).
LARGE_SEGMENT = 4_000_000
MIN_ADDR_BITS = 16
#: Widest bucket address: 22 bits is 11 x 16 MB of bucket offsets (at 8M-16M hashes).
MAX_ADDR_BITS = 22
#: Largest per-chunk radius a query can need: threshold 64 = 12 * 5 + 4 = 11 * 5 + 9.
MAX_RADIUS = 5

_LAYOUT_CACHE: dict[int, np.ndarray] = {}


def layout(chunks: int) -> np.ndarray:
    """The kernels' description of a layout: ``(4, chunks)`` int64 rows word, shift, width and
    the left shift that brings a straddling chunk's bits from the next word (0 if none).
    Raises ValueError for a number of chunks without a layout."""
    if chunks not in LAYOUTS:
        raise ValueError(f"an index layout has {' or '.join(map(str, LAYOUTS))} chunks, not {chunks}")
    if chunks not in _LAYOUT_CACHE:
        widths = LAYOUTS[chunks]
        starts = [sum(widths[:c]) for c in range(chunks)]
        lay = np.array([[s // 64 for s in starts],
                        [s % 64 for s in starts],
                        list(widths),
                        [64 - s % 64 if s % 64 + w > 64 else 0 for s, w in zip(starts, widths, strict=True)]],
                       dtype=np.int64)
        lay.setflags(write=False)
        _LAYOUT_CACHE[chunks] = lay
    return _LAYOUT_CACHE[chunks]


def chunks_for(n: int) -> int:
    """The layout for a segment of ``n`` hashes: 11 chunks from ``LARGE_SEGMENT`` on, else 12."""
    return 11 if n >= LARGE_SEGMENT else 12


@intrinsic
def _ctpop64(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.ctpop.i64")
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _pop(x):
    # Signed result: numba compares uint64 with int64 through float64 (slow).
    return np.int64(_ctpop64(np.uint64(x)))


@njit(cache=True, nogil=True, inline="always")
def _dist(codes, s, q0, q1, q2, q3):
    return np.int64(
        _ctpop64(codes[s, 0] ^ q0)
        + _ctpop64(codes[s, 1] ^ q1)
        + _ctpop64(codes[s, 2] ^ q2)
        + _ctpop64(codes[s, 3] ^ q3)
    )


@njit(cache=True, nogil=True, inline="always")
def _chunk(codes, s, lay, c):
    """Chunk ``c`` of row ``s`` of ``codes`` under layout ``lay``, as an integer."""
    mask = (np.uint64(1) << np.uint64(lay[2, c])) - np.uint64(1)
    w = lay[0, c]
    v = codes[s, w] >> np.uint64(lay[1, c])
    if lay[3, c] != 0:
        v |= codes[s, w + 1] << np.uint64(lay[3, c])
    return v & mask


def max_segment_size(addr_bits: int, chunks: int = 12) -> int:
    """Entries pack ``slot << (widest chunk - addr_bits)`` into 32 bits: the slot limit that
    implies."""
    return 1 << (32 - (max(LAYOUTS[chunks]) - addr_bits))


def max_addr_bits(chunks: int) -> int:
    """The widest bucket address a layout takes: at least one low bit stays in every posting
    (20 bits for 12 chunks, 22 for 11)."""
    return min(MAX_ADDR_BITS, min(LAYOUTS[chunks]) - 1)


def addr_bits_for(n: int, chunks: int = 12) -> int:
    """Bucket address width for a segment of ``n`` hashes in a layout of ``chunks``: ~2-4
    hashes a bucket (measured at 1M: 15% more queries/s than 16-hash buckets, for 10% more
    memory; at 10M, 11 chunks, 22 bits rather than 20: 14% more, for 132 MB; decision 0037)."""
    bits = max(int(n).bit_length() - 2, MIN_ADDR_BITS)
    return min(bits, max_addr_bits(chunks))


@njit(cache=True, nogil=True)
def build_tables(codes, addr_bits, lay):
    """Counting sort of every chunk of layout ``lay`` by its top ``addr_bits`` bits:
    ``(off, ent)``, each with one row per chunk.

    Each chunk's values are extracted once into a scratch array (4 bytes a hash) and the
    tables are filled through one-dimensional row views: reading the layout and indexing the
    2-D tables inside the loops made the build 4-8x slower (measured at 10M)."""
    n = codes.shape[0]
    n_chunks = lay.shape[1]
    n_keys = 1 << addr_bits
    off = np.zeros((n_chunks, n_keys + 1), dtype=np.uint32)
    ent = np.empty((n_chunks, n), dtype=np.uint32)
    vals = np.empty(n, np.uint32)
    for c in range(n_chunks):
        w = lay[0, c]
        shift = np.uint64(lay[1, c])
        back = np.uint64(lay[3, c])
        mask = (np.uint64(1) << np.uint64(lay[2, c])) - np.uint64(1)
        if back != 0:
            for s in range(n):
                vals[s] = np.uint32(((codes[s, w] >> shift) | (codes[s, w + 1] << back)) & mask)
        else:
            for s in range(n):
                vals[s] = np.uint32((codes[s, w] >> shift) & mask)
        low_bits = np.uint32(lay[2, c] - addr_bits)
        low_mask = (np.uint32(1) << low_bits) - np.uint32(1)
        row = off[c]
        for s in range(n):
            row[(vals[s] >> low_bits) + np.uint32(1)] += np.uint32(1)
        for k in range(n_keys):
            row[k + 1] += row[k]
        fill = row[:n_keys].copy()
        out = ent[c]
        for s in range(n):
            v = vals[s]
            key = v >> low_bits
            out[fill[key]] = (np.uint32(s) << low_bits) | (v & low_mask)
            fill[key] += np.uint32(1)
    return off, ent


@njit(cache=True, nogil=True)
def _emit(out_q, out_id, out_d, n, qi, ident, d):
    if n == out_q.shape[0]:
        grow = max(64, 2 * n)
        nq = np.empty(grow, np.int64)
        ni = np.empty(grow, np.int64)
        nd = np.empty(grow, np.int32)
        nq[:n] = out_q[:n]
        ni[:n] = out_id[:n]
        nd[:n] = out_d[:n]
        out_q, out_id, out_d = nq, ni, nd
    out_q[n] = qi
    out_id[n] = ident
    out_d[n] = d
    return out_q, out_id, out_d, n + 1


@njit(cache=True, nogil=True)
def _brute(codes, alive, ids, lo, hi, qi, q0, q1, q2, q3, t, out_q, out_id, out_d, n):
    for s in range(lo, hi):
        d = _dist(codes, s, q0, q1, q2, q3)
        if d <= t and alive[s] != 0:
            out_q, out_id, out_d, n = _emit(out_q, out_id, out_d, n, qi, ids[s], d)
    return out_q, out_id, out_d, n


@intrinsic
def _prefetch(typingctx, arr, i, j):
    """Hint the processor to load ``arr[i, j]`` into the cache (no effect on results)."""
    sig = types.void(arr, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1], args[2]],
                                       wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


#: How many buckets ahead the scan prefetches (measured here: 16-32 best, 2.3x over none).
PREFETCH_AHEAD = 24
#: How many buckets ahead the bounds are prefetched from the offset tables (measured at 10M:
#: 32-64 best, 48 chosen).
OFFSETS_AHEAD = 48


@njit(cache=True, nogil=True)
def _probe(codes, alive, ids, off, ent, addr_bits, masks, mask_counts, lay, radii, qc, qi,
           q0, q1, q2, q3, t, cand, dist, buckets, out_q, out_id, out_d, n):
    # 1. Every bucket to visit, then its bounds: the offset tables' cache misses prefetched a
    #    little ahead (measured at 10M, t = 31: ~18% more queries/s than leaving the overlap
    #    to the processor's reordering; ~7% at 1M).
    n_chunks = lay.shape[1]
    need = 0
    for c in range(n_chunks):
        if radii[c] >= 0:
            need += mask_counts[radii[c]]
    if buckets.shape[1] < need:
        buckets = np.empty((3, 2 * need), np.uint32)
    nb = 0
    for c in range(n_chunks):
        r = radii[c]
        if r < 0:
            continue
        qh = qc[c] >> np.uint64(lay[2, c] - addr_bits)
        for h in range(r + 1):
            for mi in range(mask_counts[h - 1] if h > 0 else 0, mask_counts[h]):
                buckets[0, nb] = np.uint32(qh ^ masks[mi])  # the bucket's address, for now
                buckets[2, nb] = c * 8 + (r - h)  # chunk and the low bits' budget
                nb += 1
    for b in range(nb):
        if b + OFFSETS_AHEAD < nb:
            _prefetch(off, np.intp(buckets[2, b + OFFSETS_AHEAD] >> 3),
                      np.intp(buckets[0, b + OFFSETS_AHEAD]))
        c = np.intp(buckets[2, b] >> 3)
        key = np.intp(buckets[0, b])
        buckets[0, b] = off[c, key]
        buckets[1, b] = off[c, key + 1]
    # 2. Scan the buckets, prefetching the ones a little ahead: keep the entries whose low
    #    bits are within the budget — branch-free (every entry is written, the count moves on
    #    only for a kept one): with one or two low bits the test is a coin toss the branch
    #    predictor loses half the time (measured at 10M, t = 31: ~14% more queries/s).
    chunk_end = np.zeros(n_chunks, np.int64)
    nc = 0
    for b in range(nb):
        if b + PREFETCH_AHEAD < nb:
            ahead = b + PREFETCH_AHEAD
            _prefetch(ent, np.intp(buckets[2, ahead] >> 3), np.intp(buckets[0, ahead]))
        lo = buckets[0, b]
        hi = buckets[1, b]
        c = np.int64(buckets[2, b] >> 3)
        budget = np.int64(buckets[2, b] & 7)
        low_bits = np.uint64(lay[2, c] - addr_bits)
        low_mask = (np.uint64(1) << low_bits) - np.uint64(1)
        ql = qc[c] & low_mask
        if nc + (hi - lo) > cand.shape[0]:
            bigger = np.empty(2 * (nc + (hi - lo)), np.uint32)
            bigger[:nc] = cand[:nc]
            cand = bigger
        for p in range(lo, hi):
            e = np.uint64(ent[c, p])
            cand[nc] = np.uint32(e >> low_bits)
            nc += np.int64(_pop((e & low_mask) ^ ql) <= budget)
        chunk_end[c] = nc
    # 3. Their distances, in a branch-free loop: the loads of their codes are independent, so
    #    the processor overlaps the cache misses (measured ~1.6x faster than checking inline).
    if dist.shape[0] < nc:
        dist = np.empty(cand.shape[0], np.int64)
    for k in range(nc):
        if k + PREFETCH_AHEAD < nc:
            _prefetch(codes, np.intp(cand[k + PREFETCH_AHEAD]), 0)
        dist[k] = _dist(codes, cand[k], q0, q1, q2, q3)
    # 4. The hits, each reported through the first chunk that finds it.
    c = 0
    for k in range(nc):
        d = dist[k]
        if d > t:
            continue
        s = cand[k]
        if alive[s] == 0:
            continue
        while chunk_end[c] <= k:
            c += 1
        dup = False
        for i in range(c):
            ri = radii[i]
            if ri >= 0 and _pop(_chunk(codes, s, lay, i) ^ qc[i]) <= ri:
                dup = True
                break
        if not dup:
            out_q, out_id, out_d, n = _emit(out_q, out_id, out_d, n, qi, ids[s], d)
    return cand, dist, buckets, out_q, out_id, out_d, n


@njit(cache=True, nogil=True)
def _use_brute(n_seg, addr_bits, lay, radii, ball, ball_addr):
    """Cost model, in units of one hash scanned linearly: a bucket visit ~4, a low byte
    compared ~0.5, a candidate verified ~4 (a cache miss)."""
    if n_seg == 0:
        return True
    buckets = 0.0
    cands = 0.0
    for c in range(lay.shape[1]):
        r = radii[c]
        if r >= 0:
            w = lay[2, c]
            buckets += ball_addr[addr_bits, r]
            # (a shift, not 2.0 ** w: a power with a run-time exponent is a libm call, and this
            # runs for every chunk of every segment of every query)
            cands += ball[w, r] * n_seg / np.float64(np.int64(1) << w)
    scanned = buckets * n_seg / 2.0 ** addr_bits
    return 4.0 * buckets + 0.5 * scanned + 4.0 * cands >= n_seg


@njit(cache=True, nogil=True, inline="always")
def _split(queries, qi, t, lay, radii, qc):
    """The query's chunks under ``lay`` and each chunk's radius for threshold ``t``."""
    n_chunks = lay.shape[1]
    r = t // n_chunks
    a = t % n_chunks
    for c in range(n_chunks):
        radii[c] = r if c <= a else r - 1
        qc[c] = _chunk(queries, qi, lay, c)


@njit(cache=True, nogil=True)
def search(queries, thresholds, ball, ball_addr,
           m_codes, m_alive, m_ids, m_off, m_ent, m_bits, m_masks, m_counts, m_lay,
           d_codes, d_alive, d_ids, d_off, d_ent, d_bits, d_masks, d_counts, d_lay,
           d_indexed, d_total, strategy):
    """Exact radius search of every query in the main segment, the delta segment and the
    unindexed tail of the delta (``d_indexed .. d_total``); each indexed segment has its own
    layout (``m_lay``, ``d_lay``). Returns ``(query, id, distance)`` arrays of every hit.
    ``strategy``: 0 chooses by cost, 1 always probes, 2 always scans (the last two let tests
    check both paths on small data)."""
    out_q = np.empty(64, np.int64)
    out_id = np.empty(64, np.int64)
    out_d = np.empty(64, np.int32)
    n = 0
    radii = np.empty(MAX_CHUNKS, np.int64)
    qc = np.empty(MAX_CHUNKS, np.uint64)
    cand = np.empty(8192, np.uint32)
    dist = np.empty(8192, np.int64)
    buckets = np.empty((3, 4096), np.uint32)
    n_main = m_codes.shape[0]
    for qi in range(queries.shape[0]):
        t = thresholds[qi]
        q0 = queries[qi, 0]
        q1 = queries[qi, 1]
        q2 = queries[qi, 2]
        q3 = queries[qi, 3]
        _split(queries, qi, t, m_lay, radii, qc)
        if strategy == 2 or (strategy == 0
                             and _use_brute(n_main, m_bits, m_lay, radii, ball, ball_addr)):
            out_q, out_id, out_d, n = _brute(m_codes, m_alive, m_ids, 0, n_main, qi,
                                             q0, q1, q2, q3, t, out_q, out_id, out_d, n)
        else:
            cand, dist, buckets, out_q, out_id, out_d, n = _probe(
                m_codes, m_alive, m_ids, m_off, m_ent, m_bits, m_masks, m_counts, m_lay,
                radii, qc, qi, q0, q1, q2, q3, t, cand, dist, buckets, out_q, out_id, out_d, n)
        if d_lay.shape[1] != m_lay.shape[1]:  # the radii and chunks depend on the layout alone
            _split(queries, qi, t, d_lay, radii, qc)
        if strategy == 2 or (strategy == 0
                             and _use_brute(d_indexed, d_bits, d_lay, radii, ball, ball_addr)):
            out_q, out_id, out_d, n = _brute(d_codes, d_alive, d_ids, 0, d_indexed, qi,
                                             q0, q1, q2, q3, t, out_q, out_id, out_d, n)
        else:
            cand, dist, buckets, out_q, out_id, out_d, n = _probe(
                d_codes, d_alive, d_ids, d_off, d_ent, d_bits, d_masks, d_counts, d_lay,
                radii, qc, qi, q0, q1, q2, q3, t, cand, dist, buckets, out_q, out_id, out_d, n)
        out_q, out_id, out_d, n = _brute(d_codes, d_alive, d_ids, d_indexed, d_total, qi,
                                         q0, q1, q2, q3, t, out_q, out_id, out_d, n)
    return out_q[:n], out_id[:n], out_d[:n]


@njit(cache=True, nogil=True)
def search_one(q0, q1, q2, q3, t, out_id, out_d, ball, ball_addr,
               m_codes, m_alive, m_ids, m_off, m_ent, m_bits, m_masks, m_counts, m_lay,
               d_codes, d_alive, d_ids, d_off, d_ent, d_bits, d_masks, d_counts, d_lay,
               d_indexed, d_total, strategy):
    """:func:`search` for one query given as four signed 64-bit words (the bits of the packed
    code's words), writing the hits into ``out_id``/``out_d`` and returning how many there are.
    Nothing is boxed on the way back, which is most of a single query's cost in Python; if the
    buffers are too small, nothing is written and the caller retries with larger ones."""
    queries = np.empty((1, 4), np.uint64)
    queries[0, 0] = np.uint64(q0)
    queries[0, 1] = np.uint64(q1)
    queries[0, 2] = np.uint64(q2)
    queries[0, 3] = np.uint64(q3)
    thresholds = np.empty(1, np.int64)
    thresholds[0] = t
    _, ids, d = search(queries, thresholds, ball, ball_addr,
                       m_codes, m_alive, m_ids, m_off, m_ent, m_bits, m_masks, m_counts, m_lay,
                       d_codes, d_alive, d_ids, d_off, d_ent, d_bits, d_masks, d_counts, d_lay,
                       d_indexed, d_total, strategy)
    n = ids.shape[0]
    if n <= out_id.shape[0]:
        for k in range(n):
            out_id[k] = ids[k]
            out_d[k] = d[k]
    return n


_MASK_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def flip_masks(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks over ``bits`` bits with popcount <= MAX_RADIUS, ordered by popcount, and for each
    radius r how many have popcount <= r."""
    if bits not in _MASK_CACHE:
        values = np.arange(1 << bits, dtype=np.uint64)
        pop = np.bitwise_count(values)
        keep = pop <= MAX_RADIUS
        values, pop = values[keep], pop[keep]
        order = np.argsort(pop, kind="stable")
        counts = np.array([int((pop <= r).sum()) for r in range(MAX_RADIUS + 1)], dtype=np.int64)
        _MASK_CACHE[bits] = (values[order], counts)
    return _MASK_CACHE[bits]


def ball_tables() -> tuple[np.ndarray, np.ndarray]:
    """Hamming-ball volumes: ``ball[w, r]`` for chunk widths, ``ball_addr[a, r]`` for address
    widths (r = 0..MAX_RADIUS)."""
    ball = np.zeros((65, MAX_RADIUS + 1), np.float64)
    for w in range(65):
        for r in range(MAX_RADIUS + 1):
            ball[w, r] = sum(comb(w, k) for k in range(r + 1))
    return ball, ball.copy()
