"""The device accepts only a list whose every entry the Centre's log shows verified by two
organisations of two jurisdictions, whose setup bytes the log names, and whose tree head is
consistent with the heads it saw; it refuses anything else, whole, with the reason."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from vigil.db import transaction
from vigil.e2ee import encoding, threshold
from vigil.e2ee.devicelist import (
    MAX_HEAD_AGE,
    DeviceList,
    DeviceState,
    ListRefused,
    accept,
    two_jurisdictions,
)
from vigil.e2ee.psi import PsiDevice, PsiServer
from vigil.errors import Invalid
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
    state = accept(doc, out.setup, centre.signer.public_key, DeviceState(), option="psi")
    assert state.size == doc.head.size
    device = PsiDevice(out.setup)
    request = device.ask(["pdq:" + "a" * 64, "pdq:" + "b" * 64])
    # the Centre's server, with the option's key derived from the same key material
    server = PsiServer(["pdq:" + "a" * 64], key=device_list.option_key(KEY, "psi"))
    assert server.setup == out.setup  # what the log names is what the server answers with
    assert device.matches(server.answer(request)) == [0]


def test_tampered_lists_and_heads_are_refused(factory: sessionmaker[Session],
                                              centre: Centre) -> None:
    _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    out = _export(factory, centre)
    doc, key = out.document, centre.signer.public_key
    with pytest.raises(ListRefused, match="setup bytes are not the ones"):
        accept(doc, out.setup + b"\x00", key, DeviceState(), option="psi")
    with pytest.raises(ListRefused, match="tree head"):
        accept(doc, out.setup, TreeHeadSigner.generate().public_key, DeviceState(), option="psi")
    forged_head = dataclasses.replace(doc.head, root=bytes(32))
    with pytest.raises(ListRefused, match="signature is invalid"):
        accept(dataclasses.replace(doc, head=forged_head), out.setup, key, DeviceState(), option="psi")
    # a head signed by the Centre's own key over another history (a fork for this device)
    fork = centre.signer.sign(doc.head.size, os.urandom(32))
    with pytest.raises(ListRefused, match="not in the log"):
        accept(dataclasses.replace(doc, head=fork), out.setup, key, DeviceState(), option="psi")
    entry = doc.entries[0]
    moved = dataclasses.replace(entry, verified=dataclasses.replace(
        entry.verified, leaf=entry.verified.leaf.replace(b'"org":', b'"org": ')))
    with pytest.raises(ListRefused, match="not in the log"):
        accept(dataclasses.replace(doc, entries=(moved,)), out.setup, key, DeviceState(), option="psi")
    with pytest.raises(ListRefused, match="not the ones the log's publication names"):
        accept(dataclasses.replace(doc, entries=()), out.setup, key, DeviceState(), option="psi")
    for data, word in ((b"{", "not JSON"), (b'{"format": "x"}', "not a device list"),
                       (b"x" * 100, "larger than 10")):
        with pytest.raises(ListRefused, match=word):
            DeviceList.from_bytes(data, max_bytes=10 if word.startswith("larger") else 10**6)


def test_the_node_table_is_shared_and_checked(factory: sessionmaker[Session],
                                             centre: Centre) -> None:
    """Proofs are positions in one table of hashes (neighbouring leaves share most of their
    nodes); a position outside the table, a node that is not a 32-byte hash, a missing table
    or a node swapped for another is refused."""
    import json

    for value in ("a", "b", "c"):
        _indicator(factory, centre, value * 64, "Centre", "Hotline DE")
    out = _export(factory, centre)
    obj = json.loads(out.document.to_bytes())
    proofs = [p for e in obj["entries"] for p in (e["proposed"]["proof"], e["verified"]["proof"])]
    assert len(obj["nodes"]) < sum(len(p) for p in proofs)  # shared, each once
    again = DeviceList.from_bytes(out.document.to_bytes())
    accept(again, out.setup, centre.signer.public_key, DeviceState(), option="psi")

    def refused(change: Any, match: str) -> None:
        bad = json.loads(out.document.to_bytes())
        change(bad)
        with pytest.raises(ListRefused, match=match):
            doc = DeviceList.from_bytes(json.dumps(bad).encode())
            accept(doc, out.setup, centre.signer.public_key, DeviceState(), option="psi")

    refused(lambda d: d["entries"][0]["proposed"]["proof"].append(len(d["nodes"])),
            "not a node of its table")
    refused(lambda d: d["entries"][0]["proposed"]["proof"].__setitem__(0, -1),
            "not a node of its table")
    refused(lambda d: d["entries"][0]["proposed"]["proof"].__setitem__(0, "0"),
            "not a node of its table")
    refused(lambda d: d["nodes"].__setitem__(0, base64.b64encode(b"short").decode()),
            "not a 32-byte hash")
    refused(lambda d: d["nodes"].__setitem__(0, "%%%"), "not base64")
    refused(lambda d: d.pop("nodes"), "malformed device list")
    refused(lambda d: d["nodes"].__setitem__(0, base64.b64encode(os.urandom(32)).decode()),
            "not in the log")
    # Numbers out of any range the document can hold are a refusal, never a crash.
    for size in (2**70, -1, 1.5, True):
        refused(lambda d, v=size: d["head"].__setitem__("tree_size", v), "malformed")
    refused(lambda d: d["head"].__setitem__("timestamp_ms", 2**64), "malformed")
    refused(lambda d: d["entries"][0]["proposed"].__setitem__("index", True), "malformed")
    text = out.document.to_bytes().decode()
    for bad in (text.replace('"indicator":', '"indicator":Infinity,"x":', 1),
                text.replace('"tree_size":', '"tree_size":NaN,"y":', 1),
                "[" * 200_000 + "]" * 200_000):
        with pytest.raises(ListRefused):
            DeviceList.from_bytes(bad.encode())


def test_a_list_swapped_for_one_device_is_refused(factory: sessionmaker[Session],
                                                  centre: Centre) -> None:
    _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    first = _export(factory, centre)
    key = centre.signer.public_key
    state = accept(first.document, first.setup, key, DeviceState(), option="psi")
    _indicator(factory, centre, "f" * 64, "Centre", "Hotline GR")
    second = _export(factory, centre)
    with transaction(factory) as s:
        cache = log.TreeCache()
        tree = cache.refresh(s)
        proof = tree.consistency_proof(state.size, second.document.head.size)
    newer = accept(second.document, second.setup, key, state, proof, option="psi")
    assert newer.size > state.size
    with pytest.raises(ListRefused, match="older than one this device saw"):
        accept(first.document, first.setup, key, newer, option="psi")
    # Another history, signed with the Centre's key: not consistent with what the device saw.
    other = TreeHeadSigner.generate()
    with pytest.raises(ListRefused, match="not consistent"):
        accept(second.document, second.setup, key, DeviceState(state.size, os.urandom(32)), proof, option="psi")
    assert other is not None


def test_an_entry_not_verified_by_two_jurisdictions_is_refused_by_the_device(
        factory: sessionmaker[Session], centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Centre that skips its own rule (and logs the publication): the device applies the
    rule to the log's entries and refuses the whole list. The Centre's own export checks its
    document as a device would, so it refuses to publish it unless that check is skipped too."""
    _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    bad = _indicator(factory, centre, "b" * 64, "Centre", "Hotline NL")
    monkeypatch.setattr(device_list, "two_jurisdictions", lambda *_: None)
    with transaction(factory) as s:
        size = log.size(s)
    with pytest.raises(Invalid, match=f"would be refused by a device: indicator {bad}"):
        _export(factory, centre)
    with transaction(factory) as s:
        assert log.size(s) == size  # the publication leaf was rolled back with the transaction
    monkeypatch.setattr(device_list, "accept", lambda *_, **__: DeviceState())
    out = _export(factory, centre)
    assert bad in [e.indicator for e in out.document.entries]
    with pytest.raises(ListRefused, match=f"indicator {bad}: .*one jurisdiction \\(NL\\)"):
        accept(out.document, out.setup, centre.signer.public_key, DeviceState(), option="psi")


