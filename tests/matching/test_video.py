"""Video hashing: vPDQ's format and comparison semantics."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

# threatexchange's vPDQ helpers import the native ``vpdq`` module only for type names; vigil
# does not install it (see docs/dev/decisions/0003-video-hashing.md), so give them a stand-in
# to compare against their pure-Python matcher.
if "vpdq" not in sys.modules:
    try:
        import vpdq  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("vpdq")
        stand_in.VpdqFeature = object  # type: ignore[attr-defined]
        sys.modules["vpdq"] = stand_in

from threatexchange.extensions.vpdq.vpdq_brute_matcher import (
    match_VPDQ_hash_brute,
)
from threatexchange.extensions.vpdq.vpdq_util import json_to_vpdq

from tests.fixtures.images import real_video
from tests.fixtures.videos import write_video
from vigil.matching.batch import hash_file
from vigil.matching.hashing import HashOptions
from vigil.matching.signals import PdqHash, VpdqFrame, VpdqHash
from vigil.matching.video import hash_video_file, vpdq_compare


def test_frames_are_sampled_at_the_configured_rate(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", 1, seconds=3, fps=10)
    every_second = hash_video_file(path)
    assert [f.frame_number for f in every_second.vpdq.frames] == [0, 10, 20]
    assert [f.timestamp for f in every_second.vpdq.frames] == [0.0, 1.0, 2.0]
    every_frame = hash_video_file(path, HashOptions(seconds_per_hash=0))
    assert len(every_frame.vpdq.frames) == 30
    assert all(0 <= f.quality <= 100 and len(f.pdq) == 64 for f in every_frame.vpdq.frames)


def test_text_form_is_threatexchanges(tmp_path: Path) -> None:
    hashes = hash_video_file(write_video(tmp_path / "v.mp4", 2))
    text = hashes.vpdq.to_str()
    theirs = json_to_vpdq(text)  # threatexchange parses our serialisation
    assert [f.pdq_hex for f in theirs] == [f.pdq for f in hashes.vpdq.frames]
    assert VpdqHash.parse(text).frames[0].pdq == hashes.vpdq.frames[0].pdq


def test_comparison_agrees_with_threatexchanges_brute_matcher(tmp_path: Path) -> None:
    a = hash_video_file(write_video(tmp_path / "a.mp4", 3, seconds=4), HashOptions(seconds_per_hash=0.5))
    b = hash_video_file(write_video(tmp_path / "b.mp4", 3, seconds=2, size=(240, 180)),
                        HashOptions(seconds_per_hash=0.5))
    c = hash_video_file(write_video(tmp_path / "c.mp4", 4, seconds=3), HashOptions(seconds_per_hash=0.5))
    for q, t in ((a, b), (b, a), (a, c), (a, a)):
        ours = vpdq_compare(q.vpdq, t.vpdq)
        theirs = match_VPDQ_hash_brute(json_to_vpdq(q.vpdq.to_str()),
                                       json_to_vpdq(t.vpdq.to_str()), 50, 31)
        assert ours.query_match_percent == pytest.approx(theirs.query_match_percent)
        assert ours.target_match_percent == pytest.approx(theirs.compared_match_percent)
    assert vpdq_compare(a.vpdq, a.vpdq).is_match()
    assert not vpdq_compare(a.vpdq, c.vpdq).is_match()


def test_low_quality_and_duplicate_frames_are_ignored() -> None:
    good = VpdqFrame("f" * 64, 100, 0.0)
    blank = VpdqFrame("0" * 64, 0, 1.0)
    video = VpdqHash((good, good, blank))
    result = vpdq_compare(video, VpdqHash((good,)))
    assert (result.query_match_percent, result.target_match_percent) == (100.0, 100.0)
    assert vpdq_compare(VpdqHash((blank,)), video).query_match_percent == 0.0


def test_real_video_hashes(tmp_path: Path) -> None:
    path = real_video()
    assert path is not None, "opencv-doc is installed by .ci/run"
    result = hash_file(path)
    assert result.ok and result.to_json()["kind"] == "video"
    assert len(json.loads(result.to_json()["vpdq"])) >= 1


def test_broken_video_is_a_per_file_error(tmp_path: Path) -> None:
    good = write_video(tmp_path / "v.mp4", 1).read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(good[:200])
    result = hash_file(broken)
    assert not result.ok and "video" in (result.error or "")


def test_video_frame_pixel_limit(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", 1)
    result = hash_file(path, HashOptions(max_pixels=1000))
    assert result.error is not None and "too large" in result.error


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_video_turned_by_its_display_matrix_hashes_like_the_upright_one(
        tmp_path: Path, rotation: int) -> None:
    """Phones store portrait video sideways with a display matrix; players turn it. The
    frames are hashed as shown, so the same video matches whichever way it was stored."""
    upright = hash_video_file(write_video(tmp_path / "upright.mp4", 4))
    turned = hash_video_file(write_video(tmp_path / f"turned-{rotation}.mp4", 4,
                                         rotation=rotation))
    assert (turned.width, turned.height) == (upright.width, upright.height)
    distances = [PdqHash(a.pdq).distance(PdqHash(b.pdq))
                 for a, b in zip(upright.vpdq.frames, turned.vpdq.frames, strict=True)]
    # Both are lossy: compression differs (up to ~18 bits here), the picture does not (unturned
    # frames are over 100 bits apart).
    assert max(distances) <= 31, distances
    assert vpdq_compare(turned.vpdq, upright.vpdq).is_match()
