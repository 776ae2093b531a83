"""A page that a programme answers but that cannot be read, at the same checkpoint run after
run, never stalls that programme's import for good: after VIGIL_EXCHANGE_UNREADABLE_RUNS runs
in a row the import steps past it (the window skipped written down, in the audit trail, and the
import goes on past it); a page that was not delivered (an HTTP error, wrong credentials) is
retried, never stepped past. Every programme with a checkpoint (NCMEC, StopNCII, Meta
ThreatExchange) is driven through the same steps, with threatexchange's real clients against
the loopback fakes of tests/fixtures/programmes.py. Hashes are random."""

from __future__ import annotations

import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.test_programmes import _stopncii, _te, imported, problems, run, settings_for
from tests.fixtures.programmes import NcmecEntry, Programmes, recent
from tests.fixtures.world import build_world
from vigil.audit.models import AuditEvent
from vigil.config import Settings
from vigil.exchange.http import ResponseTooLarge, unreadable
from vigil.sharing.models import ExchangeSource

SKIP = 50


def pdq() -> str:
    return secrets.token_hex(32)


@dataclass
class Case:
    """A programme, records before the checkpoint, and a way to add records at a time after
    it (seconds past the checkpoint)."""

    name: str
    host: str
    #: Sets the programme's first records; returns nothing.
    first: Callable[[Programmes], None]
    #: (programmes, seconds after the checkpoint) -> the PDQ hash added there.
    later: Callable[[Programmes, int, int], str]
    #: The checkpoint's time field.
    checkpoint_time: Callable[[dict[str, object]], int]


def _ncmec_first(p: Programmes) -> None:
    p.ncmec = [NcmecEntry("e1", 1, "image", recent(900), {"PDQ": pdq()})]


def _ncmec_later(p: Programmes, at: int, after: int) -> str:
    value = pdq()
    p.ncmec.append(NcmecEntry(f"n{at + after}", 1, "image", at + after, {"PDQ": value}))
    return value


def _stopncii_first(p: Programmes) -> None:
    p.stopncii = [_stopncii(pdq(), at=100 + n) for n in range(2)]


def _stopncii_later(p: Programmes, at: int, after: int) -> str:
    value = pdq()
    p.stopncii.append(_stopncii(value, at=at + after))
    return value


def _te_first(p: Programmes) -> None:
    p.te = [_te(n, "HASH_PDQ", pdq()) for n in range(2)]


def _te_later(p: Programmes, at: int, after: int) -> str:
    value = pdq()
    p.te.append({**_te(at + after - 1_700_000_000, "HASH_PDQ", value)})
    return value


CASES = [
    Case("ncmec", "ncmec.test", _ncmec_first, _ncmec_later,
         lambda c: int(c["get_entries_max_ts"])),  # type: ignore[call-overload]
    Case("stopncii", "stopncii.test", _stopncii_first, _stopncii_later,
         lambda c: int(c["update_time"])),  # type: ignore[call-overload]
    Case("threatexchange", "graph.test", _te_first, _te_later,
         lambda c: int(c["update_time"])),  # type: ignore[call-overload]
]
GARBAGE = {"ncmec": b"<queryResult><images", "stopncii": b"{not json",
           "threatexchange": b"<html>not json</html>"}


def _source(factory: sessionmaker[Session]) -> ExchangeSource:
    with factory() as s:
        (src,) = s.scalars(select(ExchangeSource))
        s.expunge(src)
        return src


