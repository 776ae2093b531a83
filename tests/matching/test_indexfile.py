from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.matching.codes import flip_bits, random_codes, unpack_hex
from vigil.matching.errors import IndexFileError
from vigil.matching.index import PdqIndex
from vigil.matching.indexfile import load_index, map_arrays, save_arrays, save_index


@given(st.integers(0, 300), st.integers(0, 2**32))
def test_save_load_round_trip(n: int, seed: int) -> None:
    import tempfile

    codes = random_codes(n, seed)
    index = PdqIndex.build(codes, np.arange(n) * 3 - 50)
    if n > 2:
        index.remove([-50])
        index.add(random_codes(2, seed + 1), [10**9, 10**9 + 1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "i.vpi"
        save_index(index, path)
        loaded = load_index(path)
    a_codes, a_ids = index.entries()
    b_codes, b_ids = loaded.entries()
    order_a, order_b = np.argsort(a_ids), np.argsort(b_ids)
    assert (a_ids[order_a] == b_ids[order_b]).all()
    assert (a_codes[order_a] == b_codes[order_b]).all()


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "index.vpi"
    save_index(PdqIndex.build(random_codes(100, 1), np.arange(100)), path)
    return path


def test_truncated_file(saved: Path) -> None:
    saved.write_bytes(saved.read_bytes()[:-10])
    with pytest.raises(IndexFileError, match="truncated"):
        load_index(saved)


def test_flipped_byte_is_detected(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[100] ^= 1
    saved.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="checksum"):
        load_index(saved)


def test_pickle_is_never_loaded(tmp_path: Path) -> None:
    """A pickle that would run code on unpickling is rejected as 'not a vigil index'."""
    path = tmp_path / "evil.vpi"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(IndexFileError, match="not a vigil index file"):
        load_index(path)
    assert not marker.exists()


def test_other_bad_files(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(IndexFileError, match="cannot read"):
        load_index(tmp_path / "missing.vpi")
    empty = tmp_path / "empty.vpi"
    empty.write_bytes(b"")
    with pytest.raises(IndexFileError, match="too short"):
        load_index(empty)
    data = bytearray(saved.read_bytes())
    data[12] = 9  # version
    saved.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="version 9"):
        load_index(saved)


def test_save_is_atomic(tmp_path: Path, saved: Path) -> None:
    before = saved.read_bytes()
    index = PdqIndex.build(random_codes(3, 2), [1, 2, 3])

    class Boom(Exception):
        pass

    import vigil.matching.indexfile as mod

    original = mod.os.fsync

    def failing_fsync(fd: int) -> None:
        raise Boom

    mod.os.fsync = failing_fsync  # type: ignore[assignment]
    try:
        with pytest.raises(Boom):
            save_index(index, saved)
    finally:
        mod.os.fsync = original
    assert saved.read_bytes() == before


# -- the memory-mapped live index file ----------------------------------------------------


def _mapped(index: PdqIndex, path: Path) -> PdqIndex:
    save_arrays(path, index.arrays(), 7)
    position, arrays = map_arrays(path)
    assert position == 7
    return PdqIndex.from_arrays(arrays)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 400), st.integers(0, 2**32), st.booleans(), st.integers(0, 64),
       st.sampled_from([12, 11]))
def test_mapped_index_matches_a_freshly_built_one(n: int, seed: int, shuffled: bool,
                                                   threshold: int, chunks: int) -> None:
    """In either layout, the file carries it with the tables."""
    import tempfile

    codes = random_codes(n, seed)
    ids = np.arange(n, dtype=np.int64) * 5 + 3
    if shuffled:  # ids out of order: the file carries the id order as well
        ids = np.random.default_rng(seed).permutation(ids)
    fresh = PdqIndex.build(codes, ids, chunks=chunks)
    rng = np.random.default_rng(seed + 1)
    near = flip_bits(codes[rng.integers(0, n, 20)], rng.integers(0, 40, 20), seed) if n else \
        np.empty((0, 4), np.uint64)
    queries = np.concatenate([near, random_codes(10, seed + 2)])
    with tempfile.TemporaryDirectory() as tmp:
        mapped = _mapped(fresh, Path(tmp) / "live.vmx")
        a, b = fresh.search_batch(queries, threshold), mapped.search_batch(queries, threshold)
        assert (a.query == b.query).all() and (a.ids == b.ids).all()
        assert (a.distances == b.distances).all()
        assert len(mapped) == n and all(int(i) in mapped for i in ids[:5])
        # A mapped index still changes like any other (the mapping itself is never written).
        if n:
            mapped.remove([int(ids[0])])
            mapped.add(codes[:1], [10**12])
            hit = mapped.search(unpack_hex(codes[:1])[0], 0)
            assert [m.id for m in hit] == [10**12]


@pytest.fixture
def mapped_file(tmp_path: Path) -> Path:
    path = tmp_path / "live.vmx"
    save_arrays(path, PdqIndex.build(random_codes(500, 3), np.arange(500)).arrays(), 42)
    return path


