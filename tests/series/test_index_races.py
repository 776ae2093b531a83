"""The standing de-confliction index under concurrent changes and asks (a fifth review's
findings): two changes of one series, a rebuild while other requests need the database, and a
token a restored database could bring back. Random hashes only."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.world import build_world
from vigil.db import transaction
from vigil.series import repository, service
from vigil.series.models import CaseSeries, SeriesHash, SeriesVersion

RNG = random.Random(5)
H = [f"{RNG.getrandbits(256):064x}" for _ in range(4)]


def near(hex_value: str, bits: int) -> str:
    return f"{int(hex_value, 16) ^ ((1 << bits) - 1):064x}"


def register(client: TestClient, token: str, ref: str, pdq: str, discoverable: bool) -> int:
    r = client.post("/v1/series", headers=auth(token),
                    json={"reference": ref, "discoverable": discoverable, "items": [{"pdq": pdq}]})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def contacts(client: TestClient, token: str, sid: int) -> list[str]:
    r = client.post(f"/v1/series/{sid}/deconflict", headers=auth(token))
    assert r.status_code == 200, r.text
    return [c["organisation"] for c in r.json()["contacts"]]


def test_a_withdrawal_and_a_change_of_one_series_run_one_after_the_other(
        client: TestClient, factory: sessionmaker[Session], db_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A withdrawal read "not discoverable", a change to discoverable committed meanwhile, and
    the withdrawal committed without a new token: the workers' index kept the withdrawn hashes
    until some other change. The series is now locked for a change, so the second waits for the
    first and decides from what it committed (here: a withdrawn series is not found)."""
    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    de_id = register(client, de, "LKA-1", H[0], discoverable=False)
    fr_id = register(client, fr, "OFMIN-1", near(H[0], 4), discoverable=False)
    assert contacts(client, fr, fr_id) == []

    real = repository.series
    read, go = threading.Event(), threading.Event()
    first = [True]

    def slow_first(session: Session, principal: object, series_id: int, **kw: bool) -> CaseSeries:
        found = real(session, principal, series_id, **kw)  # type: ignore[arg-type]
        if first[0]:
            first[0] = False
            read.set()  # the withdrawal has read the series, and is slow to go on
            assert go.wait(20)
        return found

    monkeypatch.setattr(repository, "series", slow_first)
    status: dict[str, int] = {}
    withdrawal = threading.Thread(target=lambda: status.setdefault(
        "delete", client.delete(f"/v1/series/{de_id}", headers=auth(de)).status_code))
    change = threading.Thread(target=lambda: status.setdefault(
        "patch", client.patch(f"/v1/series/{de_id}", headers=auth(de),
                              json={"discoverable": True}).status_code))
    withdrawal.start()
    assert read.wait(20)
    change.start()
    change.join(1.0)  # on SQLite and locked on PostgreSQL: still waiting; unlocked: committed
    # An ask in between indexes whatever is committed by now (on SQLite it waits its turn).
    between = threading.Thread(target=contacts, args=(client, fr, fr_id))
    between.start()
    between.join(1.0)
    go.set()
    for t in (withdrawal, change, between):
        t.join(20)
    assert status == {"delete": 200, "patch": 404}
    assert contacts(client, fr, fr_id) == []  # an ask after both: the series is gone
    with factory() as s:
        assert s.scalars(select(SeriesHash).where(SeriesHash.series_id == de_id)).all() == []


def test_asks_waiting_for_a_rebuild_hold_no_database_connection(
        db_url: str, data_dir: Path, factory: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Asks queued behind a rebuild held their request's connection while they waited: one
    authority's change and 16 asks at once left another organisation's request waiting for the
    pool (5 + 10) until the rebuild ended. Now the index is brought up to date before an ask
    opens its transaction, and only the rebuilding ask holds a connection."""
    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    real = repository.discoverable_hashes
    rebuilding, release = threading.Event(), threading.Event()

    def held_rebuild(session: Session) -> list[tuple[int, int, int, str]]:
        rebuilding.set()
        release.wait(30)
        return real(session)

    with make_client(db_url, data_dir) as client:
        de_id = register(client, de, "LKA-1", H[1], discoverable=True)
        register(client, fr, "OFMIN-1", H[2], discoverable=False)
        contacts(client, de, de_id)  # the index is built
        monkeypatch.setattr(repository, "discoverable_hashes", held_rebuild)
        r = client.patch(f"/v1/series/{de_id}", headers=auth(de), json={"discoverable": False})
        assert r.status_code == 200
        asks = [threading.Thread(target=client.post, args=(f"/v1/series/{de_id}/deconflict",),
                                 kwargs={"headers": auth(de)}) for _ in range(16)]
        for a in asks:
            a.start()
        try:
            assert rebuilding.wait(20)
            other: dict[str, int] = {}
            france = threading.Thread(target=lambda: other.setdefault(
                "status", client.get("/v1/series", headers=auth(fr)).status_code))
            france.start()
            france.join(15)
            assert other.get("status") == 200, "another organisation waited for the rebuild"
        finally:
            release.set()
            for a in asks:
                a.join(30)


def test_no_token_a_restored_database_can_bring_back(
        factory: sessionmaker[Session]) -> None:
    """Migration 0024 made the row with token 0, and a missing row read as 0: a worker that
    indexed then took a database restored from before 0024 (and upgraded: 0 again) for
    current. 0 and a missing row are now never current, and migration 0025 replaces 0."""
    w = build_world(factory)
    de, fr = w.principals["authority_de"], w.principals["authority_fr"]
    with transaction(factory) as s:
        s.execute(update(SeriesVersion).values(token=0))  # as 0024 left it
        d = service.register(s, de, "pre-0025", True, [service.ItemIn(H[3])], max_hashes=10)
        f = service.register(s, fr, "F", False, [service.ItemIn(near(H[3], 2))], max_hashes=10)
        s.execute(update(SeriesVersion).values(token=0))
    index = service.DiscoverableIndex()
    with transaction(factory) as s:
        assert [c.organisation for c in service.deconflict(s, fr, f.id, 31, index)] == ["LKA"]
    for restored in ("token 0", "no row"):
        with transaction(factory) as s:  # a copy without LKA's series, and the token as 0024 made it
            s.execute(update(CaseSeries).where(CaseSeries.id == d.id).values(discoverable=False))
            s.execute(delete(SeriesVersion))
            if restored == "token 0":
                s.add(SeriesVersion(id=1, token=0))
        with transaction(factory) as s:
            assert service.deconflict(s, fr, f.id, 31, index) == [], restored
        with transaction(factory) as s:
            s.execute(update(CaseSeries).where(CaseSeries.id == d.id).values(discoverable=True))
        with transaction(factory) as s:
            assert [c.organisation for c in service.deconflict(s, fr, f.id, 31, index)] \
                == ["LKA"], restored
