"""Conversions between PDQ hex strings and the packed form the index works on.

A PDQ hash is packed as four little-endian ``uint64`` words taken from the 32 bytes of its hex
form. Only Hamming distance is ever computed on the packed form, so any fixed layout would do;
this one converts a whole list with one ``bytes.fromhex`` call and no Python loop per bit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from vigil.matching.errors import InvalidSignal
from vigil.matching.signals import PDQ_HEX_LEN

_HEX_RUN = re.compile(r"[0-9a-fA-F]*")


def pack_hex(hashes: Sequence[str] | Iterable[str]) -> np.ndarray:
    """Pack PDQ hex strings into an ``(n, 4)`` uint64 array; raises :class:`InvalidSignal`
    naming the first bad value and its position."""
    if isinstance(hashes, str | bytes):
        raise InvalidSignal("pdq hashes: expected a list of hex strings, got a single string")
    items = list(hashes)
    bad_shape = any(not isinstance(h, str) or len(h) != PDQ_HEX_LEN for h in items)
    joined = "" if bad_shape else "".join(items)
    if bad_shape or not _HEX_RUN.fullmatch(joined):
        for i, h in enumerate(items):
            if not isinstance(h, str) or len(h) != PDQ_HEX_LEN or not _HEX_RUN.fullmatch(h):
                shown = h if isinstance(h, str) and len(h) <= 80 else f"{str(h)[:80]}..."
                raise InvalidSignal(
                    f"pdq hash #{i}: expected {PDQ_HEX_LEN} hex characters, got {shown!r}"
                )
    raw = np.frombuffer(bytes.fromhex(joined), dtype=np.uint8)
    return raw.view("<u8").astype(np.uint64, copy=True).reshape(len(items), 4)


def unpack_hex(codes: np.ndarray) -> list[str]:
    """The inverse of :func:`pack_hex`."""
    raw = np.ascontiguousarray(codes, dtype="<u8").tobytes()
    text = raw.hex()
    return [text[i : i + PDQ_HEX_LEN] for i in range(0, len(text), PDQ_HEX_LEN)]


def as_codes(hashes: np.ndarray | Sequence[str] | Iterable[str]) -> np.ndarray:
    """Accept packed codes (``(n, 4)`` uint64 or ``(n, 32)`` uint8) or hex strings."""
    if isinstance(hashes, np.ndarray):
        if hashes.ndim == 2 and hashes.shape[1] == 4 and hashes.dtype == np.uint64:
            return np.ascontiguousarray(hashes)
        if hashes.ndim == 2 and hashes.shape[1] == 32 and hashes.dtype == np.uint8:
            return np.ascontiguousarray(hashes).view("<u8").astype(np.uint64).reshape(-1, 4)
        raise InvalidSignal(
            f"pdq codes: expected an (n, 4) uint64 or (n, 32) uint8 array, got "
            f"{hashes.shape} {hashes.dtype}"
        )
    return pack_hex(hashes)


def random_codes(n: int, seed: int) -> np.ndarray:
    """``n`` uniformly random 256-bit hashes (benchmarks and tests)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(np.uint64).max, size=(n, 4), dtype=np.uint64, endpoint=True)


def flip_bits(codes: np.ndarray, counts: np.ndarray, seed: int) -> np.ndarray:
    """Copy of ``codes`` with ``counts[i]`` distinct random bits flipped in row ``i``."""
    rng = np.random.default_rng(seed)
    out = codes.copy()
    for i, k in enumerate(np.asarray(counts)):
        bits = rng.choice(256, size=int(k), replace=False)
        for b in bits:
            out[i, b >> 6] ^= np.uint64(1) << np.uint64(b & 63)
    return out


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Hamming distance of two ``(n, 4)`` code arrays (numpy only; the independent
    reference the index is tested against)."""
    out: np.ndarray = np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1).astype(np.int32)
    return out
