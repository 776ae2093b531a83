"""What one organisation owns, another of the same kind cannot read or act on: every object a
caller can create is tried with a second organisation of the caller's kind (and of the kinds
that read others' objects), through every route that names it. (Both databases.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world
from tests.reports.test_reports import report_body
from vigil.db import transaction
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind
from vigil.worker import Worker


@dataclass
class Owned:
    """An object made by ``owner``; ``routes`` name it; ``others`` must be refused."""

    what: str
    owner: str
    others: list[str]
    routes: list[tuple[str, str, dict[str, Any] | None]]


def _key(factory: sessionmaker[Session], name: str, kind: OrgKind, state: str | None = None) -> str:
    with transaction(factory) as s:
        org = orgs.create_organisation(s, None, name, kind, state)
        return orgs.issue_key(s, None, org.id, "k", set(KIND_SCOPES[kind])).token


def test_a_second_organisation_of_each_kind_is_refused(client: TestClient,
                                                       factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    keys = dict(w.tokens)
    keys["provider2"] = _key(factory, "Provider Two", OrgKind.PROVIDER)
    keys["hotline"] = _key(factory, "Hotline One", OrgKind.HOTLINE)
    keys["hotline2"] = _key(factory, "Hotline Two", OrgKind.HOTLINE)

    def post(who: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = client.post(path, headers=auth(keys[who]), json=body)
        assert r.status_code in (200, 201, 202), r.text
        return r.json()  # type: ignore[no-any-return]

    report = post("provider", "/v1/reports", report_body())  # routed to DE and Europol
    Worker(factory, factory).run_once()
    question = post("authority_de", f"/v1/authority/reports/{report['id']}/questions",
                    {"question": "which account?"})
    url = post("hotline", "/v1/url-reports", {"url": "https://example.org/page"})
    proposal = post("hotline", "/v1/hosting-contacts/proposals",
                    {"match": "example.org", "provider": "X", "email": "abuse@example.org"})
    crawl = post("hotline", "/v1/crawls", {"seeds": ["https://example.org/"],
                                           "allowed_domains": ["example.org"]})
    rid = report["id"]
    objects = [
        Owned("report", "provider", ["provider2", "hotline", "authority_fr"], [
            ("GET", f"/v1/reports/{rid}", None), ("GET", f"/v1/reports/{rid}/questions", None),
            ("POST", f"/v1/reports/{rid}/questions/{question['id']}/answer", {"answer": "x"}),
            ("POST", f"/v1/reports/{rid}/retract", {"reason": "x"}),
            ("GET", f"/v1/authority/reports/{rid}", None),
            ("GET", f"/v1/authority/reports/{rid}/questions", None)]),
        Owned("URL report", "hotline", ["hotline2"], [
            ("POST", f"/v1/url-reports/{url['id']}/classification",
             {"classification": "not_illegal"})]),
        Owned("hosting proposal", "hotline", ["hotline2"], [
            ("POST", f"/v1/hosting-contacts/proposals/{proposal['id']}/decision", {"approve": True})]),
        Owned("crawl", "hotline", ["hotline2"], [("GET", f"/v1/crawls/{crawl['id']}", None)]),
    ]
    refused: Callable[[int], bool] = lambda status: status in (403, 404)  # noqa: E731
    for obj in objects:
        for other in obj.others:
            for method, path, body in obj.routes:
                r = client.request(method, path, headers=auth(keys[other]), json=body)
                assert refused(r.status_code), (obj.what, other, method, path, r.status_code, r.text)
    # And the owners themselves are not refused (the test would pass vacuously otherwise).
    assert client.get(f"/v1/reports/{rid}", headers=auth(keys["provider"])).status_code == 200
    assert client.get(f"/v1/crawls/{crawl['id']}", headers=auth(keys["hotline"])).status_code == 200
    listed = client.get("/v1/url-reports", headers=auth(keys["hotline2"])).json()
    assert url["id"] not in json.dumps(listed)
