"""Robust matching's query-side variants: each everyday edit is undone by one of them, and
they do not make different pictures meet."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from vigil.matching.hashing import HashOptions, hash_image_bytes
from vigil.matching.pdq import pdq_of
from vigil.matching.robust import VARIANT_NAMES, robust_pdqs, trim_bands
from vigil.matching.signals import PdqHash
from vigil.samples import encode, pattern_image


def _best(picture: Image.Image, listed: str) -> tuple[int, str]:
    got = robust_pdqs(np.asarray(picture.convert("RGB")))
    assert set(got) <= set(VARIANT_NAMES) and "original" in got
    return min((PdqHash(v).distance(PdqHash(listed)), k) for k, v in got.items())


def test_each_everyday_edit_is_undone_by_a_variant() -> None:
    scene = pattern_image(31, (640, 480)).convert("RGB")
    listed = pdq_of(np.asarray(scene))[0]
    padded = Image.new("RGB", (768, 576), (0, 0, 0))
    padded.paste(scene, (64, 48))
    captioned = Image.new("RGB", (640, 580), (255, 255, 255))
    captioned.paste(scene, (0, 100))
    ImageDraw.Draw(captioned).text((20, 30), "A CAPTION ON TOP", fill=(0, 0, 0))
    cases = {
        "mirror": (scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT), {"flip_y"}),
        "quarter turn": (scene.transpose(Image.Transpose.ROTATE_90), {"rotate270"}),
        "padding": (padded, {"trimmed-border", "trimmed"}),
        "caption": (captioned, None),
        "rotated 2 degrees": (scene.rotate(2, Image.Resampling.BICUBIC), None),
        "cropped 2.5%": (scene.crop((16, 12, 624, 468)), None),
    }
    for edit, (picture, variant) in cases.items():
        plain = PdqHash(pdq_of(np.asarray(picture))[0]).distance(PdqHash(listed))
        distance, found_by = _best(picture, listed)
        assert distance <= 31 < plain or plain <= 31, (edit, distance, plain)
        assert distance <= 31, (edit, distance, found_by)
        if variant is not None:
            assert found_by in variant, (edit, found_by)


def test_a_picture_without_borders_is_not_trimmed() -> None:
    assert trim_bands(np.asarray(pattern_image(4, (320, 240)).convert("RGB"))) is None


def test_variants_do_not_make_different_pictures_meet() -> None:
    """Every pair of 40 generated scenes: no variant of one is within 31 bits of another."""
    listed = [pdq_of(np.asarray(pattern_image(s, (320, 240)).convert("RGB")))[0] for s in range(40)]
    for s in range(40):
        picture = hash_image_bytes(encode(pattern_image(s, (320, 240)), "PNG"),
                                   HashOptions(robust=True))
        assert picture.robust is not None
        for other, target in enumerate(listed):
            if other != s:
                near = min(PdqHash(v).distance(PdqHash(target)) for v in picture.robust.values())
                assert near > 31, (s, other, near)
