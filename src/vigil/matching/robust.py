"""Robust matching: query-side variants of a picture, matched against the unchanged index.

PDQ survives re-encoding, resizing and colour changes, but not a mirror, a quarter turn, a
border, a caption bar, a small crop or a slight rotation (Thorn's ``perception`` benchmark:
5 % crop, 9 % recall). Instead of storing more hashes per listed picture, the *query* is
turned back in the ways such edits are usually made, and every variant's PDQ is looked up in
the same index under the same thresholds and match policy. Each hit says which variant found
it (:attr:`vigil.matching.policy.Candidate.variant`) and its PDQ distance.

The variants of an H x W x 3 picture (as displayed, :mod:`vigil.matching.hashing`):

* the 8 dihedral transformations (mirrors, quarter turns), named as
  :data:`~vigil.matching.pdq.DIHEDRAL_NAMES`; and ``unframed-`` those of the picture
  without its frame, when it has one (a border of one colour on two opposite sides alike);
* ``trimmed-border``: a border of one colour removed from every edge (padding,
  letterboxing); ``trimmed-top`` and ``trimmed-bottom``: a bar of one colour that may carry
  text (a caption, an app's title bar) removed from that edge — each when there is one
  (:func:`trim_bands`); ``caption-top`` and ``caption-bottom``: such a bar over a picture
  that begins in the bar's colour, cut after its text (:func:`caption_cut`);
* ``uncrop-2.5`` and ``uncrop-5``: the picture mirrored outwards by 2.5 % and 5 % of the
  original's size at each edge, undoing a crop of that much (PDQ sees low frequencies, which
  the mirrored margin continues);
* ``rotate+2``, ``rotate-2``, ``rotate+5``, ``rotate-5``: turned back by that many degrees
  (counter-clockwise positive), same canvas.

``original`` is the plain PDQ, computed at full resolution. The other variants are computed on
the picture reduced to at most :data:`WORK_SIDE` pixels on its longer side (PDQ reduces to
64 x 64 itself; the reduction moves a hash by a few bits and makes the 14 extra hashes cost
about as much as 2 at full size).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from vigil.matching.pdq import DIHEDRAL_NAMES, dihedral_variants, pdq_of

#: Longer side of the reduced picture the variants are made from.
WORK_SIDE = 1024

#: When a band (a row or column at an edge) is flat: at least ``share`` of its pixels within
#: ``tolerance`` of its median colour. Two trims are tried: a border (one colour, padding,
#: letterboxing) and a bar that may carry text (a caption, an app's title bar).
TRIMS = {"trimmed-border": (0.98, 10, "tblr"), "trimmed": (0.6, 32, "tblr"),
         "trimmed-top": (0.6, 12, "t"), "trimmed-bottom": (0.6, 12, "b")}
#: Never trim more than this share of a side (a picture that is mostly flat stays as it is).
MAX_TRIM = 0.35

UNCROPS = (0.025, 0.05)
ROTATIONS = (2.0, -2.0, 5.0, -5.0)

#: Every variant name a robust hash may carry, in order.
VARIANT_NAMES = (*DIHEDRAL_NAMES, *(f"unframed-{n}" for n in DIHEDRAL_NAMES[1:]), *TRIMS,
                 "caption-top", "caption-bottom", *(f"uncrop-{r * 100:g}" for r in UNCROPS),
                 *(f"rotate{a:+g}" for a in ROTATIONS))


def reduced(rgb: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """``rgb`` with its longer side at most ``side`` (box filter: an average, like PDQ's)."""
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX))


def _near(band: np.ndarray, colour: np.ndarray, share: float, tolerance: int) -> bool:
    """Whether at least ``share`` of a row or column of pixels (N x 3) lies within
    ``tolerance`` of ``colour``."""
    near = np.abs(band.astype(np.int16) - colour).max(axis=1) <= tolerance
    return bool(near.mean() >= share)


def trim_bands(rgb: np.ndarray, share: float = 0.98, tolerance: int = 10,
               sides: str = "tblr") -> np.ndarray | None:
    """The picture cut to :func:`trim_box` (None where that is None)."""
    box = trim_box(rgb, share, tolerance, sides)
    if box is None:
        return None
    top, bottom, left, right = box
    return rgb[top:bottom, left:right]


