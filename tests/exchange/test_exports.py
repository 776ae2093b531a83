"""A list exported in each programme's format reads back with that programme's own parser in
threatexchange (and with vigil's list reader for threatexchange files); what a format has no
place for is left out and counted; only verified (active) indicators leave unless asked."""

from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from threatexchange.exchanges.clients.ncmec import hash_api as ncmec_api
from threatexchange.exchanges.clients.stopncii import api as stopncii_api
from threatexchange.exchanges.impl.file_api import FileCollaborationConfig, LocalFileSignalExchangeAPI
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal

from tests.fixtures.world import World, active_indicator, build_world
from vigil.db import transaction
from vigil.errors import Invalid, NotFound
from vigil.indicators import service as indicators
from vigil.matching.listfile import parse_list
from vigil.sharing.exports import export_list


def _world(factory: sessionmaker[Session]) -> tuple[World, dict[str, str]]:
    w = build_world(factory)
    values = {"pdq": secrets.token_hex(32), "md5": secrets.token_hex(16), "sha1": secrets.token_hex(20),
              "video_md5": secrets.token_hex(16), "sha256": secrets.token_hex(32)}
    for st, v in values.items():
        active_indicator(factory, w, st, v)
    with transaction(factory) as s:  # a pending one: not exported by default
        indicators.propose(s, w.principals["centre"], [indicators.Proposal("pdq", secrets.token_hex(32),
                                                                          "known-material", "test")])
    return w, values


def _export(factory: sessionmaker[Session], fmt: str, **kw: str):  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        return export_list(s, "known-material", fmt, **kw)


def test_threatexchange_file(factory: sessionmaker[Session], tmp_path: Path) -> None:
    _, values = _world(factory)
    out = _export(factory, "threatexchange")
    assert out.exported == 5 and not out.left_out
    assert {(e.signal_type.value, e.value) for e in parse_list(out.data.decode())} == set(values.items())
    path = tmp_path / "list.txt"
    path.write_bytes(out.data)
    api = LocalFileSignalExchangeAPI(FileCollaborationConfig(name="x", filename=str(path)))
    (delta,) = api.fetch_iter([], None)
    by_type = LocalFileSignalExchangeAPI.naive_convert_to_signal_type(
        [PdqSignal, VideoMD5Signal], api.collab, delta.updates)
    assert set(by_type[PdqSignal]) == {values["pdq"]} and set(by_type[VideoMD5Signal]) == {values["video_md5"]}
    assert len(_export(factory, "threatexchange", status="pending").data.splitlines()) == 1


def test_ncmec_entries(factory: sessionmaker[Session]) -> None:
    _, values = _world(factory)
    out = _export(factory, "ncmec")
    assert out.exported == 4 and out.left_out == {"sha256": 1}
    it = ET.iterparse(BytesIO(out.data))
    for _, el in it:  # as the library's client reads NCMEC's answers: namespaces dropped
        el.tag = el.tag.partition("}")[2] or el.tag
    parsed = ncmec_api.GetEntriesResponse.from_xml(ncmec_api._XMLWrapper(it.root), 0)  # type: ignore[attr-defined]
    got = {(u.entry_type.value, k, v) for u in parsed.updates for k, v in u.fingerprints.items()}
    assert got == {("image", "PDQ", values["pdq"]), ("image", "MD5", values["md5"]),
                   ("image", "SHA1", values["sha1"]), ("video", "MD5", values["video_md5"])}
    assert all(not u.deleted and u.member_id > 0 for u in parsed.updates)


def test_stopncii_submission(factory: sessionmaker[Session]) -> None:
    _, values = _world(factory)
    out = _export(factory, "stopncii")
    body = json.loads(out.data)
    assert body["count"] == 2 == out.exported and out.left_out == {"md5": 1, "sha1": 1, "sha256": 1}
    got = {(stopncii_api.StopNCIISignalType(r["signalType"]), r["hashValue"]) for r in body["hashRecords"]}
    assert got == {(stopncii_api.StopNCIISignalType.ImagePDQ, values["pdq"]),
                   (stopncii_api.StopNCIISignalType.VideoMD5, values["video_md5"])}
    for r in body["hashRecords"]:
        (fb,) = r["CSPFeedbacks"]
        blocked = stopncii_api.StopNCIICSPFeedbackValue.Blocked
        assert stopncii_api.StopNCIICSPFeedbackValue(fb["feedbackValue"]) is blocked


def test_bad_requests_name_the_problem(factory: sessionmaker[Session]) -> None:
    _world(factory)
    with pytest.raises(Invalid, match="unknown export format 'csv'"):
        _export(factory, "csv")
    with pytest.raises(Invalid, match="unknown status"):
        _export(factory, "vics", status="everything")
    with transaction(factory) as s, pytest.raises(NotFound, match="no list named"):
        export_list(s, "nope", "vics")
