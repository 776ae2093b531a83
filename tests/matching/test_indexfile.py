from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.matching.codes import random_codes
from vigil.matching.errors import IndexFileError
from vigil.matching.index import PdqIndex
from vigil.matching.indexfile import load_index, save_index


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
