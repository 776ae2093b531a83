from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.matching.errors import DuplicateEntry, InvalidSignal
from vigil.matching.exact import ExactIndex


@given(st.lists(st.binary(min_size=1, max_size=4), max_size=300), st.integers(1, 50))
def test_exact_index_equals_a_dict(payloads: list[bytes], tail_limit: int) -> None:
    index = ExactIndex(16, tail_limit=tail_limit)
    model: dict[bytes, set[int]] = {}
    for i, p in enumerate(payloads):
        d = hashlib.md5(p).digest()
        index.add([d], [i])
        model.setdefault(d, set()).add(i)
    for i in range(0, len(payloads), 3):
        index.remove([i])
        for ids in model.values():
            ids.discard(i)
    for p in set(payloads) | {b"absent"}:
        d = hashlib.md5(p).digest()
        assert set(index.lookup(d)) == model.get(d, set())
    assert len(index) == sum(len(v) for v in model.values())


def test_hex_and_errors() -> None:
    index = ExactIndex(32)
    digest = hashlib.sha256(b"x").hexdigest()
    index.add([digest], [7])
    assert index.lookup(digest.upper()) == [7]
    with pytest.raises(DuplicateEntry):
        index.add([digest], [7])
    with pytest.raises(InvalidSignal, match="expected 32 bytes"):
        index.lookup("abcd")
    with pytest.raises(InvalidSignal, match="not hexadecimal"):
        index.lookup("zz" * 32)
