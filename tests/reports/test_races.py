"""Decisions that race each other take turns: two reviewers deciding at once, or a decision and
the provider's retraction, leave the report in a state its lifecycle allows, routed at most
once. And an authority's delay of the user's notice cannot be stretched past 18 months from the
hand-off by asking again. (Both databases.)"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import World, build_world, victim_indicators
from tests.reports.test_reports import report_body
from vigil.db import transaction
from vigil.errors import DomainError
from vigil.reports import review
from vigil.reports import service as reports
from vigil.reports.models import Report, Routing
from vigil.samples import encode, pattern_image
from vigil.worker import Worker


def _held(client: TestClient, factory: sessionmaker[Session], w: World) -> str:
    picture = encode(pattern_image(61))
    import hashlib

    victim_indicators(factory, md5=hashlib.md5(picture).hexdigest())
    r = client.post("/v1/reports/multipart", headers=auth(w.tokens["provider"]),
                    data={"report": json.dumps(report_body(hashes=[]))},
                    files=[("files", ("a.jpg", picture, "image/jpeg"))])
    assert r.status_code == 201, r.text
    Worker(factory, factory).run_once()
    return str(r.json()["id"])


def _race(factory: sessionmaker[Session], calls: list[Any]) -> list[BaseException | None]:
    barrier = threading.Barrier(len(calls))
    results: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            with transaction(factory) as s:
                calls[i](s)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_decisions_take_turns(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    rid = _held(client, factory, w)
    centre = w.principals["centre"]
    calls = [(lambda s, d=d: review.decide(s, centre, rid, d, "seen"))
             for d in ("material", "not_material") * 3]
    results = _race(factory, calls)
    wins = [r for r in results if r is None]
    assert len(wins) == 1, results
    assert all(isinstance(r, DomainError) and r.status == 409 for r in results if r is not None)
    with factory() as s:
        report = s.scalar(select(Report).where(Report.public_id == rid))
        routed = s.scalar(select(func.count()).select_from(Routing).where(Routing.report_id == report.id))
    assert report is not None
    if report.review_decision == "material":
        assert report.status == "forwarded" and routed == 2
    else:
        assert report.status == "manifestly_unfounded" and routed == 0 and report.forwarded_at is None


def test_a_decision_racing_the_retraction(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    rid = _held(client, factory, w)
    results = _race(factory, [
        lambda s: reports.retract(s, w.principals["provider"], rid, "sent by mistake"),
        lambda s: review.decide(s, w.principals["centre"], rid, "material", "seen")])
    with factory() as s:
        report = s.scalar(select(Report).where(Report.public_id == rid))
    assert report is not None and report.status == "retracted" and results[0] is None
    if report.forwarded_at is None:  # the retraction went first: the decision was refused
        assert isinstance(results[1], DomainError) and "retracted" in results[1].message
    else:  # the decision went first and forwarded it; the provider's retraction still counts
        assert results[1] is None


def test_a_delay_cannot_be_stretched_by_asking_again(client: TestClient,
                                                     factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    rep = client.post("/v1/reports", headers=auth(w.tokens["provider"]), json=report_body()).json()
    Worker(factory, factory).run_once()
    key = auth(w.tokens["authority_de"])
    with transaction(factory) as s:  # handed off 500 days ago
        routing = s.scalar(select(Routing).where(Routing.recipient == "DE"))
        assert routing is not None
        routing.handed_off_at = datetime.now(UTC) - timedelta(days=500)
    r = client.post(f"/v1/authority/reports/{rep['id']}/feedback", headers=key,
                    json={"outcome": "still investigating", "delay_user_notice_days": 548})
    assert r.status_code == 200, r.text
    until = datetime.fromisoformat(r.json()["delay_user_notice_until"].replace("Z", "+00:00"))
    assert (until - datetime.now(UTC)).days <= 48  # 548 days from the hand-off, not from today
