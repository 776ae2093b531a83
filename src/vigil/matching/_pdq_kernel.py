"""PDQ's arithmetic, compiled (numba, cached on disk), giving the same bits and quality as the
reference implementation (Meta's C++ ``pdqhashing``, as the ``pdqhash`` package wraps it).

Why our own: on a one-megapixel photo the reference spends most of its time in cache misses,
not in arithmetic: its vertical box-filter passes walk each column from top to bottom, one
cache line per pixel. The same sums taken row by row — every column's running sum advanced
together, each one still adding and subtracting the same values in the same order — touch
memory sequentially, and the whole hash of a 1 MP picture takes a fraction of the time
(``vigil bench hash``, docs/benchmarks.md). Exactness is the point of a perceptual hash shared
between organisations, so every step keeps the reference's float32 operations and their order:

1. luma ``0.299 R + 0.587 G + 0.114 B`` in float64, rounded to float32 (what ``pdqhash``
   computes before calling the C++);
2. the Jarosz filter: twice, a box filter along the rows then along the columns, with window
   ``ceil(n / 128)`` in each direction; each output is the running float32 sum divided by the
   number of values in the window (which is smaller at the edges);
3. decimation to 64 x 64 at the centres of the cells;
4. quality: the sum over neighbouring cells of ``|trunc((u - v) * 100 / 255)|``, divided by 90,
   at most 100;
5. a 16 x 16 DCT (rows 1-16 of the DCT-II matrix, float32 sums in index order), the median by
   rank (the 128th smallest of the 256), and a bit set where a coefficient exceeds it.

``tests/matching/test_pdq_kernel.py`` checks bit-for-bit equality with ``pdqhash`` on random
and photographic inputs of many shapes. Source of the algorithm: "The TMK+PDQF and PDQ
hashing algorithms" (Meta, 2017) and the reference implementation's behaviour.
"""

from __future__ import annotations

# mypy: ignore-errors
# (numba-compiled code: its types are checked by numba when it compiles, not by mypy.)
import math

import numpy as np
from numba import njit

#: Smaller images have no PDQ (the reference answers all-zero bits and quality 0).
MIN_DIM = 5


def _dct_matrix() -> np.ndarray:
    scale = np.float32(math.sqrt(2.0 / 64))
    d = np.empty((16, 64), dtype=np.float32)
    for i in range(16):
        for j in range(64):
            # float * double in double, then stored as float (as the reference does).
            d[i, j] = np.float32(float(scale) * math.cos((math.pi / 2.0 / 64.0) * (i + 1) * (2 * j + 1)))
    return d


_DCT = _dct_matrix()


@njit(cache=True, nogil=True)
def _luma(rgb):
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.empty((h, w), dtype=np.float32)
    for i in range(h):
        for j in range(w):
            y = (np.float64(rgb[i, j, 0]) * 0.299 + np.float64(rgb[i, j, 1]) * 0.587) \
                + np.float64(rgb[i, j, 2]) * 0.114
            out[i, j] = np.float32(y)
    return out


@njit(cache=True, nogil=True)
def _box_rows(src, dst, window):
    """Box filter along each row (contiguous): one running sum per row."""
    h, w = src.shape
    half = (window + 2) // 2
    for i in range(h):
        s = np.float32(0.0)
        n = 0
        r = 0
        left = 0
        o = 0
        for _ in range(half - 1):
            s += src[i, r]
            n += 1
            r += 1
        for _ in range(window - half + 1):
            s += src[i, r]
            n += 1
            dst[i, o] = s / np.float32(n)
            r += 1
            o += 1
        for _ in range(w - window):
            s += src[i, r]
            s -= src[i, left]
            dst[i, o] = s / np.float32(n)
            left += 1
            r += 1
            o += 1
        for _ in range(half - 1):
            s -= src[i, left]
            n -= 1
            dst[i, o] = s / np.float32(n)
            left += 1
            o += 1


