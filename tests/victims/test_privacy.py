"""A case sees only its own outcomes, and a withdrawal is for good. (Both databases.)"""

from __future__ import annotations

import hashlib
import json

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import active_indicator, build_world
from tests.reports.test_reports import report_body
from vigil.samples import encode, pattern_image
from vigil.worker import Worker


def _case(client: TestClient, md5: str) -> dict[str, str]:
    r = client.post("/v1/public/victim-cases", json={"hashes": [{"kind": "image", "md5": md5}]})
    assert r.status_code == 201, r.text
    return {"case_number": r.json()["case_number"], "pin": r.json()["pin"]}


def test_another_persons_case_is_not_revealed_by_the_same_hash(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    picture = encode(pattern_image(71))
    md5 = hashlib.md5(picture).hexdigest()
    first = _case(client, md5)
    r = client.post("/v1/reports/multipart", headers=auth(w.tokens["provider"]),
                    data={"report": json.dumps(report_body(hashes=[]))},
                    files=[("files", ("a.jpg", picture, "image/jpeg"))])
    assert r.status_code == 201
    Worker(factory, factory).run_once()
    mine = client.post("/v1/public/victim-cases/status", json=first).json()
    assert mine["matches_found"] == 1
    # Someone else later submits the same hash: the first person's history is not theirs.
    second = _case(client, md5)
    theirs = client.post("/v1/public/victim-cases/status", json=second).json()
    assert theirs["matches_found"] == 0 and theirs["providers"] == []
    # Adding a hash someone else submitted answers as for a new one.
    more = client.post("/v1/public/victim-cases/hashes", json={
        **second, "hashes": [{"kind": "image", "md5": md5}, {"kind": "image", "md5": "ab" * 16}]})
    assert more.json() == {"added": 2}
    # And withdrawing says how many of one's own hashes left, not whether others keep them.
    out = client.post("/v1/public/victim-cases/withdraw", json=second).json()
    assert out == {"withdrawn": True, "retracted": 2}


def test_a_victim_sees_a_match_even_when_a_verified_hit_ranks_first(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    picture = encode(pattern_image(72))
    md5 = hashlib.md5(picture).hexdigest()
    case = _case(client, md5)
    active_indicator(factory, w, "sha256", hashlib.sha256(picture).hexdigest())  # verified
    r = client.post("/v1/reports/multipart", headers=auth(w.tokens["provider"]),
                    data={"report": json.dumps(report_body(hashes=[]))},
                    files=[("files", ("a.jpg", picture, "image/jpeg"))])
    assert r.status_code == 201
    Worker(factory, factory).run_once()
    got = client.post("/v1/public/victim-cases/status", json=case).json()
    assert got["matches_found"] == 1 and got["providers"][0]["forwarded"] == 1


def test_a_withdrawal_is_for_good_even_while_quarantined(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    case = _case(client, "cd" * 16)
    for who in ("provider", "authority_de"):  # false positives from two organisations
        match = client.post("/v1/match", headers=auth(w.tokens[who]),
                            json={"items": [{"signal_type": "md5", "value": "cd" * 16}]}).json()
        (hit,) = match["results"][0]["matches"]
        r = client.post("/v1/match/feedback", headers=auth(w.tokens[who]),
                        json={"match_id": hit["match_id"], "verdict": "false_positive"})
        assert r.status_code == 201, r.text
    assert client.post("/v1/public/victim-cases/withdraw", json=case).status_code == 200
    r = client.post(f"/v1/indicators/{hit['indicator_id']}/reinstate",
                    headers=auth(w.tokens["partner"]), json={"reason": "looks right"})
    assert r.status_code == 409  # withdrawn by the person: no reviewer brings it back
    again = client.post("/v1/match", headers=auth(w.tokens["provider"]),
                        json={"items": [{"signal_type": "md5", "value": "cd" * 16}]}).json()
    assert again["results"][0]["verdict"] == "no_match"
