from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.matching.errors import InvalidSignal
from vigil.matching.signals import Digest, PdqHash, SignalType, VpdqHash, parse_signal


@given(st.binary(min_size=32, max_size=32))
def test_pdq_round_trip(raw: bytes) -> None:
    h = PdqHash.parse(raw.hex().upper())
    assert h.hex == raw.hex() and h.to_bytes() == raw


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_distance_is_hamming(a: bytes, b: bytes) -> None:
    expected = sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))
    assert PdqHash(a.hex()).distance(PdqHash(b.hex())) == expected


@pytest.mark.parametrize(("st_name", "value", "message"), [
    ("pdq", "ab" * 31, "expected 64 hex characters, got 62"),
    ("pdq", "xy" * 32, "not hexadecimal"),
    ("md5", "a" * 31, "expected 32 hex characters"),
    ("sha256", "a" * 65, "expected 64 hex characters, got 65"),
    ("video_md5", 12345, "expected a hex string, got int"),
    ("photodna", "a", "unknown signal type 'photodna'"),
    ("vpdq", "not json", "not a JSON list"),
    ("vpdq", "[]", "non-empty list"),
    ("vpdq", '["' + "a" * 64 + ',101,0.0"]', "quality must be 0-100"),
    ("vpdq", '["' + "a" * 64 + ',50,-1"]', "timestamp must be a finite number >= 0"),
    ("vpdq", '["' + "a" * 64 + ',50"]', "expected 'pdq,quality,timestamp'"),
])
def test_invalid_values_name_the_problem(st_name: str, value: object, message: str) -> None:
    with pytest.raises(InvalidSignal, match=message):
        parse_signal(st_name, value)


def test_valid_values_normalise() -> None:
    assert parse_signal("MD5", "A" * 32) == Digest(SignalType.MD5, "a" * 32)
    v = VpdqHash.parse('["' + "A" * 64 + ',90,1.5", {"pdq": "' + "b" * 64 + '", "quality": 80, "timestamp": 2}]')
    assert [f.pdq[0] for f in v.frames] == ["a", "b"]
    assert VpdqHash.parse(v.to_str()) == v


@pytest.mark.parametrize("value", [
    '[{"pdq": "' + "a" * 64 + '", "quality": null, "timestamp": 0}]',
    '["' + "a" * 64 + ',50,' + "9" * 400 + '"]',
    '[{"pdq": "' + "a" * 64 + '", "quality": 50, "timestamp": ' + "9" * 5000 + '}]',
    '[{"pdq": "' + "a" * 64 + '", "quality": 50, "timestamp": true}]',
])
def test_hostile_vpdq_values_are_invalid_not_crashes(value: str) -> None:
    with pytest.raises(InvalidSignal):
        parse_signal("vpdq", value)
