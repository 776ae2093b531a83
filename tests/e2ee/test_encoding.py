"""Set elements: exact and chunk encodings round-trip, bad hashes are refused by name, and the
pigeonhole guarantee of the perceptual scheme holds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.e2ee import encoding
from vigil.e2ee.perceptual import ChunkScheme
from vigil.matching.errors import InvalidSignal

hex64 = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)


@settings(max_examples=60)
@given(value=hex64, kind=st.sampled_from(["pdq", "sha256"]))
def test_exact_elements_round_trip(value: str, kind: str) -> None:
    element = encoding.exact_element(kind, value)
    assert element == f"{kind}:{value.lower()}"
    st_, parsed = encoding.parse_element(element)
    assert st_.value == kind and parsed == value.lower()


@settings(max_examples=60)
@given(value=hex64, chunks=st.sampled_from(encoding.CHUNK_COUNTS))
def test_chunk_elements_round_trip_and_rebuild_the_hash(value: str, chunks: int) -> None:
    elements = encoding.list_chunk_elements(value, chunks)
    parsed = [encoding.parse_chunk_element(e) for e in elements]
    assert [p[1] for p in parsed] == list(range(chunks))
    bits = 256 // chunks
    rebuilt = 0
    for _, _, v in parsed:
        rebuilt = (rebuilt << bits) | v
    assert rebuilt == int(value, 16)


@pytest.mark.parametrize(("kind", "value", "word"), [
    ("pdq", "abc", "expected 64 hex characters"),
    ("pdq", "z" * 64, "not hexadecimal"),
    ("md5", "0" * 64, "expected 32 hex characters"),
    ("nope", "0" * 64, "unknown signal type"),
    ("vpdq", "0" * 64, "vpdq"),
])
def test_bad_hashes_are_refused_by_name(kind: str, value: str, word: str) -> None:
    with pytest.raises(InvalidSignal, match=word):
        encoding.exact_element(kind, value)


@pytest.mark.parametrize("element", ["pdq", "pdq:xyz", "pdq/8/9/00000000", "pdq/8/0/0000000",
                                     "pdq/7/0/00", "pdq/8/0/ABCDEF01", "md5/8/0/00000000"])
def test_malformed_elements_are_refused(element: str) -> None:
    with pytest.raises((ValueError, InvalidSignal)):
        if "/" in element:
            encoding.parse_chunk_element(element)
        else:
            encoding.parse_element(element)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), distance=st.integers(0, 31))
def test_pigeonhole_scheme_shares_an_element_within_31(seed: int, distance: int) -> None:
    rng = random.Random(seed)
    a = rng.getrandbits(256)
    b = a
    for bit in rng.sample(range(256), distance):
        b ^= 1 << bit
    scheme = ChunkScheme(8, 3, 1)
    assert scheme.guaranteed()
    listed = set(scheme.list_elements([f"{a:064x}"]))
    asked, _ = scheme.query(f"{b:064x}")
    assert listed & set(asked)


def test_scheme_parameters_are_checked() -> None:
    assert ChunkScheme(8, 3, 1).query_size == 8 * (1 + 32 + 496 + 4960)
    assert not ChunkScheme(8, 1, 2).guaranteed()
    for bad in ({"chunks": 7}, {"radius": 5}, {"min_positions": 9}):
        with pytest.raises(ValueError):
            ChunkScheme(**bad)  # type: ignore[arg-type]