@njit(cache=True, nogil=True)
def _box_cols(src, dst, window):
    """Box filter along each column, all columns advancing together row by row: the same
    additions per column as a column-at-a-time walk, in sequential memory order."""
    h, w = src.shape
    half = (window + 2) // 2
    s = np.zeros(w, dtype=np.float32)
    r = 0
    left = 0
    o = 0
    n = 0
    for _ in range(half - 1):
        for j in range(w):
            s[j] += src[r, j]
        n += 1
        r += 1
    for _ in range(window - half + 1):
        n += 1
        fn = np.float32(n)
        for j in range(w):
            s[j] += src[r, j]
            dst[o, j] = s[j] / fn
        r += 1
        o += 1
    fn = np.float32(n)
    for _ in range(h - window):
        for j in range(w):
            s[j] += src[r, j]
            s[j] -= src[left, j]
            dst[o, j] = s[j] / fn
        left += 1
        r += 1
        o += 1
    for _ in range(half - 1):
        n -= 1
        fn = np.float32(n)
        for j in range(w):
            s[j] -= src[left, j]
            dst[o, j] = s[j] / fn
        left += 1
        o += 1


@njit(cache=True, nogil=True)
def _float256(luma, dct):
    """(16 x 16 float32 DCT coefficients, quality) of a float32 luma array."""
    h, w = luma.shape
    small = np.empty((64, 64), dtype=np.float32)
    if h == 64 and w == 64:
        small[:, :] = luma
    else:
        other = np.empty_like(luma)
        wr = (w + 127) // 128
        wc = (h + 127) // 128
        for _ in range(2):
            _box_rows(luma, other, wr)
            _box_cols(other, luma, wc)
        for oi in range(64):
            ii = int(((oi + 0.5) * h) / 64)
            for oj in range(64):
                jj = int(((oj + 0.5) * w) / 64)
                small[oi, oj] = luma[ii, jj]
    gradient = 0
    hundred = np.float32(100.0)
    scale = np.float32(255.0)
    for i in range(63):
        for j in range(64):
            gradient += abs(int(((small[i, j] - small[i + 1, j]) * hundred) / scale))
    for i in range(64):
        for j in range(63):
            gradient += abs(int(((small[i, j] - small[i, j + 1]) * hundred) / scale))
    quality = min(gradient // 90, 100)
    t = np.empty((16, 64), dtype=np.float32)
    for i in range(16):
        for j in range(64):
            acc = np.float32(0.0)
            for k in range(64):
                acc += dct[i, k] * small[k, j]
            t[i, j] = acc
    b = np.empty((16, 16), dtype=np.float32)
    for i in range(16):
        for j in range(16):
            acc = np.float32(0.0)
            for k in range(64):
                acc += t[i, k] * dct[j, k]
            b[i, j] = acc
    return b, quality


@njit(cache=True, nogil=True)
def _pdq(rgb, dct):
    h, w = rgb.shape[0], rgb.shape[1]
    bits = np.zeros(256, dtype=np.uint8)
    if h < MIN_DIM or w < MIN_DIM:
        return bits, 0
    b, quality = _float256(_luma(rgb), dct)
    flat = b.ravel()
    median = np.sort(flat)[127]
    # Bit k (coefficient k in row-major order) is the k-th least significant bit: written
    # most significant first, coefficient 255 comes first.
    for k in range(256):
        if flat[k] > median:
            bits[255 - k] = 1
    return bits, quality


def pdq_bits(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ of an H x W x 3 uint8 array: (256 bits as uint8 0/1, most significant first, the
    order ``pdqhash.compute`` returns them; quality 0-100)."""
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
        raise ValueError(f"PDQ needs an H x W x 3 uint8 array, not {rgb.dtype} {rgb.shape}")
    bits, quality = _pdq(rgb, _DCT)
    return bits, int(quality)
