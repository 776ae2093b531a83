"""Option (b): ECDH PSI through openmined.psi — match, no match, bad requests, the policy."""

from __future__ import annotations

import private_set_intersection.python as openmined
import pytest

from vigil.e2ee import encoding
from vigil.e2ee.psi import PsiDevice, PsiError, PsiServer, outcome
from vigil.matching.policy import ListRef, Trust, Verdict

LISTED = [encoding.exact_element("pdq", f"{i:064x}") for i in range(50)]


@pytest.fixture(scope="module")
def server() -> PsiServer:
    return PsiServer(LISTED, max_query=4)


def test_the_device_learns_which_of_its_hashes_are_listed(server: PsiServer) -> None:
    device = PsiDevice(server.setup)
    asked = [LISTED[3], encoding.exact_element("pdq", "f" * 64), LISTED[40]]
    request = device.ask(asked)
    assert device.matches(server.answer(request)) == [0, 2]
    out = outcome([asked[0]], ListRef("known", Trust.VERIFIED))
    assert out.verdict is Verdict.VERIFIED and out.hits[0].trust is Trust.VERIFIED
    assert outcome([], ListRef("known", Trust.VERIFIED)).verdict is Verdict.NONE
    unverified = outcome([asked[0]], ListRef("victims", Trust.UNVERIFIED))
    assert unverified.requires_review and not unverified.may_act


def test_no_match_and_fresh_keys_per_query(server: PsiServer) -> None:
    device = PsiDevice(server.setup)
    r1 = device.ask([encoding.exact_element("md5", "0" * 32)])
    assert device.matches(server.answer(r1)) == []
    r2 = device.ask([encoding.exact_element("md5", "0" * 32)])
    assert r1 != r2  # the same hash asked twice looks different to the server


def test_oversized_and_malformed_requests_are_refused(server: PsiServer) -> None:
    device = PsiDevice(server.setup)
    with pytest.raises(PsiError, match="larger than 4 elements"):
        server.answer(device.ask([f"pdq:{i:064x}" for i in range(20)]))
    with pytest.raises(PsiError, match="does not parse"):
        server.answer(b"\xff\xff\xff")
    bad = openmined.Request()
    bad.reveal_intersection = True
    bad.encrypted_elements.append(b"\x02" + b"\xff" * 32)
    with pytest.raises(PsiError, match="refused"):
        server.answer(bad.SerializeToString())


def test_the_device_refuses_bad_setups_and_responses(server: PsiServer) -> None:
    with pytest.raises(PsiError, match="larger than"):
        PsiDevice(server.setup, max_setup_bytes=10)
    with pytest.raises(PsiError, match="does not parse"):
        PsiDevice(b"\xff\xff")
    device = PsiDevice(server.setup)
    with pytest.raises(PsiError, match="no query"):
        device.matches(b"")
    device.ask([LISTED[0], LISTED[1]])
    other = PsiDevice(server.setup)
    short = server.answer(other.ask([LISTED[0]]))
    with pytest.raises(PsiError, match="wrong number"):
        device.matches(short)
