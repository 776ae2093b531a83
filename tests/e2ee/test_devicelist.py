"""The device accepts only a list whose every entry the Centre's log shows verified by two
organisations of two jurisdictions, whose setup bytes the log names, and whose tree head is
consistent with the heads it saw; it refuses anything else, whole, with the reason."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from vigil.db import transaction
from vigil.e2ee.devicelist import (
    DeviceList,
    DeviceState,
    ListRefused,
    accept,
    two_jurisdictions,
)
from vigil.e2ee.psi import PsiDevice
from vigil.indicators import device_list
from vigil.indicators import service as indicators
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind, Principal
from vigil.translog import repository as log
from vigil.translog.sth import TreeHeadSigner

KEY = os.urandom(32)


@dataclass
class Centre:
    actors: dict[str, Principal]
    ids: dict[str, int]
    signer: TreeHeadSigner


@pytest.fixture
def centre(factory: sessionmaker[Session]) -> Centre:
    actors, ids = {}, {}
    with transaction(factory) as s:
        for name, kind, state in (("Centre", OrgKind.CENTRE, "NL"),
                                  ("Hotline DE", OrgKind.PARTNER_CENTRE, "DE"),
                                  ("Hotline NL", OrgKind.PARTNER_CENTRE, "NL"),
                                  ("Hotline GR", OrgKind.PARTNER_CENTRE, "GR"),
                                  ("Hotline EL", OrgKind.PARTNER_CENTRE, "EL"),
                                  ("Nowhere", OrgKind.PARTNER_CENTRE, None)):
            org = orgs.create_organisation(s, None, name, kind, state)
            issued = orgs.issue_key(s, None, org.id, name, set(KIND_SCOPES[kind]))
            actors[name] = orgs.authenticate(s, issued.token)
            ids[name] = org.id
        indicators.create_list(s, None, "known-material", "verified", 31)
        indicators.create_list(s, None, "look-alikes", "allow", 10)
    return Centre(actors, ids, TreeHeadSigner.generate())


def _indicator(factory: sessionmaker[Session], c: Centre, value: str, proposer: str,
               verifier: str, list_name: str = "known-material") -> int:
    with transaction(factory) as s:
        (ind,) = indicators.propose(s, c.actors[proposer], [
            indicators.Proposal("pdq", value, list_name, "test")])
        indicators.verify(s, c.actors[verifier], ind.id)
        return ind.id


def _export(factory: sessionmaker[Session], c: Centre, option: str = "psi") -> device_list.Export:
    with transaction(factory) as s:
        return device_list.export(s, c.actors["Centre"], c.signer, option, KEY)


def test_two_jurisdictions_rule() -> None:
    assert two_jurisdictions((1, "DE"), (2, "NL")) is None
    assert "same organisation" in (two_jurisdictions((1, "DE"), (1, "NL")) or "")
    assert "one jurisdiction (GR)" in (two_jurisdictions((1, "EL"), (2, "gr")) or "")
    assert "no country" in (two_jurisdictions((1, None), (2, "NL")) or "")
    assert two_jurisdictions((1, "US"), (2, "DE")) is None  # jurisdictions outside the EU count


def test_the_device_accepts_the_centres_list_and_matches_with_it(
        factory: sessionmaker[Session], centre: Centre) -> None:
    good = _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    same_state = _indicator(factory, centre, "b" * 64, "Centre", "Hotline NL")
    aliased = _indicator(factory, centre, "c" * 64, "Hotline GR", "Hotline EL")
    no_country = _indicator(factory, centre, "d" * 64, "Nowhere", "Hotline DE")
    _indicator(factory, centre, "e" * 64, "Centre", "Hotline DE", "look-alikes")
    out = _export(factory, centre)
    assert [e.indicator for e in out.document.entries] == [good]
    assert set(out.skipped) == {same_state, aliased, no_country}
    assert "one jurisdiction (NL)" in out.skipped[same_state]
    doc = DeviceList.from_bytes(out.document.to_bytes())
    state = accept(doc, out.setup, centre.signer.public_key, DeviceState())
    assert state.size == doc.head.size
    device = PsiDevice(out.setup)
    request = device.ask(["pdq:" + "a" * 64, "pdq:" + "b" * 64])
    from vigil.e2ee.psi import PsiServer
    server = PsiServer(["pdq:" + "a" * 64], key=KEY)  # the Centre's server, same key
    assert server.setup == out.setup  # what the log names is what the server answers with
    assert device.matches(server.answer(request)) == [0]


def test_tampered_lists_and_heads_are_refused(factory: sessionmaker[Session],
                                              centre: Centre) -> None:
    _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    out = _export(factory, centre)
    doc, key = out.document, centre.signer.public_key
    with pytest.raises(ListRefused, match="setup bytes are not the ones"):
        accept(doc, out.setup + b"\x00", key, DeviceState())
    with pytest.raises(ListRefused, match="tree head"):
        accept(doc, out.setup, TreeHeadSigner.generate().public_key, DeviceState())
    forged_head = dataclasses.replace(doc.head, root=bytes(32))
    with pytest.raises(ListRefused, match="signature is invalid"):
        accept(dataclasses.replace(doc, head=forged_head), out.setup, key, DeviceState())
    # a head signed by the Centre's own key over another history (a fork for this device)
    fork = centre.signer.sign(doc.head.size, os.urandom(32))
    with pytest.raises(ListRefused, match="not in the log"):
        accept(dataclasses.replace(doc, head=fork), out.setup, key, DeviceState())
    entry = doc.entries[0]
    moved = dataclasses.replace(entry, verified=dataclasses.replace(
        entry.verified, leaf=entry.verified.leaf.replace(b'"org":', b'"org": ')))
    with pytest.raises(ListRefused, match="not in the log"):
        accept(dataclasses.replace(doc, entries=(moved,)), out.setup, key, DeviceState())
    with pytest.raises(ListRefused, match="not the ones the log's publication names"):
        accept(dataclasses.replace(doc, entries=()), out.setup, key, DeviceState())
    for data, word in ((b"{", "not JSON"), (b'{"format": "x"}', "not a device list"),
                       (b"x" * 100, "larger than 10")):
        with pytest.raises(ListRefused, match=word):
            DeviceList.from_bytes(data, max_bytes=10 if word.startswith("larger") else 10**6)


def test_a_list_swapped_for_one_device_is_refused(factory: sessionmaker[Session],
                                                  centre: Centre) -> None:
    _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    first = _export(factory, centre)
    key = centre.signer.public_key
    state = accept(first.document, first.setup, key, DeviceState())
    _indicator(factory, centre, "f" * 64, "Centre", "Hotline GR")
    second = _export(factory, centre)
    with transaction(factory) as s:
        cache = log.TreeCache()
        tree = cache.refresh(s)
        proof = tree.consistency_proof(state.size, second.document.head.size)
    newer = accept(second.document, second.setup, key, state, proof)
    assert newer.size > state.size
    with pytest.raises(ListRefused, match="older than one this device saw"):
        accept(first.document, first.setup, key, newer)
    # Another history, signed with the Centre's key: not consistent with what the device saw.
    other = TreeHeadSigner.generate()
    with pytest.raises(ListRefused, match="not consistent"):
        accept(second.document, second.setup, key, DeviceState(state.size, os.urandom(32)), proof)
    assert other is not None


def test_an_entry_not_verified_by_two_jurisdictions_is_refused_by_the_device(
        factory: sessionmaker[Session], centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Centre that skips its own rule (and logs the publication): the device applies the
    rule to the log's entries and refuses the whole list."""
    _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    bad = _indicator(factory, centre, "b" * 64, "Centre", "Hotline NL")
    monkeypatch.setattr(device_list, "two_jurisdictions", lambda *_: None)
    out = _export(factory, centre)
    assert bad in [e.indicator for e in out.document.entries]
    with pytest.raises(ListRefused, match=f"indicator {bad}: .*one jurisdiction \\(NL\\)"):
        accept(out.document, out.setup, centre.signer.public_key, DeviceState())