def test_mapped_file_damage_is_refused(mapped_file: Path) -> None:
    good = mapped_file.read_bytes()
    # A flipped bit anywhere in an array: its checksum.
    for name, at in (("codes", 3), ("ent", 5000), ("ids", 3999)):
        data = bytearray(good)
        data[_offset_of(good, name) + at] ^= 0x10
        mapped_file.write_bytes(bytes(data))
        with pytest.raises(IndexFileError, match="checksum mismatch in"):
            map_arrays(mapped_file)
    # A flipped bit in the header (a size, the position): the header's checksum.
    data = bytearray(good)
    data[20] ^= 1
    mapped_file.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="header checksum"):
        map_arrays(mapped_file)
    # Cut short: the last array lies beyond the end.
    mapped_file.write_bytes(good[: len(good) - 100])
    with pytest.raises(IndexFileError, match="truncated"):
        map_arrays(mapped_file)
    mapped_file.write_bytes(good[:50])
    with pytest.raises(IndexFileError, match="truncated"):
        map_arrays(mapped_file)
    mapped_file.write_bytes(b"VIGIL-PDQIX\n" + good[12:])
    with pytest.raises(IndexFileError, match="wrong magic"):
        map_arrays(mapped_file)


def _offset_of(good: bytes, name: str) -> int:
    from vigil.matching.indexfile import _MAP_ENTRY, _MAP_HEADER

    for k in range(_MAP_HEADER.unpack_from(good)[3]):
        fields = _MAP_ENTRY.unpack_from(good, _MAP_HEADER.size + k * _MAP_ENTRY.size)
        if fields[0].rstrip(b"\0").decode() == name:
            return int(fields[5])
    raise KeyError(name)


def _rewrite_entry(good: bytes, k: int, **changes: int) -> bytes:
    """The file with entry ``k`` of its table changed and the header checksum made right
    again: a file that lies consistently, as a damaged writer or a crafted file would."""
    from vigil.matching.indexfile import _MAP_ENTRY, _MAP_HEADER

    n = _MAP_HEADER.unpack_from(good)[3]
    at = _MAP_HEADER.size + k * _MAP_ENTRY.size
    fields = list(_MAP_ENTRY.unpack_from(good, at))
    for name, value in changes.items():
        fields[["name", "dtype", "ndim", "d0", "d1", "offset", "nbytes", "crc", "pad"]
               .index(name)] = value
    data = bytearray(good)
    data[at : at + _MAP_ENTRY.size] = _MAP_ENTRY.pack(*fields)
    end = _MAP_HEADER.size + n * _MAP_ENTRY.size
    data[end : end + 4] = struct.pack("<I", zlib.crc32(bytes(data[:end])))
    return bytes(data)


def test_a_header_claiming_more_than_the_file_holds_is_refused(mapped_file: Path) -> None:
    good = mapped_file.read_bytes()
    mapped_file.write_bytes(_rewrite_entry(good, 0, d0=10**15, nbytes=32 * 10**15))
    with pytest.raises(IndexFileError, match=r"truncated: array 'codes' claims"):
        map_arrays(mapped_file)
    mapped_file.write_bytes(_rewrite_entry(good, 0, nbytes=64))
    with pytest.raises(IndexFileError, match="size does not match its shape"):
        map_arrays(mapped_file)
    mapped_file.write_bytes(_rewrite_entry(good, 0, offset=8))
    with pytest.raises(IndexFileError, match="truncated"):
        map_arrays(mapped_file)
    mapped_file.write_bytes(_rewrite_entry(good, 0, dtype=b"|O\0\0"))
    with pytest.raises(IndexFileError, match="unknown layout"):
        map_arrays(mapped_file)
    data = bytearray(good)
    data[24:28] = struct.pack("<I", 10**6)  # n_arrays
    mapped_file.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="claims 1000000 arrays"):
        map_arrays(mapped_file)


def test_tables_pointing_outside_the_index_are_refused(tmp_path: Path) -> None:
    """A file whose checksums are right but whose tables are wrong never reaches the search
    kernel (which does not check bounds)."""
    arrays = dict(PdqIndex.build(random_codes(300, 4), np.arange(300)).arrays())
    bad_ent = arrays["ent"].copy()
    bad_ent[5, 7] = np.uint32(0xFFFFFFFF)
    bad_off = arrays["off"].copy()
    bad_off[2, 9] = 10**6
    for change, message in (({"ent": bad_ent}, "points beyond"),
                            ({"off": arrays["off"][:10], "ent": arrays["ent"][:10]}, "do not fit"),
                            ({"ent": arrays["ent"][:11]}, "do not fit"),
                            ({"off": bad_off}, "bucket offsets"),
                            ({"ids": arrays["ids"][::-1].copy()}, "ids neither ascend"),
                            ({"codes": arrays["codes"][:-1]}, "wrong dtypes or shapes")):
        path = tmp_path / "bad.vmx"
        save_arrays(path, {**arrays, **change}, 1)
        with pytest.raises(ValueError, match=message):
            PdqIndex.from_arrays(map_arrays(path)[1])


def test_save_arrays_refuses_what_it_cannot_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        save_arrays(tmp_path / "x", {"f": np.zeros(3, np.float64)}, 0)
    with pytest.raises(ValueError, match="unsupported"):
        save_arrays(tmp_path / "x", {"n" * 17: np.zeros(3, np.int64)}, 0)
    with pytest.raises(ValueError, match="at most"):
        save_arrays(tmp_path / "x", {f"a{k}": np.zeros(1, np.int64) for k in range(17)}, 0)
    assert not list(tmp_path.iterdir())  # nothing half-written left behind
