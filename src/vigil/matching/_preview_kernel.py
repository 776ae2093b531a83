"""A preview's reduction, compiled (numba, cached on disk): the mean luma of each ``f`` x ``f``
block of a decoded picture, in one pass over its pixels.

Why our own: a scan makes a preview of every picture from the pixels it decoded for PDQ. Taking
every ``f``-th pixel is fast but aliases (fine stripes, dithering and bilevel pictures turn into
patterns that are not in the picture); Pillow's area reduction of the full picture is right but
costs about twice the rest of the preview. The block mean is an area reduction — what a box
filter keeps — at the cost of reading each pixel once.

Luma is ITU-R BT.601's ``0.299 R + 0.587 G + 0.114 B`` (what Pillow's ``L`` conversion uses),
rounded to the nearest level; blocks at the right and bottom edges average the pixels they
have.
"""

from __future__ import annotations

# mypy: ignore-errors
# (numba-compiled code: its types are checked by numba when it compiles, not by mypy.)
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def block_luma(rgb, f):
    """``rgb``: H x W x 3 uint8, C-contiguous; ``f`` >= 1. Returns ceil(H/f) x ceil(W/f) uint8."""
    h, w = rgb.shape[0], rgb.shape[1]
    oh = (h + f - 1) // f
    ow = (w + f - 1) // f
    flat = rgb.reshape(h, w * 3)
    # Down the rows of a band first (contiguous: the adds vectorise), then across it.
    col = np.zeros(w * 3, dtype=np.int32)  # at most 255 x f: f would need to pass 8 million
    out = np.empty((oh, ow), dtype=np.uint8)
    for bi in range(oh):
        col[:] = 0
        top = bi * f
        bottom = min(top + f, h)
        for i in range(top, bottom):
            row = flat[i]
            for k in range(w * 3):
                col[k] += np.int32(row[k])
        rows = bottom - top
        for bj in range(ow):
            r = np.int64(0)
            g = np.int64(0)
            b = np.int64(0)
            end = min(bj * f + f, w)
            for j in range(bj * f, end):
                r += col[3 * j]
                g += col[3 * j + 1]
                b += col[3 * j + 2]
            n = np.int64(1000) * rows * (end - bj * f)
            out[bi, bj] = (299 * r + 587 * g + 114 * b + n // 2) // n
    return out
