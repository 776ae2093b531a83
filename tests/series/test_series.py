"""Series linking across cases: an authority learns which other authority holds near-duplicates
of its series — whom to contact, hit / no hit — and nothing else; each authority decides
whether its series can be found; every query is audited, a refused one too; only law
enforcement links series."""

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
                                   "member_state": "DE"}]
    text = json.dumps(answer)
    assert "LKA-2026-0815" not in text and not any(h in text for h in SCENE)
    assert ask(client, de, de_id)["contacts"] == []  # France's series is not discoverable
    r = client.patch(f"/v1/series/{fr_id}", headers=auth(fr), json={"discoverable": True})
    assert r.status_code == 200 and r.json()["discoverable"] is True
    (contact,) = ask(client, de, de_id)["contacts"]  # type: ignore[misc]
    assert contact == {"organisation": "OFMIN", "kind": "authority", "member_state": "FR"}
    europol = ask(client, w.tokens["europol"],
                  register(client, w.tokens["europol"], "EU-1", [{"pdq": SCENE[2]}]))
    assert [c["organisation"] for c in europol["contacts"]] == ["LKA"]  # type: ignore[union-attr]
    with factory() as s:
        queried = s.scalars(select(AuditEvent).where(AuditEvent.action == "series:queried")
                            .order_by(AuditEvent.id)).all()
        assert [e.subject for e in queried] == [f"series:{fr_id}", f"series:{de_id}",
                                               f"series:{de_id}", queried[-1].subject]
        details = json.loads(queried[0].details)  # the counts behind it, for the Centre
        assert details["answers"][0]["your_items"] == 2 and details["threshold"] == 31
        assert details["answers"][0]["their_series"] == 1


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
    with factory() as s:  # the refused asks were not answered: audited as refused, alike
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "series:queried")) == 3
        refused = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "series:query_refused").order_by(AuditEvent.id)).all()
        # Of the 429s, the first of the day only: each one a row would fill the trail.
        assert [(e.subject, json.loads(e.details)["reason"]) for e in refused] == [
            (f"series:{fr_id}", "not_found"), (f"series:{de_id}", "quota")]


