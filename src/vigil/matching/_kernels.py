"""Compiled inner loops of the PDQ index (numba, compiled once and cached on disk).

Layout, shared with :mod:`vigil.matching.index`:

* a hash is four ``uint64`` words; it is cut into 12 *chunks*, three per word, of 21, 21 and 22
  bits (``CHUNK_SHIFT``, ``CHUNK_WIDTH``), so that no chunk crosses a word;
* a *segment* holds ``codes`` (n x 4 uint64), ``alive`` (n uint8), ``ids`` (n int64) and, per
  chunk, a table addressed by the chunk's top ``A`` bits (``A`` = 16..20, chosen from the
  segment's size so that a bucket holds a few hashes): ``off[c, h] .. off[c, h + 1]`` are the
  positions in ``ent[c]`` of the hashes whose chunk ``c`` has top bits ``h``. Each entry is one
  uint32: the local slot number shifted left by ``L = width - A`` bits, or-ed with the chunk's
  ``L`` low bits. (``A >= bit_length(n) - 2`` keeps ``slot << L`` within 32 bits up to
  2**30 hashes a segment; ``max_segment_size`` is checked when a segment is built.)

Search is multi-index hashing with the refined pigeonhole principle (Norouzi, Punjani and Fleet,
"Fast Exact Search in Hamming Space with Multi-Index Hashing", 2014): with 12 chunks and a
threshold ``t = 12 r + a``, any hash within ``t`` of the query is within ``r`` bits on one of
chunks ``0..a`` or within ``r - 1`` bits on one of chunks ``a+1..11``. For each chunk, the kernel
visits the buckets whose top bits differ from the query's by ``h <= r`` bits and, inside each,
keeps the hashes whose low byte differs by at most ``r - h`` bits: exactly the hashes within
``r`` on that chunk. Each such candidate's full distance is then computed, so the result is
exact; a hash is reported only through the first chunk that finds it (no hash set needed).

Why 12 chunks of ~21 bits rather than HMA's 16 of 16: at t = 31 it makes ~5x fewer
candidates (each one a cache miss), while the low bits packed into each posting let a bucket be
filtered by a sequential scan of one array instead of more table look-ups. Packing slot and low
bits into one word matters: with two arrays, the second one's cache misses doubled the time.
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

N_CHUNKS = 12
CHUNK_WORD = np.array([c // 3 for c in range(N_CHUNKS)], dtype=np.int64)
CHUNK_SHIFT = np.array([(0, 21, 42)[c % 3] for c in range(N_CHUNKS)], dtype=np.uint64)
CHUNK_WIDTH = np.array([(21, 21, 22)[c % 3] for c in range(N_CHUNKS)], dtype=np.int64)
MIN_ADDR_BITS = 16
MAX_ADDR_BITS = 20
#: Largest per-chunk radius a query can need: threshold 64 = 12 * 5 + 4.
MAX_RADIUS = 5


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
def _chunk(word, c):
    mask = (np.uint64(1) << np.uint64(CHUNK_WIDTH[c])) - np.uint64(1)
    return (word >> CHUNK_SHIFT[c]) & mask


def max_segment_size(addr_bits: int) -> int:
    """Entries pack ``slot << (22 - addr_bits)`` into 32 bits: the slot limit that implies."""
    return 1 << (32 - (22 - addr_bits))


def addr_bits_for(n: int) -> int:
    """Bucket address width for a segment of ``n`` hashes: ~2-4 hashes a bucket up to 4M
    hashes (measured at 1M: 15% more queries/s than 16-hash buckets, for 10% more memory)."""
    bits = max(int(n).bit_length() - 2, MIN_ADDR_BITS)
    return min(bits, MAX_ADDR_BITS)


@njit(cache=True, nogil=True)
def build_tables(codes, addr_bits):
    """Counting sort of every chunk by its top ``addr_bits`` bits: ``(off, ent)``."""
    n = codes.shape[0]
    n_keys = 1 << addr_bits
    off = np.zeros((N_CHUNKS, n_keys + 1), dtype=np.uint32)
    ent = np.empty((N_CHUNKS, n), dtype=np.uint32)
    for c in range(N_CHUNKS):
        w = CHUNK_WORD[c]
        low_bits = np.uint64(CHUNK_WIDTH[c] - addr_bits)
        low_mask = (np.uint64(1) << low_bits) - np.uint64(1)
        for s in range(n):
            key = _chunk(codes[s, w], c) >> low_bits
            off[c, key + 1] += 1
        for k in range(n_keys):
            off[c, k + 1] += off[c, k]
        fill = off[c, :n_keys].copy()
        for s in range(n):
            v = _chunk(codes[s, w], c)
            key = v >> low_bits
            ent[c, fill[key]] = np.uint32((np.uint64(s) << low_bits) | (v & low_mask))
            fill[key] += 1
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


@njit(cache=True, nogil=True)
def _probe(codes, alive, ids, off, ent, addr_bits, masks, mask_counts, radii, qc, qi,
           q0, q1, q2, q3, t, cand, dist, buckets, out_q, out_id, out_d, n):
    # 1. Every bucket to visit, with its bounds: independent loads of the offset tables, so
    #    the processor overlaps their cache misses.
    need = 0
    for c in range(N_CHUNKS):
        if radii[c] >= 0:
            need += mask_counts[radii[c]]
    if buckets.shape[1] < need:
        buckets = np.empty((3, 2 * need), np.uint32)
    nb = 0
    for c in range(N_CHUNKS):
        r = radii[c]
        if r < 0:
            continue
        qh = qc[c] >> np.uint64(CHUNK_WIDTH[c] - addr_bits)
        for h in range(r + 1):
            for mi in range(mask_counts[h - 1] if h > 0 else 0, mask_counts[h]):
                key = qh ^ masks[mi]
                buckets[0, nb] = off[c, key]
                buckets[1, nb] = off[c, key + 1]
                buckets[2, nb] = c * 8 + (r - h)  # chunk and the low bits' budget
                nb += 1
    # 2. Scan the buckets, prefetching the ones a little ahead: keep the entries whose low
    #    bits are within the budget — branch-free (every entry is written, the count moves on
    #    only for a kept one): with one or two low bits the test is a coin toss the branch
    #    predictor loses half the time (measured at 10M, t = 31: ~14% more queries/s).
    chunk_end = np.zeros(N_CHUNKS, np.int64)
    nc = 0
    for b in range(nb):
        if b + PREFETCH_AHEAD < nb:
            ahead = b + PREFETCH_AHEAD
            _prefetch(ent, np.intp(buckets[2, ahead] >> 3), np.intp(buckets[0, ahead]))
        lo = buckets[0, b]
        hi = buckets[1, b]
        c = np.int64(buckets[2, b] >> 3)
        budget = np.int64(buckets[2, b] & 7)
        low_bits = np.uint64(CHUNK_WIDTH[c] - addr_bits)
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
            if ri >= 0 and _pop(_chunk(codes[s, CHUNK_WORD[i]], i) ^ qc[i]) <= ri:
                dup = True
                break
        if not dup:
            out_q, out_id, out_d, n = _emit(out_q, out_id, out_d, n, qi, ids[s], d)
    return cand, dist, buckets, out_q, out_id, out_d, n


@njit(cache=True, nogil=True)
def _use_brute(n_seg, addr_bits, radii, ball, ball_addr):
    """Cost model, in units of one hash scanned linearly: a bucket visit ~4, a low byte
    compared ~0.5, a candidate verified ~4 (a cache miss)."""
    if n_seg == 0:
        return True
    buckets = 0.0
    cands = 0.0
    for c in range(N_CHUNKS):
        r = radii[c]
        if r >= 0:
            buckets += ball_addr[addr_bits, r]
            cands += ball[CHUNK_WIDTH[c], r] * n_seg / 2.0 ** CHUNK_WIDTH[c]
    scanned = buckets * n_seg / 2.0 ** addr_bits
    return 4.0 * buckets + 0.5 * scanned + 4.0 * cands >= n_seg


@njit(cache=True, nogil=True)
def search(queries, thresholds, ball, ball_addr,
           m_codes, m_alive, m_ids, m_off, m_ent, m_bits, m_masks, m_counts,
           d_codes, d_alive, d_ids, d_off, d_ent, d_bits, d_masks, d_counts,
           d_indexed, d_total, strategy):
    """Exact radius search of every query in the main segment, the delta segment and the
    unindexed tail of the delta (``d_indexed .. d_total``). Returns ``(query, id, distance)``
    arrays of every hit. ``strategy``: 0 chooses by cost, 1 always probes, 2 always scans (the
    last two let tests check both paths on small data)."""
    out_q = np.empty(64, np.int64)
    out_id = np.empty(64, np.int64)
    out_d = np.empty(64, np.int32)
    n = 0
    radii = np.empty(N_CHUNKS, np.int64)
    qc = np.empty(N_CHUNKS, np.uint64)
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
        r = t // N_CHUNKS
        a = t % N_CHUNKS
        for c in range(N_CHUNKS):
            radii[c] = r if c <= a else r - 1
            qc[c] = _chunk(queries[qi, CHUNK_WORD[c]], c)
        if strategy == 2 or (strategy == 0 and _use_brute(n_main, m_bits, radii, ball, ball_addr)):
            out_q, out_id, out_d, n = _brute(m_codes, m_alive, m_ids, 0, n_main, qi,
                                             q0, q1, q2, q3, t, out_q, out_id, out_d, n)
        else:
            cand, dist, buckets, out_q, out_id, out_d, n = _probe(
                m_codes, m_alive, m_ids, m_off, m_ent, m_bits, m_masks, m_counts,
                radii, qc, qi, q0, q1, q2, q3, t, cand, dist, buckets, out_q, out_id, out_d, n)
        if strategy == 2 or (strategy == 0 and _use_brute(d_indexed, d_bits, radii, ball, ball_addr)):
            out_q, out_id, out_d, n = _brute(d_codes, d_alive, d_ids, 0, d_indexed, qi,
                                             q0, q1, q2, q3, t, out_q, out_id, out_d, n)
        else:
            cand, dist, buckets, out_q, out_id, out_d, n = _probe(
                d_codes, d_alive, d_ids, d_off, d_ent, d_bits, d_masks, d_counts,
                radii, qc, qi, q0, q1, q2, q3, t, cand, dist, buckets, out_q, out_id, out_d, n)
        out_q, out_id, out_d, n = _brute(d_codes, d_alive, d_ids, d_indexed, d_total, qi,
                                         q0, q1, q2, q3, t, out_q, out_id, out_d, n)
    return out_q[:n], out_id[:n], out_d[:n]


@njit(cache=True, nogil=True)
def search_one(q0, q1, q2, q3, t, out_id, out_d, ball, ball_addr,
               m_codes, m_alive, m_ids, m_off, m_ent, m_bits, m_masks, m_counts,
               d_codes, d_alive, d_ids, d_off, d_ent, d_bits, d_masks, d_counts,
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
                       m_codes, m_alive, m_ids, m_off, m_ent, m_bits, m_masks, m_counts,
                       d_codes, d_alive, d_ids, d_off, d_ent, d_bits, d_masks, d_counts,
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