def _proof(factory: sessionmaker[Session], old: int, new: int) -> list[bytes]:
    with transaction(factory) as s:
        return log.TreeCache().refresh(s).consistency_proof(old, new) if new > old else []


def test_an_old_list_re_proved_under_a_newer_head_is_refused(
        factory: sessionmaker[Session], centre: Centre) -> None:
    """Review of issue 19, finding 1: the Centre hands a device its option's *previous* list
    (one still holding an indicator since retracted), re-proved under the newest head. Both a
    device that accepted the newer list and a new device refuse it: the leaves after the old
    publication show the newer one."""
    bad = _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    good = _indicator(factory, centre, "b" * 64, "Hotline GR", "Hotline DE")
    first = _export(factory, centre)
    key = centre.signer.public_key
    with transaction(factory) as s:
        indicators.retract(s, centre.actors["Centre"], bad, "wrongly listed")
    second = _export(factory, centre)
    assert [e.indicator for e in second.document.entries] == [good]
    assert second.document.published.data()["previous"] == first.document.published.index
    assert first.document.published.data()["previous"] is None
    state = accept(second.document, second.setup, key, DeviceState(), option="psi")
    assert state.publications == {"psi": second.document.published.index}
    with transaction(factory) as s:
        stale = device_list.refresh(s, first.document, centre.signer)
    assert bad in [e.indicator for e in stale.entries]
    proof = _proof(factory, state.size, stale.head.size)
    with pytest.raises(ListRefused, match="older than the one this device accepted"):
        accept(stale, first.setup, key, state, proof, option="psi")
    with pytest.raises(ListRefused, match="newer list of option 'psi' was published"):
        accept(stale, first.setup, key, DeviceState(state.size, state.root), proof, option="psi")
    with pytest.raises(ListRefused, match="newer list of option 'psi' was published"):
        accept(stale, first.setup, key, DeviceState(), option="psi")
    # hiding the newer publication by leaving the tail out, or part of it, is refused too
    for tail in ((), stale.tail[:-1], stale.tail[1:]):
        with pytest.raises(ListRefused, match="every log entry after its publication"):
            accept(dataclasses.replace(stale, tail=tail), first.setup, key, DeviceState(),
                   option="psi")
    # a device that accepted a publication refuses an older one whatever the log shows
    later = DeviceState(state.size, state.root, {"psi": second.document.published.index + 1})
    with pytest.raises(ListRefused, match="older than the one this device accepted"):
        accept(second.document, second.setup, key, later, option="psi")