def _imported_once(case: Case, factory: sessionmaker[Session], programmes: Programmes,
                   data_dir: Path) -> tuple[Settings, int]:
    """The programme's first records imported: the settings, and the checkpoint's time."""
    build_world(factory)
    settings = settings_for(programmes, data_dir)
    case.first(programmes)
    assert run(factory, settings, case.name).stopped is None
    return settings, case.checkpoint_time(json.loads(_source(factory).checkpoint or "{}"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_page_unreadable_for_good_is_stepped_past_after_three_runs(
        case: Case, factory: sessionmaker[Session], programmes: Programmes, data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings, start = _imported_once(case, factory, programmes, data_dir)
    # Later: the programme's page at the checkpoint is broken for good; one record lies in
    # the window a step skips, one after it.
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 2 * SKIP + 60)
    programmes.broken_before[case.host] = (start + 1, 200, GARBAGE[case.name])
    lost = case.later(programmes, start, SKIP // 2)
    kept = case.later(programmes, start, SKIP + 20)
    before = set(imported(factory))

    for attempt in (1, 2):
        got = run(factory, settings, case.name, unreadable_runs=3, skip_seconds=SKIP)
        assert got.stopped is not None and not got.stepped_past
        assert f"in {attempt} of the 3 runs in a row" in got.stopped, got.stopped
        src = _source(factory)
        assert src.unreadable_runs == attempt
        assert case.checkpoint_time(json.loads(src.checkpoint or "{}")) == start  # not moved
        assert set(imported(factory)) == before

    third = run(factory, settings, case.name, unreadable_runs=3, skip_seconds=SKIP)
    assert third.stopped is None, third.stopped
    assert len(third.stepped_past) == 1 and "were" not in third.stepped_past[0]
    got_now = set(imported(factory))
    assert ("pdq", kept) in got_now and ("pdq", lost) not in got_now
    src = _source(factory)
    assert src.unreadable_runs == 0 and src.unreadable_at is None and src.steps_in_row == 0
    written = [e for _, e in problems(factory) if e.startswith("stepped past")]
    assert len(written) == 1 and "unreadable in 3 runs in a row" in written[0]
    assert "were not imported" in written[0] and third.stepped_past[0] in written[0]
    with factory() as s:
        audit = [json.loads(e.details or "{}") for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action == "exchange:imported"))]
    assert audit[-1]["stepped_past"] == third.stepped_past
    assert all(not a["stepped_past"] for a in audit[:-1])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_page_that_is_not_delivered_is_retried_never_stepped_past(
        case: Case, factory: sessionmaker[Session], programmes: Programmes, data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings, start = _imported_once(case, factory, programmes, data_dir)
    checkpoint = _source(factory).checkpoint
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 60)  # (NCMEC reads up to now)
    programmes.broken_before[case.host] = (start + 1, 404, b"not here today")
    for _ in range(4):
        got = run(factory, settings, case.name, unreadable_runs=1, skip_seconds=SKIP)
        assert got.stopped is not None and "404" in got.stopped and not got.stepped_past
    src = _source(factory)
    assert src.checkpoint == checkpoint and src.unreadable_runs == 0
    # The programme answers again: the import goes on from where it was.
    del programmes.broken_before[case.host]
    assert run(factory, settings, case.name).stopped is None


def test_steps_in_a_row_double_and_a_readable_page_resets_them(
        factory: sessionmaker[Session], programmes: Programmes, data_dir: Path) -> None:
    build_world(factory)
    settings = settings_for(programmes, data_dir)
    _stopncii_first(programmes)
    run(factory, settings, "stopncii")
    start = int(json.loads(_source(factory).checkpoint or "{}")["update_time"])
    # Broken past the first step's window too: the second step skips twice as far.
    programmes.broken_before["stopncii.test"] = (start + SKIP + 1, 200, b"{not json")
    kept = _stopncii_later(programmes, start, 3 * SKIP + 10)
    steps = []
    for _ in range(4):
        steps += run(factory, settings, "stopncii", unreadable_runs=2, skip_seconds=SKIP).stepped_past
    src = _source(factory)
    assert len(steps) == 2 and src.steps_in_row == 0  # the page after the second step read
    assert int(json.loads(src.checkpoint or "{}")["update_time"]) > start + 3 * SKIP
    assert ("pdq", kept) in imported(factory)
    windows = [w for _, w in problems(factory) if w.startswith("stepped past")]
    assert len(windows) == 2


def test_which_failures_count_as_unreadable() -> None:
    """Answered but unreadable: counted. Not delivered — whatever raised it — retried."""
    from urllib3 import exceptions as urllib3_errors

    from vigil.egress import EgressRefused

    for exc in (ValueError("bad"), ET.ParseError("no element found"), ResponseTooLarge("big"),
                requests.exceptions.JSONDecodeError("x", "doc", 0), KeyError("data"),
                TypeError("not a list"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")):
        assert unreadable(exc), exc
    for exc in (requests.ConnectionError("refused"), requests.Timeout("slow"),
                requests.HTTPError("503"), requests.exceptions.RetryError("too many 503s"),
                OSError("reset"), EgressRefused("cannot resolve graph.test"),
                urllib3_errors.ProtocolError("connection broken"),
                urllib3_errors.ReadTimeoutError(None, "/", "read timed out"),  # type: ignore[arg-type]
                urllib3_errors.SSLError("bad certificate"), AssertionError("a library's check"),
                RuntimeError("anything else")):
        assert not unreadable(exc), exc


@pytest.mark.parametrize("how", ["truncated", "refused_host"])
def test_an_answer_that_broke_off_or_went_elsewhere_is_never_stepped_past(
        how: str, factory: sessionmaker[Session], programmes: Programmes, data_dir: Path) -> None:
    """A body cut short mid-way (the server lies about its length) or a paging link to another
    host is a page not delivered: retried by every run, never stepped past, whatever the
    number of runs."""
    build_world(factory)
    settings = settings_for(programmes, data_dir)
    programmes.te = [_te(n, "HASH_PDQ", pdq()) for n in range(30)]
    if how == "truncated":
        programmes.truncate_next["graph.test"] = 1000
    else:
        programmes.te_next_host = "elsewhere.test"
    for _ in range(3):
        got = run(factory, settings, "threatexchange", unreadable_runs=1, skip_seconds=SKIP)
        assert got.stopped is not None and not got.stepped_past, got.stopped
        if how == "truncated":
            programmes.truncate_next["graph.test"] = 1000
    assert _source(factory).unreadable_runs == 0


def test_a_threatexchange_group_with_nothing_new_is_caught_up_not_failing(
        factory: sessionmaker[Session], programmes: Programmes, data_dir: Path) -> None:
    """The library asserts that no page is empty; a privacy group with no update answers an
    empty page, and so does a page whose every update was malformed: neither fails the run,
    and the malformed ones are still recorded."""
    build_world(factory)
    settings = settings_for(programmes, data_dir)
    for _ in range(3):
        got = run(factory, settings, "threatexchange", unreadable_runs=1, skip_seconds=SKIP)
        assert got.stopped is None and not got.stepped_past, got.stopped
    programmes.te = [{"id": "7", "indicator": "x"}, {"id": "8"}]  # malformed, both
    got = run(factory, settings, "threatexchange", unreadable_runs=1, skip_seconds=SKIP)
    assert got.stopped is None and got.tally.skipped == 2 and not got.stepped_past
    good = pdq()
    programmes.te.append(_te(20, "HASH_PDQ", good))
    assert run(factory, settings, "threatexchange").tally.proposed == 1
    assert ("pdq", good) in imported(factory)


def test_a_programme_that_says_more_follows_for_ever_cannot_keep_a_run_going(
        factory: sessionmaker[Session], programmes: Programmes, data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threatexchange.exchanges.impl.stop_ncii_api as stop_ncii_api

    from vigil.sharing import imports

    monkeypatch.setattr(imports, "MAX_IDLE_PAGES", 5)
    # Each page is fetched a second and a half after the last (a loaded machine): the time the
    # checkpoint records of its fetch moves, the position does not (once seen as a move here).
    clock = iter(range(1_800_000_000, 1_900_000_000, 3))
    monkeypatch.setattr(stop_ncii_api, "time",
                        type("Clock", (), {"time": staticmethod(lambda: next(clock) / 2)}))
    build_world(factory)
    programmes.stopncii_endless = True
    # (max_pages: were idle pages not seen as idle, the run would page for ever.)
    got = run(factory, settings_for(programmes, data_dir), "stopncii", max_pages=30)
    assert got.stopped is not None and "5 pages in a row" in got.stopped
    # The first page moved the position (from none); the five after it did not.
    assert got.tally.pages == 6 and not got.stepped_past
    assert len(programmes.requests("stopncii.test")) == 6


def test_a_position_is_where_a_checkpoint_stands_not_when_it_was_fetched() -> None:
    """Every programme's checkpoint, made at two times: one position; moved on: another."""
    from threatexchange.exchanges.impl.fb_threatexchange_api import FBThreatExchangeCheckpoint
    from threatexchange.exchanges.impl.ncmec_api import NCMECCheckpoint, _NCMECPagingInfo
    from threatexchange.exchanges.impl.stop_ncii_api import StopNCIICheckpoint

    from vigil.exchange.programmes import position

    def made_at(when: int) -> list[dict[str, object]]:
        return [asdict(StopNCIICheckpoint(100, when)),
                asdict(FBThreatExchangeCheckpoint(update_time=100, last_fetch_time=when)),
                asdict(NCMECCheckpoint(100, _NCMECPagingInfo("https://ncmec.test/next", 200,
                                                             paging_url_ts=when)))]

    assert [position(c) for c in made_at(1)] == [position(c) for c in made_at(2)]
    moved = [asdict(StopNCIICheckpoint(101, 1)),
             asdict(FBThreatExchangeCheckpoint(update_time=101, last_fetch_time=1)),
             asdict(NCMECCheckpoint(100, _NCMECPagingInfo("https://ncmec.test/next2", 200,
                                                          paging_url_ts=1)))]
    assert all(position(a) != position(b) for a, b in zip(made_at(1), moved, strict=True))
    assert position(None) is None
