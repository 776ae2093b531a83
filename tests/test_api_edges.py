"""Edges of the API that once gave 500s or a second error shape: unknown routes and methods,
timestamps that came back without a zone on SQLite."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world


def test_unknown_routes_and_methods_answer_in_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.delete("/v1/match")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = client.get("/app/no-such-page", follow_redirects=False)
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]


def test_huge_integers_are_refused_not_crashed_on(client: TestClient,
                                                  factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    for path in ("/v1/lists/known-material/changes?since=9223372036854775808",
                 "/v1/indicators?after=9223372036854775808"):
        key = w.tokens["centre"]
        r = client.get(path, headers=auth(key))
        assert r.status_code == 422, (path, r.text)


def test_every_timestamp_has_its_zone(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    r = client.post("/v1/indicators", headers=auth(w.tokens["centre"]), json={"items": [
        {"signal_type": "md5", "value": "ab" * 16, "list": "known-material", "legal_basis": "x"}]})
    ind = r.json()[0]["id"]
    got = client.get(f"/v1/indicators/{ind}", headers=auth(w.tokens["centre"])).json()
    assert got["proposed_at"].endswith(("Z", "+00:00")), got["proposed_at"]