def test_the_newest_list_re_proved_under_a_newer_head_is_accepted(
        factory: sessionmaker[Session], centre: Centre) -> None:
    _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    out = _export(factory, centre)
    key = centre.signer.public_key
    assert out.document.tail == ()  # the export signs its head right after the publication
    state = accept(out.document, out.setup, key, DeviceState(), option="psi")
    _indicator(factory, centre, "c" * 64, "Centre", "Hotline GR")  # later leaves, no publication
    _export(factory, centre, "threshold")  # another option's publication does not matter
    with transaction(factory) as s:
        fresh = device_list.refresh(s, out.document, centre.signer)
    assert len(fresh.tail) == fresh.head.size - out.document.published.index - 1 > 0
    again = DeviceList.from_bytes(fresh.to_bytes())
    newer = accept(again, out.setup, key, state, _proof(factory, state.size, fresh.head.size),
                   option="psi")
    assert newer.size == fresh.head.size and newer.publications == state.publications
    assert DeviceState.from_json(newer.to_json()) == newer
    assert accept(again, out.setup, key, DeviceState(), option="psi").size == fresh.head.size


def test_a_stale_head_another_option_and_a_skipped_publication_are_refused(
        factory: sessionmaker[Session], centre: Centre) -> None:
    _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    out = _export(factory, centre)
    key, doc = centre.signer.public_key, out.document
    signed = dt.datetime.fromtimestamp(doc.head.timestamp_ms / 1000, dt.UTC)
    assert accept(doc, out.setup, key, DeviceState(), option="psi",
                  now=signed + MAX_HEAD_AGE - dt.timedelta(minutes=1)).size == doc.head.size
    with pytest.raises(ListRefused, match=r"hours old .*a stale list"):
        accept(doc, out.setup, key, DeviceState(), option="psi",
               now=signed + MAX_HEAD_AGE + dt.timedelta(minutes=1))
    with pytest.raises(ListRefused, match="dated in the future"):
        accept(doc, out.setup, key, DeviceState(), option="psi",
               now=signed - dt.timedelta(hours=1))
    with pytest.raises(ListRefused, match="for option 'psi', this device expects 'threshold'"):
        accept(doc, out.setup, key, DeviceState(), option="threshold")
    # a device that accepted an earlier "psi" publication gets one naming no predecessor
    with pytest.raises(ListRefused, match="the log skips a publication"):
        accept(doc, out.setup, key, DeviceState(0, b"", {"psi": doc.published.index - 1}),
               option="psi")


