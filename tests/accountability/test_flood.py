"""The flood guard (both databases): an indicator matching far above its own baseline is
quarantined and reviewers are alerted; a busy indicator with a busy baseline is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world
from vigil.accountability.flood import check, hour_of
from vigil.accountability.models import IndicatorHits
from vigil.db import transaction
from vigil.indicators import service as indicators

SUDDEN, STEADY = "b1" * 16, "b2" * 16


def test_sudden_floods_are_quarantined_steady_traffic_is_not(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with transaction(factory) as s:
        made = indicators.propose(s, w.principals["centre"], [
            indicators.Proposal("md5", v, "known-material", "test") for v in (SUDDEN, STEADY)])
        for ind in made:
            indicators.verify(s, w.principals["partner"], ind.id)
        sudden, steady = (i.id for i in made)
        # The steady one has matched 10 times an hour all week.
        now = hour_of(datetime.now(UTC))
        s.execute(insert(IndicatorHits), [
            {"indicator_id": steady, "hour": now - timedelta(hours=h), "count": 10}
            for h in range(1, 169)])
    state = client.app.state.vigil  # type: ignore[attr-defined]
    state.matcher.sync(state.read_session)
    for _ in range(12):
        r = client.post("/v1/match", headers=auth(w.tokens["provider"]), json={"items": [
            {"signal_type": "md5", "value": SUDDEN}, {"signal_type": "md5", "value": STEADY}]})
        assert all(x["matches"] for x in r.json()["results"])
    state.hit_counter.flush(state.session)
    with transaction(factory) as s:
        flooded = check(s, factor=20, min_hits=10)
    assert flooded == [sudden]  # 12 against a baseline of 0; the steady one is at 12 vs 10
    state.matcher.sync(state.read_session)
    r = client.post("/v1/match", headers=auth(w.tokens["provider"]), json={"items": [
        {"signal_type": "md5", "value": SUDDEN}, {"signal_type": "md5", "value": STEADY}]})
    assert [bool(x["matches"]) for x in r.json()["results"]] == [False, True]
    (alert,) = client.get("/v1/alerts", headers=auth(w.tokens["centre"])).json()
    assert alert["kind"] == "flood" and alert["indicator_id"] == sudden
    assert "12 matches this hour" in alert["message"]


def test_unusual_use_raises_an_alert(client: TestClient, factory: sessionmaker[Session]) -> None:
    from vigil.accountability.usage import check as usage_check

    w = build_world(factory)
    for _ in range(6):
        client.get("/v1/authority/reports", headers=auth(w.tokens["authority_de"]))
    with transaction(factory) as s:
        alerts = usage_check(s, factor=10, min_events=5)
    assert [a.kind for a in alerts] == ["unusual_use"]
    assert "LKA made 6 report:read" in alerts[0].message
    with transaction(factory) as s:  # one alert per organisation, action and hour
        assert usage_check(s, factor=10, min_events=5) == []
    (shown,) = client.get("/v1/alerts", headers=auth(w.tokens["centre"])).json()
    assert shown["kind"] == "unusual_use" and shown["indicator_id"] is None
