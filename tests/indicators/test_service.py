"""The indicator rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.world import build_world
from vigil.audit.models import AuditEvent
from vigil.db import transaction
from vigil.errors import Conflict, Forbidden, Invalid
from vigil.indicators import service
from vigil.indicators.models import ListChange
from vigil.translog.models import LogEntry

PDQ = "a5" * 32


def _propose(factory: sessionmaker[Session], actor, value: str = PDQ, lst: str = "known-material"):  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        return service.propose(s, actor, [service.Proposal("pdq", value, lst, "Art. 36 CSAR")])[0]


def test_two_organisation_rule(factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    ind = _propose(factory, w.principals["centre"])
    assert ind.status == "pending"
    for same_org in ("centre", "centre2"):  # the proposer, and a colleague of the same org
        with pytest.raises(Conflict, match="two-organisation rule"), transaction(factory) as s:
            service.verify(s, w.principals[same_org], ind.id)
    with transaction(factory) as s:
        assert service.verify(s, w.principals["partner"], ind.id).status == "active"
    with pytest.raises(Conflict, match="active, not pending"), transaction(factory) as s:
        service.verify(s, w.principals["partner"], ind.id)
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(ListChange)) == 1


def test_providers_cannot_propose_or_verify(factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with pytest.raises(Forbidden, match="indicators:propose"), transaction(factory) as s:
        service.propose(s, w.principals["provider"],
                        [service.Proposal("pdq", PDQ, "known-material", "x")])
    ind = _propose(factory, w.principals["centre"])
    with pytest.raises(Forbidden, match="indicators:review"), transaction(factory) as s:
        service.verify(s, w.principals["provider"], ind.id)


def test_invalid_proposals_are_listed_and_nothing_is_stored(factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with transaction(factory) as s:
        leaves_before = s.scalar(select(func.count()).select_from(LogEntry))
    with pytest.raises(Invalid) as err, transaction(factory) as s:
        service.propose(s, w.principals["centre"], [
            service.Proposal("pdq", PDQ, "known-material", "ok"),
            service.Proposal("pdq", "xyz", "known-material", "ok"),
            service.Proposal("md5", "a" * 32, "no-such-list", "ok"),
            service.Proposal("sha256", "b" * 64, "known-material", " "),
        ])
    items = err.value.details["items"]
    assert [i["index"] for i in items] == [1, 2, 3]
    assert "expected 64 hex characters" in items[0]["error"]
    assert "no list named 'no-such-list'" in items[1]["error"]
    assert "legal_basis is required" in items[2]["error"]
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(LogEntry)) == leaves_before


def test_duplicate_proposal_conflicts(factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    ind = _propose(factory, w.principals["centre"])
    with pytest.raises(Conflict, match=f"already pending.*indicator {ind.id}"):
        _propose(factory, w.principals["partner"])
    _propose(factory, w.principals["partner"], lst="non-material")  # another list is fine


def test_reject_and_retract_need_reasons_and_are_logged(factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    a = _propose(factory, w.principals["centre"], "11" * 32)
    b = _propose(factory, w.principals["centre"], "22" * 32)
    with pytest.raises(Invalid, match="reason"), transaction(factory) as s:
        service.reject(s, w.principals["partner"], a.id, "  ")
    with transaction(factory) as s:
        service.reject(s, w.principals["partner"], a.id, "not material")
        service.verify(s, w.principals["partner"], b.id)
    with pytest.raises(Invalid, match="reason"), transaction(factory) as s:
        service.retract(s, w.principals["partner"], b.id, "")
    with transaction(factory) as s:
        assert service.retract(s, w.principals["centre"], b.id, "complaint upheld").status == "retracted"
    with transaction(factory) as s:
        events = [json.loads(e.leaf)["event"] for e in s.scalars(select(LogEntry).order_by(LogEntry.index))]
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        changes = [c.action for c in s.scalars(select(ListChange).order_by(ListChange.seq))]
    assert events[-5:] == ["indicator:proposed", "indicator:proposed", "indicator:rejected",
                           "indicator:verified", "indicator:retracted"]
    assert "indicator:retracted" in actions and "indicator:rejected" in actions
    assert changes == ["add", "withdraw"]


def test_log_leaves_hold_commitments_not_hashes(factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    ind = _propose(factory, w.principals["centre"])
    with transaction(factory) as s:
        leaf = s.scalars(select(LogEntry).order_by(LogEntry.index.desc())).first()
        assert leaf is not None
        assert PDQ not in leaf.leaf.decode()
        body = json.loads(leaf.leaf)
        assert body["commitment"] == service.commitment(ind.salt, "pdq", PDQ)
        assert body["commitment"] != service.commitment("00" * 16, "pdq", PDQ)


def test_failed_transaction_leaves_no_leaf_and_no_audit(factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with transaction(factory) as s:
        before = (s.scalar(select(func.count()).select_from(LogEntry)),
                  s.scalar(select(func.count()).select_from(AuditEvent)))
    with pytest.raises(RuntimeError), transaction(factory) as s:
        service.propose(s, w.principals["centre"],
                        [service.Proposal("pdq", PDQ, "known-material", "x")])
        raise RuntimeError("crash after the change, before the commit")
    with transaction(factory) as s:
        after = (s.scalar(select(func.count()).select_from(LogEntry)),
                 s.scalar(select(func.count()).select_from(AuditEvent)))
    assert after == before


def test_a_vpdq_query_compares_only_videos_that_share_a_frame(
        factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """vPDQ queries go through the frame index: one query against many listed videos compares
    with the one that shares frames, not with every video (a long query against a few
    videos cost half a minute of CPU before)."""
    from tests.fixtures.videos import write_video
    from tests.fixtures.world import active_indicator, build_world
    from vigil.indicators import matcher as live
    from vigil.matching.policy import Item, match_items
    from vigil.matching.signals import SignalType
    from vigil.matching.video import hash_video_file

    w = build_world(factory)
    videos = [hash_video_file(write_video(tmp_path / f"v{i}.mp4", seed=200 + i)).vpdq for i in range(6)]
    for v in videos:
        active_indicator(factory, w, "vpdq", v.to_str())
    m = live.LiveMatcher()
    m.sync(factory)
    compared = []
    real = live.vpdq_compare
    monkeypatch.setattr(live, "vpdq_compare", lambda q, t, **kw: compared.append(t) or real(q, t, **kw))
    (out,) = match_items(m, [Item.of((SignalType.VPDQ, videos[3]))])
    assert out.verdict.value == "verified_match" and len(out.hits) == 1
    assert [[f.pdq for f in v.frames] for v in compared] == [[f.pdq for f in videos[3].frames]]
