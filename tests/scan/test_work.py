"""What a worker makes of one file: the hashes of the matching core (the same as hashing the
file on its own), and a report preview made from the pixels decoded for the PDQ — as the
picture is displayed (turned by its EXIF orientation), greyscale, at most 128 pixels, and in
the default mode blurred in its pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageFilter

from tests.fixtures.decoding import variants
from tests.fixtures.videos import write_video
from vigil.matching._preview_kernel import block_luma
from vigil.matching.content import hash_content, hash_content_and_pixels
from vigil.matching.hashing import HashOptions, decode_rgb
from vigil.matching.previews import MIN_BLUR_RADIUS, blur_radius
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


@st.composite
def pictures(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    return draw(arrays(np.uint8, (h, w, 3))), draw(st.integers(1, 12))


@settings(max_examples=200, deadline=None)
@given(pictures())
def test_block_luma_is_the_rounded_mean_luma_of_each_block(case: tuple[np.ndarray, int]) -> None:
    rgb, f = case
    got = block_luma(rgb, f)
    luma = rgb.astype(np.int64) @ np.array([299, 587, 114])
    h, w = luma.shape
    assert got.shape == (-(-h // f), -(-w // f))
    for i in range(got.shape[0]):
        for j in range(got.shape[1]):
            block = luma[i * f:(i + 1) * f, j * f:(j + 1) * f]
            n = block.size * 1000
            assert got[i, j] == (block.sum() + n // 2) // n


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("period", [2, 4, 6])
def test_fine_patterns_reduce_to_their_mean_not_to_false_stripes(period: int) -> None:
    """Stripes finer than the preview's pixels average to grey, as an area reduction gives —
    taking every n-th pixel would draw stripes that are not in the picture."""
    rows = np.arange(1000)[:, None] % period < period // 2
    grey = np.where(rows, 230, 30).astype(np.uint8).repeat(1500, axis=1)
    shown = np.asarray(_preview(_png(np.dstack([grey] * 3)), "reveal"), np.float64)
    # Blocks of 11 rows hold 5 or 6 bright ones: 121-139, where every n-th row would be
    # 30 or 230 throughout.
    assert abs(shown.mean() - 130) < 6 and shown.std() < 12


def test_pictures_over_the_review_previews_limit_get_a_scan_preview() -> None:
    """A 15-megapixel picture: over the review queue's 12 MP preview limit (a preview there
    decodes the file again), within the hashing limit: the scan's preview reuses its pixels."""
    img = Image.new("RGB", (5000, 3000), (90, 140, 60))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=60)
    shown = _preview(buf.getvalue(), "blurred")
    assert max(shown.size) == 128 and 75 <= shown.size[1] <= 77 and shown.mode == "L"


def test_tiny_pictures_are_blurred_by_at_least_the_least_radius() -> None:
    assert blur_radius((5, 5)) == MIN_BLUR_RADIUS and blur_radius((128, 96)) == 12.8
    rng = np.random.default_rng(8)
    tiny = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    blurred = np.asarray(_preview(_png(tiny), "blurred"), np.float64)
    revealed = np.asarray(_preview(_png(tiny), "reveal"), np.float64)
    assert blurred.std() < revealed.std() / 3
