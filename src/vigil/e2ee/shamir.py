"""Shamir secret sharing over the prime field of 2^255 - 19, with Berlekamp-Welch decoding.

A secret s is the constant term of a random polynomial f of degree t - 1; a share is the point
(x, f(x)) for a non-zero x. Any t shares with distinct x give s by Lagrange interpolation;
t - 1 shares, together with any number of points that are independent of f, say nothing about
s (information-theoretically: every s is equally likely). That is the property threshold
reporting needs below its threshold.

:func:`decode` recovers f from points of which some are *not* on it (the dummy shares of
synthetic vouchers): Berlekamp-Welch, which succeeds when ``k ≥ t + 2e`` for k points with e
wrong ones — i.e. when the real shares number at least t + e. Nothing here is constant time:
the shares are the server's to decode, not a secret it must hide from itself.

Encoding (:func:`encode_share`): 64 bytes, x then y, each 32 bytes big-endian, both below the
prime and x non-zero. Source: A. Shamir, "How to share a secret", CACM 1979; L. Welch and
E. Berlekamp, US patent 4,633,470 (1986), as presented in e.g. Gemmell and Sudan, "Highly
resilient correctors for polynomials", IPL 1992.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

PRIME = 2**255 - 19
SHARE_BYTES = 64


class ShareError(ValueError):
    """Malformed shares, or too few of them."""


@dataclass(frozen=True)
class Share:
    x: int
    y: int


def _check(v: int, what: str) -> int:
    if not 0 <= v < PRIME:
        raise ShareError(f"{what} is outside the field")
    return v


class Polynomial:
    """f(x) = c0 + c1 x + ... over the field; c0 is the secret."""

    def __init__(self, coefficients: Sequence[int]) -> None:
        self.c = [_check(c, "a coefficient") for c in coefficients]

    @classmethod
    def random(cls, secret: int, threshold: int) -> Polynomial:
        """A uniformly random polynomial of degree ``threshold - 1`` with f(0) = ``secret``."""
        if threshold < 1:
            raise ShareError("the threshold is at least 1")
        return cls([_check(secret, "the secret")]
                   + [secrets.randbelow(PRIME) for _ in range(threshold - 1)])

    @property
    def secret(self) -> int:
        return self.c[0]

    def __call__(self, x: int) -> int:
        acc = 0
        for c in reversed(self.c):
            acc = (acc * x + c) % PRIME
        return acc

    def share(self, x: int) -> Share:
        if not 0 < x < PRIME:
            raise ShareError("a share's x is a non-zero field element")
        return Share(x, self(x))


def split(secret: int, threshold: int, count: int) -> list[Share]:
    """``count`` shares at random distinct x of a fresh polynomial (a convenience for tests)."""
    f = Polynomial.random(secret, threshold)
    xs: set[int] = set()
    while len(xs) < count:
        xs.add(1 + secrets.randbelow(PRIME - 1))
    return [f.share(x) for x in xs]


def combine(shares: Sequence[Share], threshold: int) -> int:
    """The secret from the first ``threshold`` shares (Lagrange at 0). All shares must be real;
    :class:`ShareError` if there are too few or two have the same x."""
    pts = _distinct(shares)
    if len(pts) < threshold:
        raise ShareError(f"{threshold} shares with distinct x are needed, got {len(pts)}")
    pts = pts[:threshold]
    secret = 0
    for i, (xi, yi) in enumerate(pts):
        num, den = 1, 1
        for j, (xj, _) in enumerate(pts):
            if i != j:
                num = num * xj % PRIME
                den = den * (xj - xi) % PRIME
        secret = (secret + yi * num * pow(den, -1, PRIME)) % PRIME
    return secret


def _distinct(shares: Sequence[Share]) -> list[tuple[int, int]]:
    seen: dict[int, int] = {}
    for s in shares:
        if s.x in seen and seen[s.x] != s.y:
            raise ShareError("two shares have the same x and different y")
        seen[s.x] = s.y
    return list(seen.items())


def decode(shares: Sequence[Share], threshold: int) -> Polynomial | None:
    """The polynomial of degree < ``threshold`` that most of ``shares`` lie on, when the wrong
    ones number at most (k - threshold) / 2 (Berlekamp-Welch); None when no such polynomial
    exists. Cost: one k x k linear system over the field, O(k^3) (~0.4 s at k = 60, ~3 s at
    k = 120 in Python on one core; callers cap k, e.g. :class:`vigil.e2ee.threshold.Account`).

    One system suffices: with e = floor((k - t) / 2), if at most e points are wrong, *every*
    solution (Q, E) of the key equation has Q = f·E (Berlekamp-Welch's uniqueness argument:
    Q·E' and Q'·E agree on k > t + 2e - 1 points), so Q / E is f whichever solution is found;
    the result is then checked to agree with at least k - e points."""
    pts = _distinct(shares)
    k = len(pts)
    if k < threshold:
        return None
    e = (k - threshold) // 2
    poly = _welch(pts, threshold, e)
    if poly is None:
        return None
    agree = sum(1 for x, y in pts if poly(x) == y)
    return poly if agree >= k - e and agree >= threshold else None


def _welch(pts: list[tuple[int, int]], t: int, e: int) -> Polynomial | None:
    """Solve Q(x_i) = y_i E(x_i), E monic of degree e, Q of degree < t + e; return Q / E."""
    nq = t + e
    rows = []
    for x, y in pts:
        # unknowns: q_0..q_{nq-1}, e_0..e_{e-1};  sum q_j x^j - y sum e_j x^j = y x^e
        powers = [pow(x, j, PRIME) for j in range(max(nq, e + 1))]
        row = powers[:nq] + [(-y * powers[j]) % PRIME for j in range(e)]
        rows.append([*row, y * powers[e] % PRIME])
    sol = _solve(rows, nq + e)
    if sol is None:
        return None
    q, ecoef = sol[:nq], [*sol[nq:], 1]
    quotient, remainder = _divide(q, ecoef)
    if any(remainder):
        return None
    return Polynomial((quotient + [0] * t)[:t]) if len(_trim(quotient)) <= t else None


def _solve(rows: list[list[int]], n: int) -> list[int] | None:
    """Any solution of the augmented system mod PRIME (free unknowns set to 0), or None."""
    m = [r[:] for r in rows]
    pivots = []
    r = 0
    for c in range(n):
        piv = next((i for i in range(r, len(m)) if m[i][c]), None)
        if piv is None:
            continue
        m[r], m[piv] = m[piv], m[r]
        inv = pow(m[r][c], -1, PRIME)
        m[r] = [v * inv % PRIME for v in m[r]]
        for i in range(len(m)):
            if i != r and m[i][c]:
                f = m[i][c]
                m[i] = [(a - f * b) % PRIME for a, b in zip(m[i], m[r], strict=True)]
        pivots.append(c)
        r += 1
        if r == len(m):
            break
    if any(row[n] and not any(row[:n]) for row in m):
        return None
    sol = [0] * n
    for i, c in enumerate(pivots):
        sol[c] = m[i][n]
    return sol


def _trim(p: list[int]) -> list[int]:
    p = p[:]
    while p and p[-1] == 0:
        p.pop()
    return p


def _divide(num: list[int], den: list[int]) -> tuple[list[int], list[int]]:
    num, den = _trim(num), _trim(den)
    if len(num) < len(den):
        return [0], num
    out = [0] * (len(num) - len(den) + 1)
    inv = pow(den[-1], -1, PRIME)
    rem = num[:]
    for i in range(len(out) - 1, -1, -1):
        coef = rem[i + len(den) - 1] * inv % PRIME
        out[i] = coef
        for j, d in enumerate(den):
            rem[i + j] = (rem[i + j] - coef * d) % PRIME
    return out, _trim(rem[:len(den) - 1])


def encode_share(share: Share) -> bytes:
    return share.x.to_bytes(32, "big") + share.y.to_bytes(32, "big")


def decode_share(data: bytes) -> Share:
    """A share from its 64 bytes; :class:`ShareError` naming what is wrong."""
    if len(data) != SHARE_BYTES:
        raise ShareError(f"a share is {SHARE_BYTES} bytes, got {len(data)}")
    x, y = int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big")
    if not 0 < x < PRIME:
        raise ShareError("a share's x is a non-zero field element")
    return Share(x, _check(y, "a share's y"))
