"""Edges of the API that once gave 500s or a second error shape: unknown routes and methods,
timestamps that came back without a zone on SQLite, bodies that cannot be read, and values the
database cannot hold (most found by the fuzzer, tests/test_fuzz.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world
from vigil.app import create_app
from vigil.config import Settings


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
    for path, actor in (("/v1/lists/known-material/changes?since=9223372036854775808", "centre"),
                        ("/v1/indicators?after=9223372036854775808", "centre"),
                        # Beyond PostgreSQL's INTEGER (the audit trail's ids): was a DataError.
                        ("/v1/audit/events?after_id=2147483648", "auditor")):
        r = client.get(path, headers=auth(w.tokens[actor]))
        assert r.status_code == 422, (path, r.text)


def test_a_body_that_cannot_be_read_is_refused_by_name(client: TestClient,
                                                       factory: sessionmaker[Session]) -> None:
    """Starlette and FastAPI answered a bare 400 (code `error`), which no route documents."""
    w = build_world(factory)
    centre, provider = auth(w.tokens["centre"]), auth(w.tokens["provider"])
    r = client.post("/v1/orgs", content=b'{"name": "\xff"}',
                    headers={**centre, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid" and "cannot be read" in error["message"]
    assert "utf-8" in error["items"][0]["error"] and error["items"][0]["location"] == ["body"]

    r = client.post("/v1/reports/any/files", content=b"not multipart at all",
                    headers={**provider, "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid", r.text

    fields = "".join(f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'
                     for i in range(1001)) + "--b--\r\n"
    r = client.post("/v1/reports/any/files", content=fields.encode(),
                    headers={**provider, "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large" and "Too many fields" in r.json()["error"]["message"]


def test_values_the_database_cannot_hold_are_refused_by_name(client: TestClient,
                                                             factory: sessionmaker[Session]) -> None:
    """NUL in text was a 500 on PostgreSQL (stored on SQLite); a time before year 1 or after
    9999 in UTC was a 500 on both. Now a 422 on both that says what is wrong."""
    w = build_world(factory)
    centre, auditor = auth(w.tokens["centre"]), auth(w.tokens["auditor"])
    r = client.post("/v1/orgs", headers=centre, json={"name": "A\x00B", "kind": "provider"})
    assert r.status_code == 422, r.text
    assert "NUL character" in r.json()["error"]["message"]
    r = client.get("/v1/lists/a%00b/changes", headers=centre)
    assert r.status_code == 422 and "NUL character" in r.json()["error"]["message"], r.text
    for query in ("since=0001-01-01T00:00:00%2B01:00", "until=9999-12-31T23:59:59-01:00"):
        r = client.get(f"/v1/audit/events?{query}", headers=auditor)
        assert r.status_code == 422, (query, r.text)
        assert "out of range in UTC" in r.json()["error"]["message"]


def test_every_timestamp_has_its_zone(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    r = client.post("/v1/indicators", headers=auth(w.tokens["centre"]), json={"items": [
        {"signal_type": "md5", "value": "ab" * 16, "list": "known-material", "legal_basis": "x"}]})
    ind = r.json()[0]["id"]
    got = client.get(f"/v1/indicators/{ind}", headers=auth(w.tokens["centre"])).json()
    assert got["proposed_at"].endswith(("Z", "+00:00")), got["proposed_at"]


def test_limits_per_client_group_an_ipv6_line_by_its_network() -> None:
    """One IPv6 subscriber holds a whole /64: counted per address, a rate limit would be
    18 quintillion limits. Addresses of one /64 are one client; IPv4 (mapped or not) is kept."""
    from starlette.requests import Request

    from vigil.deps import client_address

    def of(host: str) -> str:
        return client_address(Request({"type": "http", "client": (host, 1234), "headers": []}))

    assert of("2001:db8:1:2::1") == of("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert of("2001:db8:1:3::1") != of("2001:db8:1:2::1")
    assert of("192.0.2.7") == of("::ffff:192.0.2.7") == "192.0.2.7"
    # Not an address (a proxy passing a client's header as it is): one client for all, so
    # that made-up values do not each get a fresh budget.
    assert of("zzz") == of("zzz2") == of("testclient") == "unknown"


def test_hostile_json_and_filters_are_refused_by_name(client: TestClient,
                                                      factory: sessionmaker[Session]) -> None:
    """JSON nested 100,000 deep and a 5,000-digit number were "There was an error parsing the
    body"; an unknown status filter listed nothing, as if there were no such reports."""
    w = build_world(factory)
    centre, provider = auth(w.tokens["centre"]), auth(w.tokens["provider"])
    for body, named in ((b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
                        (b'{"name": ' + b"9" * 5000 + b"}", "more than 4300 digits")):
        r = client.post("/v1/orgs", content=body,
                        headers={**centre, "Content-Type": "application/json"})
        assert r.status_code == 422 and named in r.json()["error"]["message"], r.text
    for path, key in (("/v1/reports?status=garbage", provider),
                      ("/v1/indicators?status=garbage", centre)):
        r = client.get(path, headers=key)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"]["items"][0]["location"] == ["query", "status"]


def test_a_body_in_the_wrong_form_is_told_which_form(client: TestClient,
                                                     factory: sessionmaker[Session]) -> None:
    """Valid JSON sent as text/plain was "Input should be a valid dictionary"; JSON sent to the
    multipart route was "Field required" twice. Each now says what to send."""
    w = build_world(factory)
    centre, provider = auth(w.tokens["centre"]), auth(w.tokens["provider"])
    r = client.post("/v1/orgs", content=b'{"name": "x", "kind": "provider"}',
                    headers={**centre, "Content-Type": "text/plain"})
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["error"]["message"]
    r = client.post("/v1/reports/multipart", json={"report": "{}"}, headers=provider)
    assert r.status_code == 422 and "multipart/form-data" in r.json()["error"]["message"]
    r = client.post("/v1/orgs", json={}, headers=centre)  # the right form, fields missing
    assert r.json()["error"]["message"] == "the request is invalid"
    assert {tuple(i["location"]) for i in r.json()["error"]["items"]} == {("body", "name"),
                                                                         ("body", "kind")}


def test_the_server_builds_every_route_before_its_first_request(
        db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI builds an included router's routes at their first request, in the request's
    thread, and hides a pydantic warning meanwhile with ``warnings.catch_warnings``, which swaps
    the process-wide filter list and is not thread-safe: another thread entering or leaving its
    own (vigil's image decoder did) lost the filter, and in a full run of the suite the first
    request to `/v1/orgs/accounts/{id}/disable` died on the warning. The server's app builds
    every route when it is made, so no request builds one (the test apps of the suite, which
    reach a few routes each, still build lazily: see tests/fixtures/api.py)."""
    import fastapi.routing

    from tests.orgs.test_access import _concrete, api_routes

    app = create_app(Settings(database_url=db_url, data_dir=data_dir, environment="test",
                              index_poll_interval=0.1))

    def built_at_a_request(*args: object, **kwargs: object) -> None:
        raise AssertionError("a route was built at its first request")

    monkeypatch.setattr(fastapi.routing, "_populate_api_route_state", built_at_a_request)
    with TestClient(app) as client:
        routes = api_routes(client.app)
        assert len(routes) > 100
        for route in routes:
            r = client.request(sorted(route.methods)[0], _concrete(route.path),
                               follow_redirects=False)
            assert r.status_code != 500, (route.path, r.text)
