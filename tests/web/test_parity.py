"""Every authority and reviewer action through the API and through the workspace, by the same
organisations, gives the same outcome: the routing is checked once, in the service, for both.

Two identical reports (new material, routed to the German authority — by its IP address — and
to Europol) are acted on: one through the API with the organisation's key, the other through
the pages with a person of the same organisation. The Centre signs in as an administrator
(every scope its kind allows, as its key has): it reads reports as a reviewer, but it was routed
none, so it opens, downloads and answers nothing through the authority's door."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.workspace import PASSWORD, build_workspace, sign_in
from vigil.db import transaction
from vigil.orgs import accounts
from vigil.reports.models import Question, Report, ReportFile, Routing

#: actor → (world key, workspace account)
ACTORS = {"DE authority": ("authority_de", "dieter"), "FR authority": ("authority_fr", "francoise"),
          "Europol": ("europol", "eva"), "Centre": ("centre", "centre-admin")}


def _files(factory: sessionmaker[Session], pid: str) -> list[int]:
    with factory() as s:
        rid = s.scalar(select(Report.id).where(Report.public_id == pid))
        return list(s.scalars(select(ReportFile.id).where(ReportFile.report_id == rid)
                              .order_by(ReportFile.id)))


def _effects(factory: sessionmaker[Session], pid: str) -> dict[str, Any]:
    """What acting on a report left behind, in terms that do not depend on the report."""
    with factory() as s:
        report = s.scalar(select(Report).where(Report.public_id == pid))
        assert report is not None
        routings = {r.recipient: r for r in s.scalars(select(Routing).where(Routing.report_id == report.id))}
        questions = [q.question for q in s.scalars(select(Question).where(Question.report_id == report.id))]
        return {"acknowledged": sorted(k for k, r in routings.items() if r.acknowledged_at),
                "feedback": sorted((k, r.feedback, r.delay_user_notice_until is not None)
                                   for k, r in routings.items() if r.feedback),
                "questions": sorted(questions), "decision": report.review_decision}


# Each action: (name, API call, page call); both return the HTTP status of the outcome.
Call = Callable[[TestClient, str, str, list[int]], int]


def _api(method: str, path: str, body: dict[str, Any] | None = None) -> Call:
    def call(client: TestClient, token: str, pid: str, files: list[int]) -> int:
        return client.request(method, path.format(pid=pid, fid=files[0]), headers=auth(token),
                              json=body).status_code
    return call


def _page(method: str, path: str, form: dict[str, str] | None = None) -> Call:
    def call(client: TestClient, csrf: str, pid: str, files: list[int]) -> int:
        url = path.format(pid=pid, fid=files[0])
        if method == "GET":
            return client.get(url).status_code
        r = client.post(url, data={"csrf": csrf, **(form or {})}, follow_redirects=False)
        return r.status_code
    return call


ACTIONS: list[tuple[str, Call, Call]] = [
    ("open report", _api("GET", "/v1/authority/reports/{pid}"), _page("GET", "/app/inbox/{pid}")),
    ("download file", _api("GET", "/v1/authority/reports/{pid}/files/{fid}"),
     _page("GET", "/app/inbox/{pid}/files/{fid}")),
    ("acknowledge", _api("POST", "/v1/authority/reports/{pid}/acknowledge"),
     _page("POST", "/app/inbox/{pid}/acknowledge")),
    ("ask the provider", _api("POST", "/v1/authority/reports/{pid}/questions",
                              {"question": "Which account uploaded it?"}),
     _page("POST", "/app/inbox/{pid}/question", {"question": "Which account uploaded it?"})),
    ("feedback with a delay", _api("POST", "/v1/authority/reports/{pid}/feedback",
                                   {"outcome": "investigation opened", "delay_user_notice_days": 90}),
     _page("POST", "/app/inbox/{pid}/feedback", {"outcome": "investigation opened",
                                                 "delay_days": "90"})),
    ("open for review", _api("GET", "/v1/review/{pid}"), _page("GET", "/app/review/{pid}")),
    ("review decision", _api("POST", "/v1/review/{pid}/decision",
                             {"decision": "needs_information", "reason": "which account?"}),
     _page("POST", "/app/review/{pid}/decision", {"decision": "needs_information",
                                                  "reason": "which account?"})),
]


def _allowed(status: int) -> bool:
    # A page that succeeds answers 200, or 303 back to the report; a refusal is 403 or 404.
    assert status in (200, 201, 303, 403, 404), status
    return status in (200, 201, 303)


@pytest.mark.parametrize("actor", list(ACTORS))
def test_api_and_workspace_agree(actor: str, client: TestClient, factory: sessionmaker[Session],
                                 data_dir: Path) -> None:
    ws = build_workspace(factory, data_dir, reports=2)
    with transaction(factory) as s:
        accounts.create_account(s, None, ws.world.principals["centre"].organisation_id,
                                "centre-admin", "admin", password=PASSWORD)
    via_api, via_page = ws.reports
    key, username = ACTORS[actor]
    token = ws.world.tokens[key]
    csrf = sign_in(client, username)
    api_files, page_files = _files(factory, via_api), _files(factory, via_page)
    outcomes = {}
    for name, api, page in ACTIONS:
        a = _allowed(api(client, token, via_api, api_files))
        p = _allowed(page(client, csrf, via_page, page_files))
        outcomes[name] = a
        assert a == p, f"{actor}, {name}: API {'allows' if a else 'refuses'}, the page " \
                       f"{'allows' if p else 'refuses'}"
    routed = actor in ("DE authority", "Europol")
    expected = {name: routed for name, _, _ in ACTIONS}
    expected["open for review"] = expected["review decision"] = actor == "Centre"
    assert outcomes == expected
    assert _effects(factory, via_api) == _effects(factory, via_page)
    # The same bytes through both doors (for those the report was routed to).
    if routed:
        api_got = client.get(f"/v1/authority/reports/{via_api}/files/{api_files[0]}",
                             headers=auth(token))
        page_got = client.get(f"/app/inbox/{via_page}/files/{page_files[0]}")
        api_bytes, page_bytes = api_got.content, page_got.content
        assert api_bytes.startswith(b"\xff\xd8") and page_bytes.startswith(b"\xff\xd8")  # JPEGs
        # Both doors name the download the same way: saved as a picture, not as "9".
        for got in (api_got, page_got):
            assert re.fullmatch(r'attachment; filename="[\w\- ]+\.jpg"', got.headers["content-disposition"])
