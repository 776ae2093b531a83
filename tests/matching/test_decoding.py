"""One picture, one hash: every way of storing the same displayed picture gives the pixels a
browser shows, and so the same PDQ (the browser's own hashes: tests/web/test_victim_browser.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.decoding import variants
from vigil.matching.hashing import decode_rgb, hash_image_bytes
from vigil.matching.pdq import pdq_of
from vigil.matching.signals import PdqHash
from vigil.samples import pattern_image

SIZES = [(256, 192), (257, 193)]


@pytest.mark.parametrize("size", SIZES)
def test_every_lossless_variant_decodes_to_the_pixels_a_browser_shows(size: tuple[int, int]) -> None:
    """EXIF 1-8, 16-bit grey and RGB (a low byte that would round up), 32-bit and float TIFF,
    RGBA and LA with transparent regions, palette with a transparent entry, bilevel, GIF
    (animated too), BMP, TIFF, lossless WebP: pixel for pixel, so the PDQ is equal too."""
    checked = []
    for v in variants(3, size):
        if v.pixels is None:
            continue
        rgb, _ = decode_rgb(v.data, 10_000_000)
        assert rgb.shape == v.pixels.shape, v.name
        diff = np.abs(rgb.astype(int) - v.pixels.astype(int))
        assert diff.max() == 0, (v.name, int(diff.max()), int((diff > 0).any(axis=2).sum()))
        assert pdq_of(rgb) == pdq_of(v.pixels), v.name
        checked.append(v.name)
    assert len(checked) >= 24


@pytest.mark.parametrize("size", SIZES)
def test_lossy_variants_stay_near_the_picture(size: tuple[int, int]) -> None:
    """JPEG (oriented, progressive, CMYK, greyscale) and lossy WebP: what compression changes,
    never what orientation or the colour model would (16-bit grey was 136 bits off)."""
    scene = np.asarray(pattern_image(3, size).convert("RGB"))
    for v in variants(3, size):
        if v.pixels is not None:
            continue
        shown = scene if v.shown is None else v.shown
        got = hash_image_bytes(v.data)
        assert PdqHash(got.pdq).distance(PdqHash(pdq_of(shown)[0])) <= 16, v.name
        assert (got.height, got.width) == shown.shape[:2], v.name


def test_an_orientation_tag_out_of_range_is_ignored() -> None:
    from io import BytesIO

    from PIL import Image

    scene = pattern_image(2, (120, 90)).convert("RGB")
    for value in (0, 9, 65535):
        exif = Image.Exif()
        exif[0x0112] = value
        buf = BytesIO()
        scene.save(buf, "PNG", exif=exif.tobytes())
        rgb, _ = decode_rgb(buf.getvalue(), 1_000_000)
        assert np.array_equal(rgb, np.asarray(scene)), value


def test_an_animated_png_is_hashed_by_the_frame_browsers_show() -> None:
    """Found by an attempt to break the pipeline: an APNG whose default image is not part of
    the animation shows its first animation frame, and the server hashed the hidden default
    image — a listed picture wrapped behind a benign one escaped every hash but MD5."""
    from io import BytesIO

    shown = pattern_image(5, (200, 150)).convert("RGB")
    hidden = pattern_image(6, (200, 150)).convert("RGB")
    buf = BytesIO()
    hidden.save(buf, "PNG", save_all=True, default_image=True,
                append_images=[shown, pattern_image(7, (200, 150)).convert("RGB")])
    rgb, _ = decode_rgb(buf.getvalue(), 1_000_000)
    assert np.array_equal(rgb, np.asarray(shown))
