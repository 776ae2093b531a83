"""The PDQ index against brute force: every hash within the threshold, none beyond it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vigil.matching import _kernels
from vigil.matching.codes import flip_bits, hamming, pack_hex, random_codes, unpack_hex
from vigil.matching.errors import DuplicateEntry, InvalidSignal
from vigil.matching.index import PdqIndex


def truth(codes: np.ndarray, ids: np.ndarray, query: np.ndarray, t: int) -> dict[int, int]:
    if len(codes) == 0:
        return {}
    d = hamming(codes, query)
    return {int(i): int(x) for i, x in zip(ids, d, strict=True) if x <= t}


@st.composite
def datasets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Random hashes plus near-duplicates of some of them, and queries near and far."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(0, 400))
    rng = np.random.default_rng(seed)
    base = random_codes(n, seed)
    if n:
        k = draw(st.integers(0, 200))
        picks = rng.integers(0, n, k)
        near = flip_bits(base[picks], rng.integers(0, 70, k), seed + 1)
        base = np.concatenate([base, near])
    nq = draw(st.integers(1, 30))
    if len(base):
        q_near = flip_bits(base[rng.integers(0, len(base), nq)], rng.integers(0, 70, nq), seed + 2)
        queries = np.concatenate([q_near, random_codes(nq, seed + 3)])
    else:
        queries = random_codes(nq, seed + 3)
    thresholds = draw(st.lists(st.integers(0, 64), min_size=len(queries), max_size=len(queries)))
    return base, queries, thresholds


STRATEGIES = st.sampled_from(["auto", "probe", "scan"])
#: The layouts: by size (12 chunks on test data), or fixed at 12 or 11 chunks.
CHUNKS = st.sampled_from([None, 12, 11])


@given(datasets(), STRATEGIES, CHUNKS)
def test_batch_search_equals_brute_force(data: tuple[np.ndarray, np.ndarray, list[int]],
                                         strategy: str, chunks: int | None) -> None:
    codes, queries, thresholds = data
    ids = np.arange(len(codes), dtype=np.int64) * 7 + 3
    index = PdqIndex.build(codes, ids, strategy=strategy, chunks=chunks)
    result = index.search_batch(queries, thresholds)
    for i, q in enumerate(queries):
        got = {m.id: m.distance for m in result.for_query(i)}
        assert got == truth(codes, ids, q, thresholds[i])
        dists = [m.distance for m in result.for_query(i)]
        assert dists == sorted(dists), "nearest first"


@given(datasets(), st.integers(1, 64), STRATEGIES, CHUNKS)
def test_incremental_index_equals_bulk(data: tuple[np.ndarray, np.ndarray, list[int]],
                                       tail_limit: int, strategy: str, chunks: int | None) -> None:
    """Hashes added one batch at a time (through the tail, delta and merges) match exactly
    like a bulk-built index."""
    codes, queries, thresholds = data
    ids = np.arange(len(codes), dtype=np.int64)
    index = PdqIndex(tail_limit=tail_limit, min_merge=2 * tail_limit, strategy=strategy,
                     chunks=chunks)
    for start in range(0, len(codes), 37):
        index.add(codes[start : start + 37], ids[start : start + 37])
    assert len(index) == len(codes)
    result = index.search_batch(queries, thresholds)
    for i, q in enumerate(queries):
        assert {m.id: m.distance for m in result.for_query(i)} == truth(codes, ids, q, thresholds[i])


class IndexMachine(RuleBasedStateMachine):
    """Random interleavings of add, remove, compact and search against a plain dict."""

    chunks: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.index = PdqIndex(tail_limit=8, min_merge=16, strategy="probe", chunks=self.chunks)
        self.model: dict[int, np.ndarray] = {}
        self.next_id = 0
        self.rng = np.random.default_rng(0)

    @rule(n=st.integers(1, 20), near=st.booleans())
    def add(self, n: int, near: bool) -> None:
        if near and self.model:
            keys = list(self.model)
            src = np.stack([self.model[keys[int(k)]] for k in self.rng.integers(0, len(keys), n)])
            codes = flip_bits(src, self.rng.integers(0, 40, n), int(self.rng.integers(1 << 30)))
        else:
            codes = random_codes(n, int(self.rng.integers(1 << 30)))
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        self.index.add(codes, ids)
        for i, c in zip(ids, codes, strict=True):
            self.model[i] = c

    @rule(k=st.integers(1, 10))
    def remove(self, k: int) -> None:
        if not self.model:
            return
        keys = list(self.model)
        victims = {keys[int(i)] for i in self.rng.integers(0, len(keys), k)}
        assert self.index.remove([*victims, 10**12]) == len(victims)
        for v in victims:
            del self.model[v]

    @rule()
    def compact(self) -> None:
        self.index.compact()

    @rule(t=st.integers(0, 64))
    def search(self, t: int) -> None:
        if not self.model:
            return
        keys = list(self.model)
        q = flip_bits(self.model[keys[0]][None, :], [int(self.rng.integers(0, 40))], 5)[0]
        codes = np.stack([self.model[k] for k in keys])
        expected = truth(codes, np.array(keys), q, t)
        assert {m.id: m.distance for m in self.index.search(q, t)} == expected

    @invariant()
    def size(self) -> None:
        assert len(self.index) == len(self.model)


TestIndexMachine = IndexMachine.TestCase


class ElevenChunkMachine(IndexMachine):
    chunks = 11


TestElevenChunkMachine = ElevenChunkMachine.TestCase


@pytest.mark.parametrize("chunks", sorted(_kernels.LAYOUTS))
def test_each_layout_cuts_the_hash_into_contiguous_chunks(chunks: int) -> None:
    """Every bit of the 256 belongs to exactly one chunk, in order: the pigeonhole rule the
    search relies on holds only for a partition."""
    lay = _kernels.layout(chunks)
    assert lay.shape == (4, chunks)
    position = 0
    for c in range(chunks):
        word, shift, width, back = (int(v) for v in lay[:, c])
        assert word * 64 + shift == position
        assert back == (64 - shift if shift + width > 64 else 0)
        position += width
    assert position == 256


def test_a_segment_takes_the_layout_of_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large segments get 11 chunks, smaller ones 12; the delta keeps its own; answers are the
    same either way, and arrays() carries the layout with the tables."""
    monkeypatch.setattr(_kernels, "LARGE_SEGMENT", 1_000)
    codes = random_codes(3_000, 31)
    big = PdqIndex.build(codes, np.arange(3_000), strategy="probe")
    small = PdqIndex.build(codes[:500], np.arange(500), strategy="probe")
    assert big.arrays()["off"].shape[0] == 11
    assert small.arrays()["off"].shape[0] == 12
    big.add(codes[:500] ^ np.uint64(1), np.arange(10_000, 10_500))  # a delta in the other layout
    queries = np.concatenate([codes[:50], flip_bits(codes[50:100], [31] * 50, 32)])
    got = big.search_batch(queries, 31)
    both = np.concatenate([codes, codes[:500] ^ np.uint64(1)])
    both_ids = np.concatenate([np.arange(3_000), np.arange(10_000, 10_500)])
    for i, q in enumerate(queries):
        assert {m.id: m.distance for m in got.for_query(i)} == truth(both, both_ids, q, 31)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(_kernels.LAYOUTS)), st.integers(0, 64), st.data())
