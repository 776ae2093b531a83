"""Hostile content never escapes as an exception: every mutation of benign files of every
format Pillow and PyAV read — flipped bytes, truncation, overwritten headers, repeated runs —
gives its digests and a per-file error, never a crash (a crash lost whole reports before). And
content is typed by its bytes, not its name."""

from __future__ import annotations

import hashlib
import io
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.fixtures.videos import write_video
from vigil.matching.content import hash_content
from vigil.matching.hashing import HashOptions
from vigil.samples import pattern_image

FORMATS = ("PNG", "GIF", "TIFF", "BMP", "ICO", "WEBP", "JPEG", "PPM", "TGA", "PCX", "DDS",
           "SGI", "QOI")


@cache
def seeds() -> tuple[bytes, ...]:
    base = pattern_image(31337, (64, 48))
    out = []
    for fmt in FORMATS:
        buf = io.BytesIO()
        try:
            base.save(buf, fmt)
        except (KeyError, OSError, ValueError):
            continue  # a format this Pillow cannot write
        out.append(buf.getvalue())
    with tempfile.TemporaryDirectory() as d:
        out.append(write_video(Path(d) / "v.mp4", seed=5, seconds=1.0, fps=5,
                               size=(64, 48)).read_bytes())
    return tuple(out)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds())))
    op = draw(st.sampled_from(("flip", "truncate", "patch", "repeat")))
    if op == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif op == "truncate":
        data = data[: draw(st.integers(1, len(data) - 1))]
    elif op == "patch":
        at = draw(st.integers(0, min(len(data), 200) - 1))
        data[at:at + 4] = draw(st.sampled_from(
            (b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00")))
    else:
        at = draw(st.integers(0, len(data) - 1))
        run = data[at:at + draw(st.integers(1, 64))]
        data = data[:at] + run * draw(st.integers(2, 50)) + data[at:]
    return bytes(data)


@settings(max_examples=150, deadline=None)
@given(mutated())
def test_any_mutation_gives_digests_and_never_raises(data: bytes) -> None:
    got = hash_content(data)
    assert got.md5 == hashlib.md5(data).hexdigest() and got.sha256 == hashlib.sha256(data).hexdigest()
    assert got.kind in ("image", "video", "other")
    assert (got.pdq is None and got.vpdq is None) == (got.error is not None)


def test_a_dds_with_unknown_pixel_flags_is_a_per_file_error() -> None:
    buf = io.BytesIO()
    pattern_image(3, (64, 48)).save(buf, "DDS")
    data = bytearray(buf.getvalue())
    data[80:84] = b"\x00\x00\x00\x00"  # the pixel format's flags
    got = hash_content(bytes(data))
    assert got.error and "pixel format" in got.error


def test_typed_by_bytes_not_name(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", seed=9).read_bytes()  # a name says nothing
    assert hash_content(video).kind == "video" and hash_content(video).vpdq
    truncated = hash_content(video[: len(video) // 3])
    assert truncated.kind == "video"  # broken, but still a video
    image = Image.new("RGB", (64, 48), "white")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    assert hash_content(buf.getvalue()).kind == "image"
    assert hash_content(b"plain text").kind == "other"


def test_a_video_that_takes_too_long_is_a_per_file_error(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", seed=10).read_bytes()
    got = hash_content(video, HashOptions(max_decode_seconds=0.0))
    assert got.kind == "video" and got.vpdq is None and "longer than" in (got.error or "")


def test_video_previews_keep_the_pixel_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A video whose frames are over the limit gets no preview, checked before decoding (a
    55 KB file can declare 8000 x 7000)."""
    from vigil.matching import previews

    video = write_video(tmp_path / "clip.mp4", seed=11).read_bytes()
    assert previews.preview(video, 224) is not None
    monkeypatch.setattr(previews, "MAX_PIXELS", 320 * 240 - 1)
    assert previews.preview(video, 224) is None
