"""Series linking across cases: an authority learns which other authority holds near-duplicates
of its series — whom to contact and how many items — and nothing else; each authority decides
whether its series can be found; every query is audited; only law enforcement links series."""

from __future__ import annotations

import json
import random
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world
from vigil.audit.models import AuditEvent
from vigil.db import transaction
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind
from vigil.series.models import SeriesHash

RNG = random.Random(17)
SCENE = [f"{RNG.getrandbits(256):064x}" for _ in range(4)]


def near(hex_value: str, bits: int) -> str:
    return f"{int(hex_value, 16) ^ ((1 << bits) - 1):064x}"


def register(client: TestClient, token: str, reference: str, items: list[dict[str, str]],
             discoverable: bool = False) -> int:
    r = client.post("/v1/series", headers=auth(token),
                    json={"reference": reference, "discoverable": discoverable, "items": items})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def ask(client: TestClient, token: str, series_id: int) -> dict[str, object]:
    r = client.post(f"/v1/series/{series_id}/deconflict", headers=auth(token))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_an_authority_learns_whom_to_contact_and_nothing_else(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    # Germany's case: two pictures of one scene, one unrelated; discoverable.
    de_id = register(client, de, "LKA-2026-0815", [{"pdq": near(SCENE[0], 5)},
                                                   {"pdq": near(SCENE[0], 20)},
                                                   {"pdq": SCENE[2]}], discoverable=True)
    # France's case holds the scene too (and a video with one of its frames), not discoverable.
    video = json.dumps([f"{SCENE[3]},90,0.000", f"{near(SCENE[0], 3)},90,1.000"])
    fr_id = register(client, fr, "OFMIN/77", [{"pdq": SCENE[0]}, {"vpdq": video},
                                              {"pdq": SCENE[1]}])
    answer = ask(client, fr, fr_id)
    assert answer["threshold"] == 31
    assert answer["contacts"] == [{"organisation": "LKA", "kind": "authority",
                                   "member_state": "DE", "your_items": 2, "their_items": 2,
                                   "their_series": 1}]
    text = json.dumps(answer)
    assert "LKA-2026-0815" not in text and not any(h in text for h in SCENE)
    assert ask(client, de, de_id)["contacts"] == []  # France's series is not discoverable
    r = client.patch(f"/v1/series/{fr_id}", headers=auth(fr), json={"discoverable": True})
    assert r.status_code == 200 and r.json()["discoverable"] is True
    (contact,) = ask(client, de, de_id)["contacts"]  # type: ignore[misc]
    assert contact["organisation"] == "OFMIN" and contact["your_items"] == 2
    europol = ask(client, w.tokens["europol"],
                  register(client, w.tokens["europol"], "EU-1", [{"pdq": SCENE[2]}]))
    assert [c["organisation"] for c in europol["contacts"]] == ["LKA"]  # type: ignore[union-attr]
    with factory() as s:
        queried = s.scalars(select(AuditEvent).where(AuditEvent.action == "series:queried")
                            .order_by(AuditEvent.id)).all()
        assert [e.subject for e in queried] == [f"series:{fr_id}", f"series:{de_id}",
                                               f"series:{de_id}", queried[-1].subject]
        details = json.loads(queried[0].details)
        assert details["answers"][0]["your_items"] == 2 and details["threshold"] == 31


def test_each_authority_reads_only_its_own_series(client: TestClient,
                                                  factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    de_id = register(client, de, "mine", [{"pdq": SCENE[0]}], discoverable=True)
    assert [s["reference"] for s in client.get("/v1/series", headers=auth(de)).json()] == ["mine"]
    assert client.get("/v1/series", headers=auth(fr)).json() == []
    for method, path in (("PATCH", f"/v1/series/{de_id}"), ("DELETE", f"/v1/series/{de_id}"),
                         ("POST", f"/v1/series/{de_id}/deconflict")):
        r = client.request(method, path, headers=auth(fr), json={"discoverable": False}
                           if method == "PATCH" else None)
        assert r.status_code == 404, (method, r.text)


def test_a_withdrawn_series_is_gone(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    de_id = register(client, de, "mine", [{"pdq": SCENE[0]}], discoverable=True)
    fr_id = register(client, fr, "theirs", [{"pdq": SCENE[0]}])
    assert ask(client, fr, fr_id)["contacts"]
    assert client.delete(f"/v1/series/{de_id}", headers=auth(de)).status_code == 200
    assert ask(client, fr, fr_id)["contacts"] == []
    with factory() as s:
        assert not s.scalars(select(SeriesHash).where(SeriesHash.series_id == de_id)).all()
    assert client.get("/v1/series", headers=auth(de)).json() == []


def test_only_law_enforcement_links_series(client: TestClient,
                                           factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    body = {"reference": "x", "items": [{"pdq": SCENE[0]}]}
    r = client.post("/v1/series", headers=auth(w.tokens["provider"]), json=body)
    assert r.status_code == 403 and "series:link" in r.text
    r = client.post("/v1/series", headers=auth(w.tokens["centre"]), json=body)
    assert r.status_code == 403 and "law-enforcement" in r.text
    assert client.post("/v1/series", json=body).status_code == 401
    assert client.get("/v1/series", headers=auth(w.tokens["centre"])).json() == []


def test_bad_series_are_refused_naming_the_item(client: TestClient,
                                                factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    de = auth(w.tokens["authority_de"])
    cases = [
        ([{"pdq": "zz" * 32}], "item 0: pdq"),
        ([{"pdq": SCENE[0]}, {}], "item 1: give either pdq or vpdq"),
        ([{"pdq": SCENE[0], "vpdq": "[]"}], "item 0: give either pdq or vpdq"),
        ([{"vpdq": json.dumps([f"{SCENE[0]},10,0.000"])}], "item 0: no frame of PDQ quality"),
        ([{"vpdq": "not json"}], "item 0: vpdq"),
    ]
    for items, message in cases:
        r = client.post("/v1/series", headers=de, json={"reference": "x", "items": items})
        assert r.status_code == 422 and message in r.text, (items, r.text)
    r = client.post("/v1/series", headers=de, json={"reference": "x", "items": []})
    assert r.status_code == 422
    r = client.post("/v1/series", headers=de,
                    json={"reference": "x", "items": [{"pdq": SCENE[0]}], "owner": 3})
    assert r.status_code == 422
    assert client.get("/v1/series", headers=de).json() == []  # nothing stored by a refusal


def test_deconfliction_queries_are_a_daily_quota_per_organisation(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    """Each answer says who holds near-duplicates: asked without end with edited hashes, it
    would narrow down another authority's items. An organisation's keys share one quota; a
    query of another's series (404) counts too; other organisations are not affected."""
    from tests.fixtures.api import make_client

    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    with transaction(factory) as s:
        second = orgs.issue_key(s, None, w.principals["authority_de"].organisation_id,
                                "second", set(KIND_SCOPES[OrgKind.AUTHORITY])).token
    with make_client(db_url, data_dir, series_queries_per_day=3) as client:
        de_id = register(client, de, "LKA-1", [{"pdq": SCENE[0]}], discoverable=True)
        fr_id = register(client, fr, "OFMIN-1", [{"pdq": near(SCENE[0], 4)}])
        ask(client, de, de_id)
        ask(client, second, de_id)
        assert client.post(f"/v1/series/{fr_id}/deconflict",
                           headers=auth(de)).status_code == 404  # France's: counts all the same
        for token in (de, second):
            r = client.post(f"/v1/series/{de_id}/deconflict", headers=auth(token))
            assert r.status_code == 429 and int(r.headers["Retry-After"]) <= 86400
            assert r.json()["error"]["message"].startswith(
                "daily quota of 3 de-confliction queries for this organisation reached")
        assert ask(client, fr, fr_id)["contacts"]  # France still asks, and finds Germany
    with factory() as s:  # the refused asks were not answered, so not audited as answers
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "series:queried")) == 3
