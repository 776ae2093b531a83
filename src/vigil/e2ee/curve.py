"""The one group the home-made protocols here use: NIST P-256 through ``cryptography``'s vetted
ECDH, x-coordinates only.

``cryptography`` (OpenSSL) offers scalar multiplication of a peer's point only as ECDH, which
returns the *x-coordinate* of ``k·P``; it has no point addition and no hash-to-curve. That is
enough for everything here, because ``k·P`` and ``k·(-P)`` share their x-coordinate: a point
is carried as its 32-byte x and rebuilt with either y (compressed form ``02 || x``), and every
chain of multiplications gives the same x whichever y was picked. Equality of x-coordinates
means equality up to sign, which is all the protocols compare.

Hash to the curve (:func:`hash_to_point`) is *try and increment*: x = SHA-256(domain, counter,
message) is taken when it is below the field prime and ``02 || x`` is a point (about half the
tries). It is not RFC 9380's constant-time map: the number of tries depends on the message,
which leaks timing about the message to whoever watches the hashing party's CPU; it is used
only by the party that owns the message (the device for its own pictures, the server for its
own list), never on a secret of another party. The output is uniform over the x-coordinates of
points, nobody knows its discrete logarithm, and it is a random oracle to the curve up to sign,
which is what the ECDH-based PSI and the Apple-PSI-like construction assume.

Costs here (one core of the machine in docs/benchmarks.md): a multiplication ~0.33 ms (point
decompression 0.13 ms + ECDH 0.2 ms), a hash to the curve ~0.26 ms.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.hazmat.primitives.asymmetric import ec

CURVE = ec.SECP256R1()
#: The order of P-256's group (scalars live modulo it).
ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: The field prime.
FIELD = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
POINT_BYTES = 32
_MAX_TRIES = 256


class CurveError(ValueError):
    """Bytes that are not the x-coordinate of a P-256 point, or a scalar out of range."""


def random_scalar() -> int:
    """A uniform scalar in [1, ORDER)."""
    return 1 + secrets.randbelow(ORDER - 1)


def inverse(k: int) -> int:
    return pow(k, -1, ORDER)


def point(x: bytes) -> ec.EllipticCurvePublicKey:
    """The point with x-coordinate ``x`` (32 bytes), either sign; :class:`CurveError` if none."""
    if len(x) != POINT_BYTES:
        raise CurveError(f"a point is {POINT_BYTES} bytes (its x-coordinate), got {len(x)}")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, b"\x02" + x)
    except ValueError:
        raise CurveError("not the x-coordinate of a P-256 point") from None


def _x(pub: ec.EllipticCurvePublicKey) -> bytes:
    return pub.public_numbers().x.to_bytes(POINT_BYTES, "big")


class Scalar:
    """A secret scalar ready to multiply points (the OpenSSL key object is built once)."""

    def __init__(self, k: int | None = None) -> None:
        self.k = random_scalar() if k is None else k
        if not 0 < self.k < ORDER:
            raise CurveError("a scalar is in [1, order)")
        self._key = ec.derive_private_key(self.k, CURVE)

    def times(self, p: bytes | ec.EllipticCurvePublicKey) -> bytes:
        """x(k·P) for P given by its x-coordinate or as a point."""
        pub = point(p) if isinstance(p, bytes) else p
        return self._key.exchange(ec.ECDH(), pub)

    def times_base(self) -> bytes:
        """x(k·G)."""
        return _x(self._key.public_key())

    def inverse(self) -> Scalar:
        return Scalar(inverse(self.k))


def hash_to_point(message: bytes, domain: bytes) -> ec.EllipticCurvePublicKey:
    """H(message) on P-256 by try and increment (see the module's docstring)."""
    for counter in range(_MAX_TRIES):
        x = hashlib.sha256(b"vigil-e2ee-h2c-v1\0" + domain + b"\0" + bytes([counter])
                           + message).digest()
        if int.from_bytes(x, "big") >= FIELD:
            continue
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, b"\x02" + x)
        except ValueError:
            continue
    raise CurveError("no point found in 256 tries (probability 2^-256)")  # pragma: no cover


def random_point_x() -> bytes:
    """The x-coordinate of a uniformly random point (dummy table slots)."""
    return Scalar().times_base()


def point_x_from_seed(seed: bytes) -> bytes:
    """The x-coordinate of a point derived from ``seed`` (dummy slots an auditor can rebuild)."""
    return _x(hash_to_point(seed, b"dummy"))
