"""Victim cases over HTTP (both databases): a case number and a PIN shown once, hashes that
providers match at once, a status that tells only this case, withdrawal through the change
feed, and limits on guessing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.world import build_world
from vigil.matching.hashing import hash_image_bytes
from vigil.samples import encode, pattern_image
from vigil.worker import Worker


def _item(seed: int) -> dict[str, Any]:
    h = hash_image_bytes(encode(pattern_image(seed)))
    return {"kind": "image", "md5": h.md5, "sha256": h.sha256, "pdq": h.pdq, "quality": h.quality}


def _match(client: TestClient, token: str, item: dict[str, Any]) -> list[Any]:
    r = client.post("/v1/match", headers=auth(token),
                    json={"items": [{"signal_type": "md5", "value": item["md5"]}]})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]["matches"]  # type: ignore[no-any-return]


def test_case_lifecycle(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    item = _item(1)
    r = client.post("/v1/public/victim-cases", json={"hashes": [item], "country": "DE",
                                                     "age_group": "child"})
    assert r.status_code == 201, r.text
    number, pin = r.json()["case_number"], r.json()["pin"]
    assert re.fullmatch(r"([2-9A-HJKMNP-Z]{4}-){3}[2-9A-HJKMNP-Z]{4}", number)
    assert re.fullmatch(r"\d{8}", pin)
    # Distributed at once, on the victim list, whose trust says: review before acting.
    (m,) = _match(client, w.tokens["provider"], item)
    assert (m["list"], m["trust"]) == ("victim-submitted", "unverified")
    feed = client.get("/v1/lists/victim-submitted/changes", headers=auth(w.tokens["provider"])).json()
    assert [c["action"] for c in feed["changes"]] == ["add", "add", "add"]  # md5, sha256, pdq
    # A provider reports matching material (the file itself): the victim sees it, and
    # whether it was forwarded.
    report = {"incident_at": "2026-11-01T10:00:00Z", "concerns": "known_material",
              "legal_basis": "Regulation (EU) 2024/1307", "content_removed": True,
              "users": [{"ips": [{"ip": "193.99.144.80", "at": "2026-11-01T09:00:00Z"}]}]}
    r = client.post("/v1/reports/multipart", headers=auth(w.tokens["provider"]),
                    data={"report": json.dumps(report)},
                    files=[("files", ("upload.jpg", encode(pattern_image(1)), "image/jpeg"))])
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    Worker(factory, factory).run_once()
    # Its only hit is a victim's own hash: held for a Centre reviewer, not forwarded unseen.
    status = client.post("/v1/public/victim-cases/status", json={"case_number": number, "pin": pin}).json()
    assert status["hashes"] == 3 and status["pictures"] == 1  # one picture: MD5, SHA-256, PDQ
    assert status["matches_found"] == 1 and not status["withdrawn"]
    assert status["providers"] == [{"provider": "Provider", "reports": 1, "forwarded": 0,
                                    "waiting_for_review": 1}]
    assert status["waiting_for_review"] == 1
    r = client.post(f"/v1/review/{report_id}/decision", headers=auth(w.tokens["centre"]),
                    json={"decision": "material", "reason": "confirmed"})
    assert r.status_code == 200, r.text
    status = client.post("/v1/public/victim-cases/status", json={"case_number": number, "pin": pin}).json()
    assert status["providers"] == [{"provider": "Provider", "reports": 1, "forwarded": 1,
                                    "waiting_for_review": 0}]
    # More hashes later; then withdrawal takes them out of distribution at once.
    more = _item(2)
    r = client.post("/v1/public/victim-cases/hashes",
                    json={"case_number": number, "pin": pin, "hashes": [more]})
    assert r.json() == {"added": 3}
    r = client.post("/v1/public/victim-cases/withdraw", json={"case_number": number, "pin": pin})
    assert r.json() == {"withdrawn": True, "retracted": 6}
    assert _match(client, w.tokens["provider"], item) == []
    feed = client.get("/v1/lists/victim-submitted/changes", headers=auth(w.tokens["provider"])).json()
    assert [c["action"] for c in feed["changes"]].count("withdraw") == 6
    r = client.post("/v1/public/victim-cases/hashes",
                    json={"case_number": number, "pin": pin, "hashes": [_item(3)]})
    assert r.status_code == 409 and "withdrawn" in r.text


def test_a_case_reveals_nothing_about_another(client: TestClient,
                                              factory: sessionmaker[Session]) -> None:
    build_world(factory)
    a = client.post("/v1/public/victim-cases", json={"hashes": [_item(1)]}).json()
    b = client.post("/v1/public/victim-cases", json={"hashes": [_item(2)]}).json()
    assert a["case_number"] != b["case_number"]
    wrong = client.post("/v1/public/victim-cases/status",
                        json={"case_number": b["case_number"], "pin": a["pin"]})
    unknown = client.post("/v1/public/victim-cases/status",
                          json={"case_number": "2222-2222-2222-2222", "pin": a["pin"]})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()  # the same answer: nothing learnt about case b
    status = client.post("/v1/public/victim-cases/status",
                         json={"case_number": a["case_number"], "pin": a["pin"]}).json()
    assert status["hashes"] == 3 and status["case_number"] == a["case_number"]


def test_guessing_is_limited(db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    build_world(factory)
    with make_client(db_url, data_dir, victim_cases_per_hour=2, victim_lookups_per_hour=100) as c:
        case = c.post("/v1/public/victim-cases", json={"hashes": [_item(1)]}).json()
        for _ in range(5):
            r = c.post("/v1/public/victim-cases/status",
                       json={"case_number": case["case_number"], "pin": "00000000"})
            assert r.status_code == 401
        r = c.post("/v1/public/victim-cases/status",
                   json={"case_number": case["case_number"], "pin": case["pin"]})
        assert r.status_code == 401 and "locked" in r.text  # even the right PIN, for an hour
        c.post("/v1/public/victim-cases", json={"hashes": [_item(2)]})
        r = c.post("/v1/public/victim-cases", json={"hashes": [_item(3)]})
        assert r.status_code == 429 and "Retry-After" in r.headers
        r = c.post("/v1/public/victim-cases", json={"hashes": [{"kind": "image", "md5": "zz" * 16}]})
        assert r.status_code == 429  # still limited; bad input is checked below with a fresh client
    with make_client(db_url, data_dir) as c:
        r = c.post("/v1/public/victim-cases", json={"hashes": [{"kind": "image", "md5": "zz" * 16}]})
        assert r.status_code == 422 and "md5" in r.text
        r = c.post("/v1/public/victim-cases", json={"hashes": []})
        assert r.status_code == 422


def test_victim_hash_on_the_command_line(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    img = tmp_path / "me.png"
    img.write_bytes(encode(pattern_image(9), "PNG"))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    done = subprocess.run([sys.executable, "-m", "vigil", "victim", "hash", str(img)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)["hashes"]
    assert item == _item_png(9)
    bad = subprocess.run([sys.executable, "-m", "vigil", "victim", "hash", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1 and "broken.jpg" in bad.stderr
    assert len(json.loads(bad.stdout)["hashes"]) == 1  # the good file is still hashed


def _item_png(seed: int) -> dict[str, Any]:
    h = hash_image_bytes(encode(pattern_image(seed), "PNG"))
    return {"kind": "image", "md5": h.md5, "sha256": h.sha256, "pdq": h.pdq, "quality": h.quality}


def test_proactive_search_finds_a_case_hash_and_the_victim_is_told(
        client: TestClient, factory: sessionmaker[Session], site: Any) -> None:
    from vigil.config import Settings
    from vigil.db import transaction
    from vigil.takedown.crawler.crawl import CrawlOptions, create_crawl
    from vigil.takedown.tasks import crawl_job

    w = build_world(factory)
    data = encode(pattern_image(21))
    h = hash_image_bytes(data)
    case = client.post("/v1/public/victim-cases", json={"hashes": [
        {"kind": "image", "md5": h.md5, "sha256": h.sha256, "pdq": h.pdq, "quality": h.quality}]}).json()
    site.put("hosting-a.test", "/", "<html><img src='/leak.jpg'><img src='/other.jpg'></html>")
    site.put("hosting-a.test", "/leak.jpg", data, "image/jpeg")
    site.put("hosting-a.test", "/other.jpg", encode(pattern_image(22)), "image/jpeg")
    with transaction(factory) as s:
        crawl_id = create_crawl(s, w.principals["centre"], [site.url("hosting-a.test", "/")],
                                ["hosting-a.test"], CrawlOptions(per_host_delay=0)).id
    crawl_job(factory, factory, Settings(environment="test", resolver_overrides=site.overrides),
              crawl_id)
    key = {"case_number": case["case_number"], "pin": case["pin"]}
    status = client.post("/v1/public/victim-cases/status", json=key).json()
    assert status["urls_found"] == 1 and status["matches_found"] == 1 and status["removed"] == 0
    assert status["waiting_for_review"] == 1 and status["notices_sent"] == 0
    # No notice before an analyst looked; the analyst's classification opens it.
    centre = auth(w.tokens["centre"])
    assert client.get("/v1/notices", headers=centre).json() == []
    (waiting,) = client.get("/v1/url-reports", headers=centre, params={"classified": False}).json()
    assert (waiting["list"], waiting["list_trust"]) == ("victim-submitted", "unverified")
    r = client.post(f"/v1/url-reports/{waiting['id']}/classification", headers=centre,
                    json={"classification": "illegal_international"})
    assert r.status_code == 200, r.text
    notices = client.get("/v1/notices", headers=centre).json()
    assert [n["victim_submitted"] for n in notices] == [True]
    status = client.post("/v1/public/victim-cases/status", json=key).json()
    assert status["urls_found"] == 1 and status["waiting_for_review"] == 0


def test_the_log_audit_accepts_victim_hashes_and_the_audit_trail_is_sealed(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from vigil.audit import seal
    from vigil.audit.models import AuditEvent
    from vigil.db import transaction
    from vigil.indicators.log_audit import verify_database

    w = build_world(factory)
    case = client.post("/v1/public/victim-cases", json={"hashes": [_item(1)]}).json()
    client.post("/v1/public/victim-cases/withdraw",
                json={"case_number": case["case_number"], "pin": case["pin"]})
    key = client.app.state.vigil.signer.public_key  # type: ignore[attr-defined]
    with factory() as s:
        report = verify_database(s, key)
    assert report.ok, report.problems
    # Seal the audit trail (everything is old enough when "now" is later), then tamper.
    with transaction(factory) as s:
        leaf = seal.seal(s, older_than=timedelta(0))
    assert leaf is not None and leaf["count"] > 5
    auditor = auth(w.tokens["auditor"])
    assert client.get("/v1/audit/verify", headers=auditor).json() == {"intact": True, "problems": []}
    reads = client.get("/v1/audit/events", headers=auditor,
                       params={"action": "victim_case:withdrawn"}).json()["events"]
    assert len(reads) == 1
    assert client.get("/v1/audit/events", headers=auth(w.tokens["provider"])).status_code == 403
    with transaction(factory) as s:
        s.execute(update(AuditEvent).where(AuditEvent.action == "victim_case:withdrawn")
                  .values(details='{"retracted": 0}'))
    got = client.get("/v1/audit/verify", headers=auditor).json()
    assert not got["intact"] and "differ from the seal" in got["problems"][0]
    with factory() as s:
        problems = verify_database(s, key).problems  # the command line checks the trail too
    assert problems and all(p.startswith("audit trail:") for p in problems), problems
