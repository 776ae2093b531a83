"""Perceptual matching under PSI: an everyday edit of a listed benign picture is a candidate, an
unrelated picture is not, and a candidate is only ever a reason for review."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from vigil.e2ee.perceptual import ChunkScheme, PerceptualDevice, outcome, perceptual_server
from vigil.matching.codes import random_codes, unpack_hex
from vigil.matching.hashing import hash_image_bytes
from vigil.matching.policy import ListRef, Trust, Verdict
from vigil.samples import encode, pattern_image


def _pdq(img: Image.Image, fmt: str = "PNG", **kw: object) -> str:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return hash_image_bytes(buf.getvalue()).pdq


@pytest.fixture(scope="module")
def listed() -> tuple[Image.Image, str]:
    img = pattern_image(3)
    return img, hash_image_bytes(encode(img, "PNG")).pdq


def test_an_edited_copy_is_a_candidate_and_an_unrelated_picture_is_not(
        listed: tuple[Image.Image, str]) -> None:
    img, pdq = listed
    scheme = ChunkScheme(8, 1, 2)
    server = perceptual_server(scheme, [pdq, *unpack_hex(random_codes(200, 3))])
    edited = _pdq(img, "JPEG", quality=30)
    assert (int(edited, 16) ^ int(pdq, 16)).bit_count() <= 31
    device = PerceptualDevice(scheme, server.setup)
    request = device.ask(edited)
    result = device.result(server.answer(request))
    assert result.candidate and result.positions_hit >= 2
    unrelated = _pdq(pattern_image(9001))
    request = device.ask(unrelated)
    assert not device.result(server.answer(request)).candidate
    # every request has the scheme's size, whatever the picture
    assert len(device.ask(edited)) == len(device.ask(unrelated))


def test_a_candidate_is_never_more_than_a_reason_for_review(
        listed: tuple[Image.Image, str]) -> None:
    _, pdq = listed
    scheme = ChunkScheme(8, 0, 1)
    server = perceptual_server(scheme, [pdq])
    device = PerceptualDevice(scheme, server.setup)
    result = device.result(server.answer(device.ask(pdq)))
    out = outcome(result, ListRef("known-material", Trust.VERIFIED))
    assert out.verdict is Verdict.UNVERIFIED and out.requires_review and not out.may_act
    assert out.hits[0].trust is Trust.UNVERIFIED