def test_the_answer_is_hit_or_no_hit_however_the_items_are_weighted(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """A count of matching items would let an asker repeat its probes 1, 2, 4 … times and read
    many yes/no answers out of one number (a reviewer recovered another authority's exact hash
    in 28 asks that way). The answer is the same for one matching item and for thousands."""
    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    register(client, de, "LKA-1", [{"pdq": SCENE[0]}, {"pdq": SCENE[1]}], discoverable=True)
    one = register(client, fr, "probe-1", [{"pdq": near(SCENE[0], 30)}, {"pdq": SCENE[2]}])
    many = register(client, fr, "probe-2",
                    [{"pdq": near(SCENE[0], 30)}] * 1 + [{"pdq": near(SCENE[1], 25)}] * 2
                    + [{"pdq": near(SCENE[0], 12)}] * 4096)
    answers = [ask(client, fr, sid) for sid in (one, many)]
    assert [a["contacts"] for a in answers] == [
        [{"organisation": "LKA", "kind": "authority", "member_state": "DE"}]] * 2
    assert not {"your_items", "their_items", "their_series"} & set(json.dumps(answers).split('"'))


def test_a_series_key_the_centre_issues_waits_for_a_second_party(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """The Centre is kept out of other authorities' series: a series:link key it issues (to an
    authority it may have created itself) works only once a second party vouched for it."""
    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    r = client.post("/v1/orgs", headers=centre,
                    json={"name": "Front", "kind": "authority", "member_state": "AT"})
    assert r.status_code == 201, r.text
    org_id = r.json()["id"]
    r = client.post(f"/v1/orgs/{org_id}/keys", headers=centre,
                    json={"holder": "front", "scopes": ["series:link", "match"]})
    assert r.status_code == 201, r.text
    assert r.json()["approved"] is False
    key_id, front = r.json()["id"], r.json()["token"]
    body = {"reference": "x", "items": [{"pdq": SCENE[0]}]}
    r = client.post("/v1/series", headers=auth(front), json=body)
    assert r.status_code == 403 and "series:link" in r.text
    # The Centre cannot vouch for its own key; a second party can.
    assert client.post(f"/v1/keys/{key_id}/approve", headers=centre).status_code == 403
    r = client.post(f"/v1/keys/{key_id}/approve", headers=auth(w.tokens["auditor"]))
    assert r.status_code == 200, r.text
    client.app.state.vigil.principals._entries.clear()  # type: ignore[attr-defined]
    r = client.post("/v1/series", headers=auth(front), json=body)
    assert r.status_code == 201, r.text


def test_the_centre_is_refused_before_any_quota_is_taken(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    from tests.fixtures.api import make_client

    w = build_world(factory)
    with make_client(db_url, data_dir, series_queries_per_day=1) as client:
        for _ in range(3):  # every time a 403, never a 404 or a 429
            r = client.post("/v1/series/1/deconflict", headers=auth(w.tokens["centre"]))
            assert r.status_code == 403 and "law-enforcement" in r.text, r.text
    with factory() as s:
        assert not s.scalars(select(AuditEvent).where(
            AuditEvent.action.like("series:%"))).all()


def test_an_organisation_holds_a_bounded_number_of_hashes(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    """Every ask reads every other organisation's discoverable hashes: one organisation must
    not be able to make everyone's asks slow. Withdrawing a series makes room."""
    from tests.fixtures.api import make_client

    w = build_world(factory)
    de = w.tokens["authority_de"]
    with make_client(db_url, data_dir, series_hashes_per_organisation=5) as client:
        first = register(client, de, "A", [{"pdq": h} for h in SCENE[:3]])
        body = {"reference": "B", "items": [{"pdq": h} for h in SCENE[:3]]}
        r = client.post("/v1/series", headers=auth(de), json=body)
        assert r.status_code == 409, r.text
        assert "hold 3 hashes; this one adds 3, over the 5" in r.json()["error"]["message"]
        assert register(client, w.tokens["authority_fr"], "F", body["items"])  # France's own
        assert client.delete(f"/v1/series/{first}", headers=auth(de)).status_code == 200
        assert register(client, de, "B", body["items"])


def test_each_worker_indexes_the_discoverable_hashes_once_per_change(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """An ask searches the worker's standing index (it read and indexed every other
    organisation's hashes each time, and its time told how many there were); the index is
    rebuilt when, and only when, what it holds has changed."""
    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    state = client.app.state.vigil  # type: ignore[attr-defined]
    de_id = register(client, de, "LKA-1", [{"pdq": SCENE[0]}], discoverable=True)
    fr_id = register(client, fr, "OFMIN-1", [{"pdq": near(SCENE[0], 6)}])
    assert [c["organisation"] for c in ask(client, fr, fr_id)["contacts"]] == ["LKA"]
    built = state.series_index._snap
    assert ask(client, fr, fr_id)["contacts"] and state.series_index._snap is built
    register(client, fr, "OFMIN-2", [{"pdq": SCENE[1]}])  # not discoverable: nothing to index
    ask(client, fr, fr_id)
    assert state.series_index._snap is built
    r = client.patch(f"/v1/series/{de_id}", headers=auth(de), json={"discoverable": False})
    assert r.status_code == 200
    assert ask(client, fr, fr_id)["contacts"] == []
    assert state.series_index._snap is not built
    register(client, w.tokens["europol"], "EU-1", [{"pdq": near(SCENE[0], 9)}],
             discoverable=True)
    assert [c["organisation"] for c in ask(client, fr, fr_id)["contacts"]] == ["Europol"]


def test_an_index_is_never_taken_for_current_after_the_database_went_back(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """The version is a random token, not a count: a database restored to an earlier state
    (or its version row recreated) cannot bring back a value a worker saw with other series."""
    from sqlalchemy import delete, update

    from vigil.series.models import CaseSeries, SeriesVersion

    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    fr_id = register(client, fr, "F", [{"pdq": SCENE[0]}])
    de_id = register(client, de, "D1", [{"pdq": near(SCENE[0], 5)}], discoverable=True)
    assert [c["organisation"] for c in ask(client, fr, fr_id)["contacts"]] == ["LKA"]
    with transaction(factory) as s:  # as a restore from before D1 would leave it
        s.execute(delete(SeriesHash).where(SeriesHash.series_id == de_id))
        s.execute(update(CaseSeries).where(CaseSeries.id == de_id).values(discoverable=False))
        s.execute(delete(SeriesVersion))
    register(client, w.tokens["europol"], "EU", [{"pdq": SCENE[3]}], discoverable=True)
    assert ask(client, fr, fr_id)["contacts"] == []


def test_series_changes_are_a_daily_quota_per_organisation(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    """Each change of what is discoverable makes every worker rebuild its index and writes an
    audit record: registering, (un)hiding and withdrawing count together, per organisation."""
    from tests.fixtures.api import make_client

    w = build_world(factory)
    de, fr = w.tokens["authority_de"], w.tokens["authority_fr"]
    with make_client(db_url, data_dir, series_changes_per_day=3) as client:
        de_id = register(client, de, "A", [{"pdq": SCENE[0]}])
        assert client.patch(f"/v1/series/{de_id}", headers=auth(de),
                            json={"discoverable": True}).status_code == 200
        assert client.delete(f"/v1/series/{de_id}", headers=auth(de)).status_code == 200
        r = client.post("/v1/series", headers=auth(de),
                        json={"reference": "B", "items": [{"pdq": SCENE[1]}]})
        assert r.status_code == 429, r.text
        assert "daily quota of 3 series changes for this organisation" in r.text
        assert register(client, fr, "F", [{"pdq": SCENE[1]}])  # France's own quota
        r = client.patch("/v1/series/1", headers=auth(w.tokens["centre"]),
                         json={"discoverable": True})
        assert r.status_code == 403  # the Centre: refused before any quota