def test_export_keys(factory: sessionmaker[Session], centre: Centre) -> None:
    """Review finding 14: a key of zeros is refused with a clear error, not a curve error; any
    other 32 bytes (also above the group order) is key material for per-option keys."""
    _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    with transaction(factory) as s:
        size = log.size(s)
    for key, word in ((bytes(32), "all zeros"), (b"\x01" * 31, "32 bytes")):
        with pytest.raises(Invalid, match=word), transaction(factory) as s:
            device_list.export(s, centre.actors["Centre"], centre.signer, "threshold", key)
    with transaction(factory) as s:
        assert log.size(s) == size
        out = device_list.export(s, centre.actors["Centre"], centre.signer, "threshold",
                                 b"\xff" * 32)
    assert accept(out.document, out.setup, centre.signer.public_key, DeviceState(),
                  option="threshold").publications == {"threshold": out.document.published.index}
    keys = {device_list.option_key(KEY, o) for o in ("psi", "threshold", "psi_perceptual")}
    assert len(keys) == 3


def _psi_oracle(server: PsiServer, table: threshold.Table, item: bytes) -> bool:
    """Review finding 3's attack: ask the PSI server for k·H(item) and look its x up in the
    threshold table's slots for the item (offline)."""
    import private_set_intersection.python as om
    from cryptography.hazmat.primitives import serialization

    from vigil.e2ee.curve import hash_to_point

    req = om.Request()
    req.encrypted_elements.append(hash_to_point(item, b"item").public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint))
    req.reveal_intersection = True
    resp = om.Response()
    resp.ParseFromString(server.answer(req.SerializeToString()))
    x = resp.encrypted_elements[0][1:33]
    return any(table.slot(threshold._slot(table.seed, j, item, table.size)) == x
               for j in range(threshold.HASHES))


def test_a_psi_server_is_no_oracle_for_the_threshold_table(
        factory: sessionmaker[Session], centre: Centre) -> None:
    """Review finding 3: one key for both options made the PSI server (which raises any point
    a client sends to its key) test any picture against the threshold table. Each option now
    has its own key, derived from the key material."""
    value = "a" * 64
    _indicator(factory, centre, value, "Centre", "Hotline DE")
    table = threshold.Table.from_bytes(_export(factory, centre, "threshold").setup)
    item = encoding.exact_element("pdq", value).encode()
    psi = PsiServer([item.decode()], key=device_list.option_key(KEY, "psi"))
    assert not _psi_oracle(psi, table, item)
    # the attack is real: with the threshold key (the old shared key) the oracle finds it
    shared = PsiServer([item.decode()], key=device_list.option_key(KEY, "threshold"))
    assert _psi_oracle(shared, table, item)
    assert not _psi_oracle(shared, table, encoding.exact_element("pdq", "b" * 64).encode())


def test_the_auditors_replay_checks_publications(factory: sessionmaker[Session],
                                                 centre: Centre) -> None:
    """Review of issue 19: ``vigil audit verify`` skipped e2ee:list_published. It now checks
    that a publication names only active indicators of verified lists, and its predecessor."""
    import json

    from vigil.indicators.log_audit import AuditReport, replay

    ind = _indicator(factory, centre, "a" * 64, "Centre", "Hotline DE")
    _export(factory, centre)
    _export(factory, centre)
    with transaction(factory) as s:
        leaves = [json.loads(e.leaf) for e in log.entries(s, 0, log.size(s))]
        indicators.retract(s, centre.actors["Centre"], ind, "wrongly listed")
        retracted = [json.loads(e.leaf) for e in log.entries(s, len(leaves), log.size(s))]
    report = AuditReport()
    replay(leaves, report)
    assert report.problems == []
    forged = {"event": "e2ee:list_published", "option": "psi", "indicators": [ind, 999],
              "previous": 3, "index": len(leaves) + len(retracted)}
    replay([*leaves, *retracted, forged], report)
    assert any(f"names indicator {ind}, which is retracted" in p for p in report.problems)
    assert any("names indicator 999, which is not in the log" in p for p in report.problems)
    assert any("names entry 3 as the previous 'psi' list" in p for p in report.problems)
