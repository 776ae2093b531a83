"""What a worker makes of one file: the hashes of the matching core (the same as hashing the
file on its own), and a report preview made from the pixels decoded for the PDQ — as the
picture is displayed (turned by its EXIF orientation), greyscale, at most 128 pixels, and in
the default mode blurred in its pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.fixtures.decoding import variants
from tests.fixtures.videos import write_video
from vigil.matching.content import hash_content, hash_content_and_pixels
from vigil.matching.hashing import HashOptions, decode_rgb
from vigil.scan.sources import Member
from vigil.scan.work import THUMBNAIL_EDGE, WorkOptions, hash_member

ALL = {v.name: v.data for v in variants(11, (96, 48))}


def _detail(img: Image.Image) -> float:
    edges = np.asarray(img.filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    return float(edges[2:-2, 2:-2].mean())


@pytest.mark.parametrize("name", ["orientation-1.jpg", "orientation-6.png", "cmyk.jpg",
                                  "rgba.png", "grey-16bit.png", "palette-transparent.png",
                                  "icc-inverted.png"])
def test_hashes_with_pixels_are_the_hashes_alone(name: str) -> None:
    data = ALL[name]
    content, pixels = hash_content_and_pixels(data, HashOptions())
    assert content == hash_content(data, HashOptions())
    assert pixels is not None
    assert np.array_equal(pixels, decode_rgb(data, HashOptions().max_pixels)[0])


def test_no_pixels_for_what_is_no_picture(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", seed=2, seconds=1.0, fps=5, size=(64, 48))
    for data in (b"a shopping list", ALL["orientation-1.jpg"][:200], video.read_bytes()):
        content, pixels = hash_content_and_pixels(data, HashOptions())
        assert pixels is None and content == hash_content(data, HashOptions())


def _preview(data: bytes, mode: str) -> Image.Image:
    got = hash_member(Member("f", data=data), WorkOptions(thumbnails=mode))
    assert got.thumbnail is not None, got
    return Image.open(io.BytesIO(got.thumbnail))


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_a_preview_is_the_picture_as_displayed(orientation: int) -> None:
    """Stored sideways with an EXIF orientation, shown upright: the preview is the shown one
    (96 x 48 displayed: wider than high whatever is stored)."""
    shown = _preview(ALL[f"orientation-{orientation}.png"], "reveal")
    assert shown.mode == "L" and shown.size[0] > shown.size[1]
    upright = _preview(ALL["orientation-1.png"], "reveal")
    diff = np.abs(np.asarray(shown, np.int16) - np.asarray(upright, np.int16))
    assert diff.mean() < 4


def test_previews_of_large_pictures_are_small_and_blurred_by_default() -> None:
    rng = np.random.default_rng(3)
    big = Image.fromarray(rng.integers(0, 256, (1200, 1700, 3), dtype=np.uint8))
    buf = io.BytesIO()
    big.save(buf, "PNG")
    blurred = _preview(buf.getvalue(), "blurred")
    revealed = _preview(buf.getvalue(), "reveal")
    for img in (blurred, revealed):
        assert img.mode == "L" and max(img.size) == THUMBNAIL_EDGE
        assert abs(img.size[0] / img.size[1] - 1700 / 1200) < 0.03
    assert _detail(blurred) < _detail(revealed) / 3


def test_a_video_still_gets_a_preview_of_its_first_frame(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", seed=4, seconds=1.0, fps=5, size=(64, 48))
    img = _preview(video.read_bytes(), "blurred")
    assert img.mode == "L" and img.size == (64, 48)