def test_hashes_at_the_edge_of_the_pigeonhole_rule_are_found(chunks: int, t: int,
                                                             data: st.DataObject) -> None:
    """The hardest hashes to find: exactly ``t`` bits away, with every chunk but one just past
    its radius and that one at its radius. A layout whose chunks overlapped or a radius one
    too small would miss them; random near-duplicates almost never land there."""
    widths = _kernels.LAYOUTS[chunks]
    starts = [sum(widths[:c]) for c in range(chunks)]
    r, a = divmod(t, chunks)
    radii = [r if c <= a else r - 1 for c in range(chunks)]
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    base = random_codes(64, seed)
    edge = []
    for j in (c for c in range(chunks) if radii[c] >= 0):
        code = base[j % 64].copy()
        for c in range(chunks):
            flips = radii[c] if c == j else radii[c] + 1
            for p in rng.choice(widths[c], flips, replace=False) + starts[c]:
                code[p // 64] ^= np.uint64(1) << np.uint64(p % 64)
        edge.append(code)
    codes = np.concatenate([base, np.array(edge, np.uint64).reshape(-1, 4)])
    assert all(int(hamming(codes[64 + k : 65 + k], base[k % 64])[0]) == t
               for k in range(len(edge)))
    index = PdqIndex.build(codes, np.arange(len(codes)), strategy="probe", chunks=chunks)
    got = index.search_batch(base, t)
    for i in range(64):
        assert {m.id: m.distance for m in got.for_query(i)} == truth(
            codes, np.arange(len(codes)), base[i], t)


@pytest.mark.parametrize("chunks", [0, 10, 13, 16])
def test_a_layout_that_does_not_exist_is_refused(chunks: int) -> None:
    with pytest.raises(ValueError, match="12 or 11 chunks"):
        PdqIndex(chunks=chunks)


@pytest.mark.parametrize(("addr_bits", "chunks"),
                         [(None, None), (18, 12), (20, 12), (None, 11), (20, 11), (22, 11)])
def test_large_index_probe_and_scan_agree(addr_bits: int | None, chunks: int | None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """On enough data for the cost model to probe, both paths give the same, exact answer —
    with the bucket widths and the layout that larger indexes use, too."""
    if addr_bits is not None:
        from vigil.matching import _kernels

        monkeypatch.setattr(_kernels, "addr_bits_for", lambda n, chunks: addr_bits)
    codes = random_codes(60_000, 21)
    rng = np.random.default_rng(22)
    picks = rng.integers(0, 60_000, 200)
    queries = np.concatenate([flip_bits(codes[picks], rng.integers(0, 65, 200), 23),
                              random_codes(50, 24)])
    thresholds = rng.integers(0, 65, len(queries))
    ids = np.arange(60_000)
    results = [PdqIndex.build(codes, ids, strategy=s, chunks=chunks).search_batch(queries, thresholds)
               for s in ("auto", "probe", "scan")]
    for r in results[1:]:
        assert (r.query == results[0].query).all() and (r.ids == results[0].ids).all()
        assert (r.distances == results[0].distances).all()
    for i in range(0, len(queries), 25):
        assert {m.id: m.distance for m in results[0].for_query(i)} == truth(
            codes, ids, queries[i], int(thresholds[i]))


def test_removed_hash_never_matches_again() -> None:
    codes = random_codes(5000, 11)
    index = PdqIndex.build(codes, np.arange(5000))
    assert index.search(codes[42], 0)[0].id == 42
    assert index.remove([42]) == 1
    assert all(m.id != 42 for m in index.search(codes[42], 64))
    assert 42 not in index
    assert index.remove([42]) == 0  # idempotent
    index.add(codes[42:43], [42])  # the id may be reused once removed
    assert [m.id for m in index.search(codes[42], 0)] == [42]


def test_duplicate_ids_are_refused_and_nothing_is_added() -> None:
    index = PdqIndex.build(random_codes(10, 1), np.arange(10))
    fresh = random_codes(3, 2)
    with pytest.raises(DuplicateEntry, match="id 5"):
        index.add(fresh, [100, 5, 101])
    with pytest.raises(DuplicateEntry, match="more than once"):
        index.add(fresh, [200, 200, 201])
    assert len(index) == 10
    assert index.search(fresh[0], 0) == []


def test_same_hash_under_several_ids() -> None:
    code = random_codes(1, 3)
    index = PdqIndex.build(np.repeat(code, 3, axis=0), [1, 2, 3])
    assert [m.id for m in index.search(code[0], 0)] == [1, 2, 3]


@pytest.mark.parametrize("bad", [-1, 65, 1000])
def test_threshold_out_of_range_is_refused(bad: int) -> None:
    index = PdqIndex.build(random_codes(4, 1), np.arange(4))
    with pytest.raises(InvalidSignal, match="between 0 and 64"):
        index.search(random_codes(1, 2)[0], bad)


@pytest.mark.parametrize("bad", ["zz" * 32, "ab" * 31, "ab" * 33, "", "g" * 64])
def test_malformed_hex_is_refused_with_its_position(bad: str) -> None:
    with pytest.raises(InvalidSignal, match="#1"):
        pack_hex(["0" * 64, bad])


def test_hex_round_trip() -> None:
    codes = random_codes(50, 4)
    assert (pack_hex(unpack_hex(codes)) == codes).all()
    index = PdqIndex.build(unpack_hex(codes), np.arange(50))
    assert index.search(unpack_hex(codes)[7], 0)[0].id == 7


def test_queries_while_another_thread_adds_and_removes() -> None:
    """Readers see a consistent index while a writer changes it: planted hashes that are never
    removed are always found."""
    codes = random_codes(20_000, 8)
    index = PdqIndex.build(codes, np.arange(20_000), tail_limit=64)
    stop = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        extra = random_codes(3000, 9)
        for i in range(3000):
            index.add(extra[i : i + 1], [100_000 + i])
            if i % 3 == 0:
                index.remove([100_000 + i])
        stop.set()

    def reader() -> None:
        while not stop.is_set():
            found = index.search_batch(codes[:50], 0)
            if sorted(found.ids.tolist()) != list(range(50)):
                errors.append("planted hash missed")

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 20_000 + 2000


@given(st.permutations(list(range(60))))
def test_ids_in_any_order_can_be_found_and_removed(order: list[int]) -> None:
    codes = random_codes(60, 5)
    ids = np.array(order, dtype=np.int64) * 1000 - 7
    index = PdqIndex.build(codes, ids)
    for k in range(0, 60, 7):
        assert int(ids[k]) in index
        assert index.remove([int(ids[k])]) == 1
        assert all(m.id != ids[k] for m in index.search(codes[k], 0))
    assert len(index) == 60 - len(range(0, 60, 7))


def test_readers_never_see_merged_entries_twice() -> None:
    """While a writer adds through the tail, delta rebuilds and merges into main, every reader
    sees each planted hash exactly once."""
    base = random_codes(2000, 31)
    index = PdqIndex.build(base, np.arange(2000), tail_limit=16, min_merge=64)
    planted = random_codes(20, 33)
    index.add(planted, np.arange(5000, 5020))  # in the tail, soon in the delta, then main
    stop = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        extra = random_codes(4000, 32)
        for i in range(0, 4000, 8):
            index.add(extra[i : i + 8], np.arange(10_000 + i, 10_008 + i))
        stop.set()

    def reader() -> None:
        while not stop.is_set():
            found = index.search_batch(np.concatenate([base[:5], planted]), 0)
            expected = [0, 1, 2, 3, 4, *range(5000, 5020)]
            if sorted(found.ids.tolist()) != expected:
                errors.append(f"got {sorted(found.ids.tolist())}")

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert index.stats.main_rebuilds > 0


def test_single_string_is_not_split_into_characters() -> None:
    with pytest.raises(InvalidSignal, match="single string"):
        pack_hex("f" * 64)
    with pytest.raises(InvalidSignal, match="#0"):
        pack_hex(["0" * 63, "0" * 65])


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="strategy must be one of"):
        PdqIndex(strategy="fast")


@given(datasets(), STRATEGIES, CHUNKS)
def test_single_search_equals_batch_in_every_form(data: tuple[np.ndarray, np.ndarray, list[int]],
                                                  strategy: str, chunks: int | None) -> None:
    """The single-query path (its own kernel entry and result buffers) answers as the batch
    path does, for a query given as lower- or upper-case hex, packed words or bytes."""
    codes, queries, thresholds = data
    ids = np.arange(len(codes), dtype=np.int64) * 7 + 3
    index = PdqIndex.build(codes, ids, strategy=strategy, chunks=chunks)
    batch = index.search_batch(queries, thresholds)
    for i, q in enumerate(queries):
        expected = list(batch.for_query(i))
        text = unpack_hex(q[None, :])[0]
        as_bytes = q.astype("<u8").view(np.uint8)
        for form in (text, text.upper(), q, as_bytes):
            assert index.search(form, thresholds[i]) == expected


def test_single_search_with_more_hits_than_its_buffer() -> None:
    code = random_codes(1, 8)
    index = PdqIndex.build(np.repeat(code, 300, axis=0), np.arange(300)[::-1].copy())
    found = index.search(code[0], 0)
    assert [m.id for m in found] == list(range(300))
    assert [m.id for m in index.search(unpack_hex(code)[0], 0)] == list(range(300))


@pytest.mark.parametrize("bad", ["ab" * 31 + " c", " " + "a" * 63, "zz" * 32, "ab" * 33, "", "g" * 64])
def test_single_search_refuses_what_is_not_64_hex_digits(bad: str) -> None:
    index = PdqIndex.build(random_codes(4, 1), np.arange(4))
    with pytest.raises(InvalidSignal, match="64 hex"):
        index.search(bad, 10)
