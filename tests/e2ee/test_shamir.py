"""Shamir sharing and Berlekamp-Welch decoding: round trips, too few shares, wrong shares."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.e2ee import shamir

secrets_ = st.integers(min_value=0, max_value=shamir.PRIME - 1)


@settings(max_examples=40, deadline=None)
@given(secret=secrets_, t=st.integers(1, 8), extra=st.integers(0, 4), seed=st.integers(0, 2**32))
def test_any_t_shares_give_the_secret(secret: int, t: int, extra: int, seed: int) -> None:
    shares = shamir.split(secret, t, t + extra)
    random.Random(seed).shuffle(shares)
    assert shamir.combine(shares, t) == secret
    assert shamir.combine(shares[:t], t) == secret


@settings(max_examples=30, deadline=None)
@given(secret=secrets_, t=st.integers(2, 6), guess=secrets_)
def test_fewer_than_t_shares_fit_every_secret(secret: int, t: int, guess: int) -> None:
    """t - 1 shares are consistent with *any* secret: the polynomial through them and
    (0, guess) passes through every share (so they rule no secret out), and they do not
    decode."""
    shares = shamir.split(secret, t, t - 1)
    points = [(s.x, s.y) for s in shares] + [(0, guess)]
    for s in shares:
        assert _lagrange(points, s.x) == s.y
    assert _lagrange(points, 0) == guess
    assert shamir.decode(shares, t) is None


def _lagrange(points: list[tuple[int, int]], at: int) -> int:
    p, total = shamir.PRIME, 0
    for i, (xi, yi) in enumerate(points):
        num = den = 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num = num * (at - xj) % p
                den = den * (xi - xj) % p
        total = (total + yi * num * pow(den, -1, p)) % p
    return total


@settings(max_examples=30, deadline=None)
@given(secret=secrets_, t=st.integers(1, 6), errors=st.integers(0, 3), seed=st.integers(0, 2**32))
def test_decoding_corrects_wrong_shares(secret: int, t: int, errors: int, seed: int) -> None:
    rng = random.Random(seed)
    good = shamir.split(secret, t, t + 2 * errors)
    bad = [shamir.Share(rng.randrange(1, shamir.PRIME), rng.randrange(shamir.PRIME))
           for _ in range(errors)]
    points = good + bad
    rng.shuffle(points)
    f = shamir.decode(points, t)
    assert f is not None and f.secret == secret


def test_too_many_wrong_shares_do_not_decode_to_a_wrong_secret() -> None:
    good = shamir.split(42, 5, 6)
    bad = [shamir.Share(10**6 + i, 12345 + i) for i in range(3)]
    f = shamir.decode(good + bad, 5)
    assert f is None or f.secret == 42
    assert shamir.decode(good[:4], 5) is None


@settings(max_examples=50, deadline=None)
@given(x=st.integers(1, shamir.PRIME - 1), y=secrets_)
def test_share_encoding_round_trips(x: int, y: int) -> None:
    s = shamir.Share(x, y)
    data = shamir.encode_share(s)
    assert len(data) == shamir.SHARE_BYTES and shamir.decode_share(data) == s


@pytest.mark.parametrize(("data", "word"), [
    (b"\x01" * 10, "64 bytes"),
    (bytes(64), "non-zero"),
    (b"\x00" * 31 + b"\x01" + b"\xff" * 32, "outside the field"),
])
def test_malformed_shares_are_refused(data: bytes, word: str) -> None:
    with pytest.raises(shamir.ShareError, match=word):
        shamir.decode_share(data)


def test_combine_refuses_too_few_or_conflicting_shares() -> None:
    shares = shamir.split(7, 3, 3)
    with pytest.raises(shamir.ShareError, match="3 shares"):
        shamir.combine(shares[:2], 3)
    with pytest.raises(shamir.ShareError, match="same x"):
        shamir.combine([shares[0], shamir.Share(shares[0].x, shares[0].y + 1), shares[1]], 3)
