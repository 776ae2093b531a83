"""Imports from the hash-sharing programmes, with threatexchange's real clients against the fake
APIs of tests/fixtures/programmes.py (on loopback, reached through the egress policy):
every imported hash is a pending proposal with its provenance, a run resumes at its stored
checkpoint, malformed records are skipped and written down without stopping the page,
withdrawals retract, and nothing connects where the policy or the programme's host does not
allow. Hashes are random."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.programmes import (
    NCMEC_PASSWORD,
    NCMEC_USER,
    STOPNCII_FETCH_KEY,
    STOPNCII_SUBSCRIPTION,
    TE_GROUP,
    TE_TOKEN,
    NcmecEntry,
    Programmes,
    recent,
)
from tests.fixtures.world import World, build_world
from vigil.audit.models import AuditEvent
from vigil.config import Settings
from vigil.db import transaction
from vigil.errors import Invalid, NotFound
from vigil.exchange.programmes import programme_for
from vigil.indicators import service as indicators
from vigil.indicators.models import Indicator
from vigil.sharing.imports import ImportRun, run_import
from vigil.sharing.models import ExchangeProblem, ExchangeRecord, ExchangeSource


def pdq() -> str:
    return secrets.token_hex(32)


def md5() -> str:
    return secrets.token_hex(16)


def settings_for(fake: Programmes, data_dir: Path, **extra: object) -> Settings:
    values: dict[str, object] = dict(
        data_dir=data_dir, environment="test", resolver_overrides=fake.overrides,
        exchange_ncmec_environment="test_Industry", exchange_ncmec_url=fake.url("ncmec.test"),
        exchange_ncmec_credentials=f"{NCMEC_USER}:{NCMEC_PASSWORD}",
        exchange_stopncii_url=fake.url("stopncii.test", "/v1"),
        exchange_stopncii_keys=f"{STOPNCII_FETCH_KEY},{STOPNCII_SUBSCRIPTION}",
        exchange_threatexchange_url=fake.url("graph.test", "/v26.0"),
        exchange_threatexchange_token=TE_TOKEN, exchange_threatexchange_privacy_group=TE_GROUP)
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


def run(factory: sessionmaker[Session], settings: Settings, name: str, list_name: str = "known-material",
        **kw: object) -> ImportRun:
    return run_import(factory, programme_for(name, settings, path=kw.pop("path", None)),  # type: ignore[arg-type]
                      list_name, legal_basis="hash-sharing agreement (test)", **kw)  # type: ignore[arg-type]


def imported(factory: sessionmaker[Session]) -> dict[tuple[str, str], Indicator]:
    with factory() as s:
        return {(i.signal_type, i.value): i for i in s.scalars(select(Indicator))}


def problems(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as s:
        return [(p.place, p.error) for p in s.scalars(select(ExchangeProblem).order_by(ExchangeProblem.id))]


# -- NCMEC ------------------------------------------------------------------------------------

def test_ncmec_import_proposes_resumes_skips_and_withdraws(
        factory: sessionmaker[Session], programmes: Programmes, data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    w: World = build_world(factory)
    image = NcmecEntry("e1", 77, "image", recent(900), {"PDQ": pdq(), "MD5": md5().upper(),
                                                        "PDNA": "opaque-photodna-text"})
    video = NcmecEntry("e2", 78, "video", recent(800), {"MD5": md5()}, classification="B1")
    bad_entry = NcmecEntry("e3", 77, "image", recent(700), {"MD5": md5()}, malformed=True)
    bad_hash = NcmecEntry("e4", 77, "image", recent(600), {"PDQ": "abc"})
    later = [NcmecEntry(f"e{n}", 79, "image", recent(500 - n), {"SHA1": secrets.token_hex(20)})
             for n in range(5, 10)]
    programmes.ncmec = [image, video, bad_entry, bad_hash, *later]
    settings = settings_for(programmes, data_dir)

    first = run(factory, settings, "ncmec", max_pages=2)
    assert first.stopped is None and first.tally.pages == 2
    with factory() as s:
        (src,) = s.scalars(select(ExchangeSource))
        checkpoint = json.loads(src.checkpoint or "null")
    assert checkpoint is not None and "get_entries_max_ts" in checkpoint
    before = len(programmes.requests("ncmec.test"))
    second = run(factory, settings, "ncmec")
    assert second.stopped is None
    # The second run starts at the stored checkpoint, not at the beginning of time.
    (_, _, query, _) = programmes.requests("ncmec.test")[before]
    assert query.get("start") or query["from"][0] != "1970-01-01T00:00:00Z"

    got = imported(factory)
    expected = {("pdq", image.fingerprints["PDQ"]), ("md5", image.fingerprints["MD5"].lower()),
                ("video_md5", video.fingerprints["MD5"])} | {("sha1", e.fingerprints["SHA1"]) for e in later}
    assert set(got) == expected
    assert {i.status for i in got.values()} == {"pending"}  # a reason for review, not action
    ind = got[("pdq", image.fingerprints["PDQ"])]
    assert ind.source == "ncmec:test_Industry:77-e1" and ind.label == "A1"
    assert got[("video_md5", video.fingerprints["MD5"])].label == "B1"
    with factory() as s:
        rec = s.scalar(select(ExchangeRecord).where(ExchangeRecord.indicator_id == ind.id))
        assert rec is not None and json.loads(rec.meta)["other_fingerprints"] == {"PDNA": "opaque-photodna-text"}
    found = problems(factory)
    assert any("malformed NCMEC entry" in e for _, e in found), found
    assert any(w_ == "77-e4" and "pdq" in e for w_, e in found), found
    assert first.tally.skipped + second.tally.skipped == 2

    # A third run finds nothing new; then NCMEC deletes the image entry: its hashes leave.
    assert run(factory, settings, "ncmec").tally.proposed == 0
    # (a minute later: NCMEC's fetch ends five seconds before "now", where the last one ended)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 60)
    programmes.ncmec.append(NcmecEntry("e1", 77, "image", int(real()) + 30, {}, deleted=True))
    third = run(factory, settings, "ncmec")
    assert third.tally.withdrawn == 2
    after = imported(factory)
    assert after[("pdq", image.fingerprints["PDQ"])].status == "retracted"
    assert "withdrawn by ncmec" in (after[("pdq", image.fingerprints["PDQ"])].retract_reason or "")
    assert after[("video_md5", video.fingerprints["MD5"])].status == "pending"
    # Two organisations locally: the partner centre verifies one; it becomes active.
    with transaction(factory) as s:
        indicators.verify(s, w.principals["partner"], after[("video_md5", video.fingerprints["MD5"])].id)
    assert imported(factory)[("video_md5", video.fingerprints["MD5"])].status == "active"


def test_wrong_credentials_stop_at_the_first_page_and_say_so(
        factory: sessionmaker[Session], programmes: Programmes, data_dir: Path) -> None:
    build_world(factory)
    programmes.ncmec = [NcmecEntry("e1", 1, "image", recent(100), {"MD5": md5()})]
    settings = settings_for(programmes, data_dir, exchange_ncmec_credentials="centre-user:wrong-pw")
    got = run(factory, settings, "ncmec")
    assert got.stopped is not None and "401" in got.stopped
    assert "wrong-pw" not in got.stopped and not imported(factory)
    with pytest.raises(Invalid, match="USER:PASSWORD"):
        programme_for("ncmec", settings_for(programmes, data_dir, exchange_ncmec_credentials="nocolon"))
    with pytest.raises(Invalid, match="VIGIL_EXCHANGE_NCMEC_CREDENTIALS"):
        programme_for("ncmec", settings_for(programmes, data_dir, exchange_ncmec_credentials=None))
    with pytest.raises(Invalid, match="unknown NCMEC environment"):
        programme_for("ncmec", settings_for(programmes, data_dir, exchange_ncmec_environment="Mars"))


# -- StopNCII ---------------------------------------------------------------------------------

def _stopncii(value: str, kind: str = "ImagePDQ", status: str = "Active", at: int = 100) -> dict[str, object]:
    return {"lastModtimestamp": at, "signalType": kind, "hashValue": value, "hashStatus": status,
            "caseNumbers": {"case-1": status}, "CSPFeedbacks": []}


def test_stopncii_import_and_withdrawal(factory: sessionmaker[Session], programmes: Programmes,
                                        data_dir: Path) -> None:
    build_world(factory)
    image, video = pdq(), md5()
    programmes.stopncii = [_stopncii(image, at=100), _stopncii(video, "VideoMD5", at=101),
                           _stopncii("x", "NotAType", at=102), _stopncii("12", at=103),
                           _stopncii("https://example.invalid/", "URL", at=104),
                           _stopncii(pdq(), at=105), _stopncii(pdq(), at=106)]
    settings = settings_for(programmes, data_dir)
    first = run(factory, settings, "stopncii", max_pages=1)
    assert first.tally.proposed == 2 and first.tally.skipped == 1  # the unknown type
    second = run(factory, settings, "stopncii")
    (_, _, query, headers) = programmes.requests("stopncii.test")[1]
    assert int(query["startTimestamp"][0]) == 102  # resumed at the stored checkpoint
    assert headers["x-functions-key"] == STOPNCII_FETCH_KEY
    # A bad hash, a URL, and the unknown type again: StopNCII's checkpoint time is inclusive,
    # so the record at the boundary is read twice (and proposing twice is what never happens).
    assert second.tally.proposed == 2 and second.tally.skipped == 3
    got = imported(factory)
    assert ("pdq", image) in got and ("video_md5", video) in got and len(got) == 4
    # The victim withdraws: the hash leaves the list at the next import.
    programmes.stopncii.append(_stopncii(image, status="Withdrawn", at=200))
    assert run(factory, settings, "stopncii").tally.withdrawn == 1
    assert imported(factory)[("pdq", image)].status == "retracted"


# -- Meta ThreatExchange ----------------------------------------------------------------------

def _te(n: int, kind: str, value: str, *, tags: tuple[str, ...] = (), delete: bool = False) -> dict[str, object]:
    return {"id": str(1000 + n), "indicator": value, "type": kind, "last_updated": 1_700_000_000 + n,
            "should_delete": delete,
            "descriptors": {"data": [{"id": str(5000 + n), "owner": {"id": "999"}, "status": "MALICIOUS",
                                      "tags": list(tags), "reactions": []}]}}


def test_threatexchange_import(factory: sessionmaker[Session], programmes: Programmes,
                               data_dir: Path) -> None:
    build_world(factory)
    image, video, plain = pdq(), md5(), md5()
    programmes.te = [_te(1, "HASH_PDQ", image), _te(2, "HASH_MD5", video, tags=("media_type_video",)),
                     _te(3, "HASH_MD5", plain), {"id": "9", "indicator": "x"},  # malformed
                     _te(5, "URI", "https://example.invalid/"), _te(6, "HASH_PDQ", pdq())]
    settings = settings_for(programmes, data_dir)
    done = run(factory, settings, "threatexchange")
    assert done.stopped is None and done.tally.pages == 2
    got = imported(factory)
    assert set(got) - {("pdq", v) for _, v in [(0, image)]} >= {("video_md5", video), ("md5", plain)}
    assert got[("pdq", image)].source == f"threatexchange:{TE_GROUP}:HASH_PDQ:{image}"
    found = problems(factory)
    assert any("missing" in e for _, e in found) and any("URI" in e for _, e in found), found
    for _, _, query, _ in programmes.requests("graph.test"):
        assert query["access_token"] == [TE_TOKEN]
    # A should_delete update withdraws; the next run starts at the last update's time.
    programmes.te.append(_te(10, "HASH_PDQ", image, delete=True))
    again = run(factory, settings, "threatexchange")
    assert again.tally.withdrawn == 1 and imported(factory)[("pdq", image)].status == "retracted"
    with factory() as s:
        (src,) = s.scalars(select(ExchangeSource))
    assert json.loads(src.checkpoint or "{}")["update_time"] == 1_700_000_010


def test_a_token_never_reaches_an_error_message_or_the_database(
        factory: sessionmaker[Session], programmes: Programmes, data_dir: Path) -> None:
    build_world(factory)
    programmes.te = [_te(1, "HASH_PDQ", pdq())]
    programmes.fail_next["graph.test"] = (404, b"gone")
    got = run(factory, settings_for(programmes, data_dir), "threatexchange")
    assert got.stopped is not None and "404" in got.stopped and "(query left out)" in got.stopped
    assert TE_TOKEN.split("|")[1] not in got.stopped and "access_token" not in got.stopped
    with factory() as s:
        stored = [p.error for p in s.scalars(select(ExchangeProblem))]
        stored += [e.details or "" for e in s.scalars(select(AuditEvent))]
    assert stored and not any(TE_TOKEN.split("|")[1] in text for text in stored)
    # The next run retries the page and gets it.
    assert run(factory, settings_for(programmes, data_dir), "threatexchange").tally.proposed == 1


# -- the egress policy ------------------------------------------------------------------------

def test_every_connection_goes_through_the_egress_policy(
        factory: sessionmaker[Session], programmes: Programmes, data_dir: Path) -> None:
    build_world(factory)
    programmes.ncmec = [NcmecEntry("e1", 1, "image", recent(100), {"MD5": md5()})]
    # Not pinned: the programme at a loopback address is refused before any connection.
    unpinned = settings_for(programmes, data_dir, resolver_overrides={},
                            exchange_ncmec_url=f"http://127.0.0.1:{programmes.port}")
    got = run(factory, unpinned, "ncmec")
    assert got.stopped is not None and "non-public address" in got.stopped
    assert not programmes.log and not imported(factory)
    # A paging link to another host (pinned or not) is refused: only the programme's host.
    programmes.te = [_te(n, "HASH_PDQ", pdq()) for n in range(6)]
    programmes.te_next_host = "elsewhere.test"
    hostile = settings_for(programmes, data_dir,
                           resolver_overrides={**programmes.overrides, "elsewhere.test": "127.0.0.1"})
    got = run(factory, hostile, "threatexchange")
    assert got.stopped is not None and "not the programme's host" in got.stopped
    assert got.tally.proposed == 3 and not programmes.requests("elsewhere.test")


def test_an_answer_over_the_limit_is_not_read(factory: sessionmaker[Session], programmes: Programmes,
                                               data_dir: Path) -> None:
    build_world(factory)
    programmes.stopncii = [_stopncii(pdq(), at=100 + n) for n in range(3)]
    got = run(factory, settings_for(programmes, data_dir, exchange_max_response_bytes=200), "stopncii")
    assert got.stopped is not None and "more than the 200" in got.stopped and not imported(factory)


# -- local files, lists --------------------------------------------------------------------

def test_file_import_skips_bad_lines_and_never_proposes_twice(
        factory: sessionmaker[Session], programmes: Programmes, data_dir: Path, tmp_path: Path) -> None:
    build_world(factory)
    good_pdq, good_video = pdq(), md5()
    path = tmp_path / "signals.txt"
    path.write_text(f"pdq {good_pdq}\nvideo_md5 {good_video}\nurl https://example.invalid/\n"
                    f"pdq 123\nsha1 {secrets.token_hex(20)}\n")
    settings = settings_for(programmes, data_dir)
    first = run(factory, settings, "file", path=path)
    assert first.tally.proposed == 3 and first.tally.skipped == 2
    assert run(factory, settings, "file", path=path).tally.proposed == 0
    # Rejected by a reviewer: a later import of the same file does not bring it back.
    got = imported(factory)
    w_partner = build_partner(factory)
    with transaction(factory) as s:
        indicators.reject(s, w_partner, got[("pdq", good_pdq)].id, "not material")
    assert run(factory, settings, "file", path=path).tally.proposed == 0
    big = settings_for(programmes, data_dir, exchange_max_file_bytes=10)
    with pytest.raises(Invalid, match="more than the 10 allowed"):
        run(factory, big, "file", path=path)


def build_partner(factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    from vigil.orgs import service as orgs
    from vigil.orgs.access import KIND_SCOPES, OrgKind

    with transaction(factory) as s:
        org = orgs.organisation_named(s, "Partner")
        issued = orgs.issue_key(s, None, org.id, "reviewer-2", set(KIND_SCOPES[OrgKind.PARTNER_CENTRE]))
        return orgs.authenticate(s, issued.token)


def test_only_a_verified_list_takes_imports(factory: sessionmaker[Session], programmes: Programmes,
                                            data_dir: Path, tmp_path: Path) -> None:
    build_world(factory)
    path = tmp_path / "signals.txt"
    path.write_text(f"pdq {pdq()}\n")
    settings = settings_for(programmes, data_dir)
    with pytest.raises(Invalid, match="unverified list"):
        run(factory, settings, "file", "victim-submitted", path=path)
    with pytest.raises(NotFound, match="no list named"):
        run(factory, settings, "file", "no-such-list", path=path)
    with pytest.raises(Invalid, match="unknown programme"):
        programme_for("carrier-pigeon", settings)
    assert not imported(factory)