def trim_box(rgb: np.ndarray, share: float = 0.98, tolerance: int = 10,
             sides: str = "tblr") -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the picture without the bands at its edges that are of
    one colour — the colour of the outermost row or column on that side — (borders, padding, letterboxing, a caption bar
    with text on it at a low ``share``); None when there are none, or when trimming would
    leave too little. ``sides``: which edges to trim (``t``, ``b``, ``l``, ``r``)."""
    h, w = rgb.shape[:2]
    top, bottom, left, right = 0, h, 0, w

    def edge(band: np.ndarray) -> np.ndarray:
        return np.asarray(np.median(band, axis=0))

    colour = edge(rgb[0])
    while ("t" in sides and top < h * MAX_TRIM
           and _near(rgb[top, left:right], colour, share, tolerance)):
        top += 1
    colour = edge(rgb[h - 1])
    while ("b" in sides and h - bottom < h * MAX_TRIM and bottom - 1 > top
           and _near(rgb[bottom - 1, left:right], colour, share, tolerance)):
        bottom -= 1
    colour = edge(rgb[top:bottom, 0])
    while ("l" in sides and left < w * MAX_TRIM
           and _near(rgb[top:bottom, left], colour, share, tolerance)):
        left += 1
    colour = edge(rgb[top:bottom, w - 1])
    while ("r" in sides and w - right < w * MAX_TRIM and right - 1 > left
           and _near(rgb[top:bottom, right - 1], colour, share, tolerance)):
        right -= 1
    if (top, bottom, left, right) == (0, h, 0, w):
        return None
    if bottom - top < 16 or right - left < 16 or (top + (h - bottom) < 2 and left + (w - right) < 2):
        return None
    return top, bottom, left, right


def caption_cut(rgb: np.ndarray) -> int | None:
    """Where a caption bar at the top ends, when the picture under it starts with the bar's
    own colour (a white bar over a photo on white): the bar's text block, found as the rows
    that are not of the edge's colour, and after it as much margin as before it (captions
    sit in the middle of their bar). None when no such text block is there."""
    h = rgb.shape[0]
    colour = np.median(rgb[0], axis=0)
    limit = int(h * MAX_TRIM)
    flat = [_near(rgb[r], colour, 0.98, 12) for r in range(limit)]
    if not flat or not flat[0]:
        return None
    start = next((r for r, f in enumerate(flat) if not f), None)
    if start is None:
        return None
    end, gap = start, 0
    for r in range(start, limit):  # the text block: lines with gaps shorter than the margin
        if flat[r]:
            gap += 1
            if gap > start:
                break
        else:
            end, gap = r, 0
    else:
        return None
    cut = end + 1 + start
    return cut if cut < limit else None


def _framed(size: tuple[int, ...], box: tuple[int, int, int, int]) -> bool:
    """Whether a trim ``box`` (top, bottom, left, right) of a picture of ``size`` (H, W) is a
    frame: at least 2 % off two opposite sides, alike within a fifth."""
    h, w = size[:2]
    top, bottom, left, right = box
    return any(a >= 0.02 * n and b >= 0.02 * n and abs(a - b) <= 0.2 * max(a, b)
               for a, b, n in ((top, h - bottom, h), (left, w - right, w)))


def uncropped(rgb: np.ndarray, ratio: float) -> np.ndarray:
    """The picture mirrored outwards so that it would be the centre ``1 - 2 * ratio`` of the
    result: undoes a crop of ``ratio`` at each edge, approximately."""
    h, w = rgb.shape[:2]
    grow = ratio / (1 - 2 * ratio)
    py, px = max(1, round(h * grow)), max(1, round(w * grow))
    return np.pad(rgb, ((py, py), (px, px), (0, 0)), mode="symmetric")


def rotated(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Turned by ``degrees`` counter-clockwise about the centre, on the same canvas (the
    corners that come in are black, as most editors fill them)."""
    return np.asarray(Image.fromarray(rgb).rotate(degrees, Image.Resampling.BILINEAR))


def variants(rgb: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Every variant but ``original`` (which is the plain PDQ), on the reduced picture."""
    small = reduced(rgb)
    if min(small.shape[:2]) < 16:  # too small to have a frame, a bar or a margin
        for name, v in zip(DIHEDRAL_NAMES, dihedral_variants(small), strict=True):
            if name != "original":
                yield name, v
        return
    boxes = {name: box for name, (share, tolerance, sides) in TRIMS.items()
             if (box := trim_box(small, share, tolerance, sides)) is not None}
    trims = {name: small[t:b, lft:r] for name, (t, b, lft, r) in boxes.items()}
    for name, v in zip(DIHEDRAL_NAMES, dihedral_variants(small), strict=True):
        if name != "original":
            yield name, v
    # Mirrored or turned *and* framed: the turns of the picture without its frame too — a
    # border of one colour on two opposite sides alike (padding, letterboxing).
    box = boxes.get("trimmed-border")
    if box is not None and _framed(small.shape[:2], box):
        for name, v in zip(DIHEDRAL_NAMES, dihedral_variants(trims["trimmed-border"]),
                           strict=True):
            if name != "original":
                yield f"unframed-{name}", v
    yield from trims.items()
    for name, flipped in (("caption-top", False), ("caption-bottom", True)):
        view = small[::-1] if flipped else small
        cut = caption_cut(view)
        if cut is not None:
            kept = view[cut:]
            yield name, kept[::-1] if flipped else kept
    for r in UNCROPS:
        yield f"uncrop-{r * 100:g}", uncropped(small, r)
    for a in ROTATIONS:
        yield f"rotate{a:+g}", rotated(small, a)


def robust_pdqs(rgb: np.ndarray, original: str | None = None) -> dict[str, str]:
    """PDQ of every variant, by name (``original``: the plain PDQ, if known already)."""
    out = {"original": original if original is not None else pdq_of(rgb)[0]}
    for name, v in variants(rgb):
        out[name] = pdq_of(v)[0]
    return out
