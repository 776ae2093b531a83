"""Image hashing: conformance with the reference, the fixed pipeline, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from threatexchange.signal_type.pdq.signal import PdqSignal

from tests.fixtures.images import broken_files, png_bomb, real_photos, save_image, write_scene
from vigil.matching.batch import hash_file, hash_files
from vigil.matching.errors import HashingError
from vigil.matching.hashing import HashOptions, hash_image_bytes, hash_image_file
from vigil.matching.signals import PdqHash
from vigil.samples import encode, pattern_image


def _reference(path: Path) -> str:
    return PdqSignal.hash_from_file(path)


def test_real_photos_are_installed() -> None:
    """.ci/run installs Debian's opencv-doc; without it the conformance test below would
    silently cover generated images only."""
    assert len(real_photos()) >= 10


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_pdq_conforms_to_threatexchange_on_generated_images(tmp_path: Path, seed: int,
                                                            fmt: str) -> None:
    path = write_scene(tmp_path / f"s.{fmt.lower()}", seed, fmt)
    ours = hash_image_file(path)
    assert ours.quality >= 80
    assert PdqHash(ours.pdq).distance(PdqHash(_reference(path))) <= 10


def test_pdq_conforms_to_threatexchange_on_real_photos() -> None:
    checked = 0
    for path in real_photos():
        ours = hash_image_file(path)
        if ours.quality < 80:
            continue
        assert PdqHash(ours.pdq).distance(PdqHash(_reference(path))) <= 10, path.name
        checked += 1
    assert checked >= 5


def test_digests_are_of_the_file_bytes(tmp_path: Path) -> None:
    import hashlib

    path = write_scene(tmp_path / "a.jpg", 1)
    h = hash_image_file(path)
    data = path.read_bytes()
    assert h.md5 == hashlib.md5(data).hexdigest()
    assert h.sha256 == hashlib.sha256(data).hexdigest()
    assert (h.width, h.height, h.format) == (640, 480, "JPEG")


def test_pdq_survives_recompression_resizing_and_greyscale() -> None:
    img = pattern_image(3)
    original = hash_image_bytes(encode(img, "PNG"))
    for variant in (encode(img, quality=50),
                    encode(img.resize((300, 225), Image.Resampling.LANCZOS)),
                    encode(img.convert("L"), "PNG")):
        assert PdqHash(original.pdq).distance(PdqHash(hash_image_bytes(variant).pdq)) <= 31


@pytest.mark.parametrize("size", [(640, 480), (256, 192), (257, 193), (101, 333), (64, 64)])
def test_a_lossless_rotation_or_mirror_is_at_distance_zero(size: tuple[int, int]) -> None:
    """The dihedral hashes are the PDQs of the 8 transformed pixel arrays: pdqhash's DCT
    shortcut left a 256 x 192 scene turned 180 degrees 36 bits away. Odd and even sizes."""
    img = pattern_image(5, size)
    hashes = hash_image_bytes(encode(img, "PNG"), HashOptions(dihedral=True))
    assert hashes.dihedral is not None and len(hashes.dihedral) == 8
    assert hashes.dihedral["original"] == hashes.pdq
    for name, turn in (("rotate90", Image.Transpose.ROTATE_90),
                       ("rotate180", Image.Transpose.ROTATE_180),
                       ("rotate270", Image.Transpose.ROTATE_270),
                       ("flip_x", Image.Transpose.FLIP_TOP_BOTTOM),
                       ("flip_y", Image.Transpose.FLIP_LEFT_RIGHT),
                       ("flip_plus", Image.Transpose.TRANSPOSE),
                       ("flip_minus", Image.Transpose.TRANSVERSE)):
        turned = hash_image_bytes(encode(img.transpose(turn), "PNG"), HashOptions(dihedral=True))
        assert turned.pdq == hashes.dihedral[name], name
        assert turned.dihedral is not None and hashes.pdq in turned.dihedral.values(), name
    mirrored = hash_image_bytes(encode(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "PNG"))
    assert PdqHash(mirrored.pdq).distance(PdqHash(hashes.pdq)) > 31  # PDQ alone misses it


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "1"])
def test_any_image_mode_hashes_like_its_rgb_pixels(mode: str) -> None:
    """(Modes with more bits or with transparency: tests/matching/test_decoding.py.)"""
    img = pattern_image(4)
    converted = img.convert(mode)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    h = hash_image_bytes(encode(converted, fmt))
    reference = hash_image_bytes(encode(converted.convert("RGB"), "PNG"))
    assert PdqHash(h.pdq).distance(PdqHash(reference.pdq)) <= 2


def test_animated_image_uses_first_frame(tmp_path: Path) -> None:
    frames = [pattern_image(1), pattern_image(2)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    first = tmp_path / "first.gif"
    frames[0].save(first)
    assert hash_image_file(path).pdq == hash_image_file(first).pdq


def test_bad_input_never_stops_a_batch(tmp_path: Path) -> None:
    bad = broken_files(tmp_path / "bad")
    good = [write_scene(tmp_path / f"good{i}.jpg", i) for i in range(2)]
    paths = [good[0], *bad.values(), good[1]]
    results = list(hash_files(paths, HashOptions(max_pixels=10_000_000)))
    assert [r.path for r in results] == [str(p) for p in paths]
    assert results[0].ok and results[-1].ok
    for (reason, _), result in zip(bad.items(), results[1:-1], strict=True):
        assert not result.ok
        assert reason in (result.error or ""), (reason, result.error)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = broken_files(tmp_path)["too large"]
    assert bomb.stat().st_size < 1_000_000  # tiny on disk, 400 megapixels decoded
    small_bomb = tmp_path / "small-bomb.png"
    small_bomb.write_bytes(png_bomb(5000, 5000))
    with pytest.raises(HashingError, match="5000x5000 = 25000000 pixels exceeds the limit of 1000 "):
        hash_image_file(small_bomb, HashOptions(max_pixels=1000))
    with pytest.raises(HashingError, match="pixels exceeds the limit of 1000 "):
        hash_image_file(bomb, HashOptions(max_pixels=1000))


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = write_scene(tmp_path / "a.png", 1, "PNG")
    assert hash_image_file(path, HashOptions(max_pixels=640 * 480)).pdq
    with pytest.raises(HashingError, match="too large"):
        hash_image_file(path, HashOptions(max_pixels=640 * 480 - 1))
    with pytest.raises(ValueError, match="max_pixels"):
        HashOptions(max_pixels=0)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = write_scene(tmp_path / "a.png", 1, "PNG")
    result = hash_file(path, HashOptions(max_file_bytes=100))
    assert result.error == "file too large: more than 100 bytes"


@pytest.mark.parametrize("payload", [b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a\xff\xff\xff\xff",
                                     b"\xff\xd8\xff\xe0" + b"\x00" * 10, b"BM" + b"\x00" * 60])
def test_corrupt_headers_are_errors_not_crashes(payload: bytes) -> None:
    with pytest.raises(HashingError):
        hash_image_bytes(payload)


def test_tiny_image_hashes_with_low_quality() -> None:
    h = hash_image_bytes(encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))
    assert len(h.pdq) == 64 and h.quality < 50


def test_save_image_helper_round_trip(tmp_path: Path) -> None:
    path = save_image(pattern_image(1), tmp_path / "x.bmp", "BMP")
    assert hash_image_file(path).format == "BMP"


def test_fifo_is_reported_not_waited_on(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    result = hash_file(fifo)
    assert result.error == "unreadable: not a regular file (a pipe, socket or device)"


def test_unexpected_decoder_errors_become_per_file_errors(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import vigil.matching.batch as batch

    def boom(data: bytes, options: HashOptions) -> None:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(batch, "hash_image_bytes", boom)
    result = hash_file(write_scene(tmp_path / "a.jpg", 1))
    assert result.error == "cannot hash file: RuntimeError: decoder bug"


def test_avif_like_header_is_not_taken_for_video() -> None:
    from vigil.matching.video import looks_like_video

    assert not looks_like_video(b"\x00\x00\x00\x1cftypavif" + b"\x00" * 20)
    assert looks_like_video(b"\x00\x00\x00\x1cftypisom" + b"\x00" * 20)


def test_parallel_batch_keeps_order_and_survives_bad_files(tmp_path: Path) -> None:
    paths = [write_scene(tmp_path / f"{i}.jpg", i) for i in range(6)]
    paths.insert(3, tmp_path / "missing.jpg")
    results = list(hash_files(paths, jobs=2))
    assert [r.path for r in results] == [str(p) for p in paths]
    assert [r.ok for r in results] == [True, True, True, False, True, True, True]
