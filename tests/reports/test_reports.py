"""Report intake, assessment, routing and the authorities' view — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.loopback import loopback
from tests.fixtures.world import World, build_world
from vigil.db import transaction
from vigil.indicators import service as indicators
from vigil.reports.handoff import NullHandoff
from vigil.reports.models import Report, ReportFile
from vigil.samples import encode, pattern_image
from vigil.worker import Worker

KNOWN_PDQ = "c3" * 32
DE_IP = "193.99.144.80"  # a German address in the offline IP-to-country data


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "incident_at": "2026-11-01T10:00:00Z", "concerns": "new_material",
        "legal_basis": "Regulation (EU) 2024/1307", "content_removed": True,
        "hashes": [{"signal_type": "md5", "value": "0" * 32}],
        "users": [{"user_ids": ["u-1"], "ips": [{"ip": DE_IP, "at": "2026-11-01T09:59:00Z"}]}],
    }
    body.update(overrides)
    return body


def run_worker(factory: sessionmaker[Session], handoff: NullHandoff | None = None) -> NullHandoff:
    h = handoff or NullHandoff()
    Worker(factory, factory, h).run_once()
    return h


def submit(client: TestClient, w: World, key: str | None = None, **overrides: Any) -> dict[str, Any]:
    headers = auth(w.tokens["provider"])
    if key:
        headers["Idempotency-Key"] = key
    r = client.post("/v1/reports", headers=headers, json=report_body(**overrides))
    assert r.status_code in (200, 201), r.text
    return r.json()  # type: ignore[no-any-return]


def test_idempotent_submission(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    first = submit(client, w, key="abc-1")
    again = client.post("/v1/reports", headers={**auth(w.tokens["provider"]),
                                                "Idempotency-Key": "abc-1"}, json=report_body())
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    other = client.post("/v1/reports", headers={**auth(w.tokens["provider"]),
                                                "Idempotency-Key": "abc-1"},
                        json=report_body(urgent=True, urgent_reason="x"))
    assert other.status_code == 409
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(Report)) == 1


def test_malformed_reports_list_every_problem(client: TestClient,
                                              factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    body = report_body(concerns="gossip", urgent=True, surprise="field",
                       users=[{"ips": [{"ip": "999.1.1.1", "at": "yesterday"}]}])
    del body["legal_basis"]
    r = client.post("/v1/reports", headers=auth(w.tokens["provider"]), json=body)
    assert r.status_code == 422
    locations = [".".join(map(str, i["location"])) for i in r.json()["error"]["items"]]
    for expected in ("body.concerns", "body.legal_basis", "body.surprise",
                     "body.users.0.ips.0.ip", "body.users.0.ips.0.at"):
        assert any(loc.startswith(expected) for loc in locations), (expected, locations)
    r = client.post("/v1/reports", headers=auth(w.tokens["provider"]),
                    json=report_body(hashes=[{"signal_type": "md5", "value": "zz"}]))
    assert r.status_code == 422 and "md5" in r.json()["error"]["items"][0]["error"]
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(Report)) == 0


def test_files_are_encrypted_at_rest_and_hashed_by_the_centre(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path) -> None:
    w = build_world(factory)
    rep = submit(client, w, complete=False, hashes=[])
    image = encode(pattern_image(5))
    r = client.post(f"/v1/reports/{rep['id']}/files", headers=auth(w.tokens["provider"]),
                    files={"file": ("scene.jpg", image, "image/jpeg")},
                    data={"meta": json.dumps({"industry_classification": "B1",
                                              "viewed_by_provider": True})})
    assert r.status_code == 201, r.text
    assert r.json()["pdq"] and len(r.json()["sha256"]) == 64
    stored = [p for p in (data_dir / "files").rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert image not in stored[0].read_bytes() and image[:64] not in stored[0].read_bytes()
    r = client.post(f"/v1/reports/{rep['id']}/files", headers=auth(w.tokens["provider"]),
                    files={"file": ("x.bin", b"", "application/octet-stream")})
    assert r.status_code == 422
    r = client.post(f"/v1/reports/{rep['id']}/files", headers=auth(w.tokens["provider"]),
                    files={"file": ("x.bin", b"x", "application/octet-stream")},
                    data={"meta": '{"industry_classification": "Z9"}'})
    assert r.status_code == 422
    assert client.post(f"/v1/reports/{rep['id']}/finish",
                       headers=auth(w.tokens["provider"])).json()["status"] == "submitted"
    r = client.post(f"/v1/reports/{rep['id']}/files", headers=auth(w.tokens["provider"]),
                    files={"file": ("late.jpg", image, "image/jpeg")})
    assert r.status_code == 409


def test_oversized_file_is_refused(db_url: str, data_dir: Path,
                                   factory: sessionmaker[Session]) -> None:
    from tests.fixtures.api import make_client

    w = build_world(factory)
    with make_client(db_url, data_dir, max_file_bytes=1000) as client:
        rep = submit(client, w, complete=False, hashes=[])
        r = client.post(f"/v1/reports/{rep['id']}/files", headers=auth(w.tokens["provider"]),
                        files={"file": ("big.bin", b"x" * 1001, "application/octet-stream")})
        assert r.status_code == 413


def _activate(factory: sessionmaker[Session], w: World, value: str, lst: str = "known-material") -> None:
    with transaction(factory) as s:
        (ind,) = indicators.propose(s, w.principals["centre"],
                                    [indicators.Proposal("pdq", value, lst, "x")])
        indicators.verify(s, w.principals["partner"], ind.id)


def test_assessment_routes_known_material_to_europol_and_the_member_state(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    _activate(factory, w, KNOWN_PDQ)
    rep = submit(client, w, hashes=[{"signal_type": "pdq", "value": "c3" * 31 + "c0"}])
    handoff = run_worker(factory)
    got = client.get(f"/v1/reports/{rep['id']}", headers=auth(w.tokens["provider"])).json()
    assert got["status"] == "forwarded" and got["assessment"] == "known_material"
    assert got["jurisdictions"] == ["DE"]
    assert sorted(n.recipient for n in handoff.delivered) == ["DE", "europol"]


def test_priorities_and_unfounded_reports(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    _activate(factory, w, KNOWN_PDQ)
    _activate(factory, w, "7e" * 32, "non-material")
    known = submit(client, w, hashes=[{"signal_type": "pdq", "value": KNOWN_PDQ}])
    new = submit(client, w)
    urgent = submit(client, w, urgent=True, urgent_reason="a child is in imminent danger")
    empty = submit(client, w, hashes=[], urls=[])
    benign = submit(client, w, hashes=[{"signal_type": "pdq", "value": "7e" * 32}])
    run_worker(factory)

    def get(r: dict[str, Any]) -> dict[str, Any]:
        return client.get(f"/v1/reports/{r['id']}", headers=auth(w.tokens["provider"])).json()  # type: ignore[no-any-return]

    assert get(empty)["status"] == "manifestly_unfounded"
    assert "no content" in get(empty)["assessment_reason"]
    assert "non-material" in get(benign)["assessment_reason"]
    assert not get(benign)["forwarded"]
    queue = client.get("/v1/authority/reports", headers=auth(w.tokens["europol"])).json()
    assert [q["id"] for q in queue] == [urgent["id"], new["id"], known["id"]]


def test_a_de_authority_cannot_read_a_fr_only_report_by_any_route(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    fr = submit(client, w, declared_country="FR", users=[])
    de = submit(client, w)
    run_worker(factory)
    de_key, fr_key = auth(w.tokens["authority_de"]), auth(w.tokens["authority_fr"])
    listed = [r["id"] for r in client.get("/v1/authority/reports", headers=de_key).json()]
    assert de["id"] in listed and fr["id"] not in listed
    for method, path, body in (
            ("GET", f"/v1/authority/reports/{fr['id']}", None),
            ("GET", f"/v1/authority/reports/{fr['id']}/files/1", None),
            ("POST", f"/v1/authority/reports/{fr['id']}/acknowledge", None),
            ("POST", f"/v1/authority/reports/{fr['id']}/feedback", {"outcome": "x"})):
        r = client.request(method, path, headers=de_key, json=body)
        assert r.status_code == 404, (path, r.text)
    assert client.get(f"/v1/authority/reports/{fr['id']}", headers=fr_key).status_code == 200
    # Providers see their own reports only; authorities cannot use the provider routes.
    assert client.get(f"/v1/reports/{fr['id']}", headers=de_key).status_code == 403


def test_authority_acknowledges_downloads_and_gives_feedback(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    rep = submit(client, w, complete=False, hashes=[])
    image = encode(pattern_image(8))
    fid = client.post(f"/v1/reports/{rep['id']}/files", headers=auth(w.tokens["provider"]),
                      files={"file": ("a.jpg", image, "image/jpeg")}).json()["file_id"]
    client.post(f"/v1/reports/{rep['id']}/finish", headers=auth(w.tokens["provider"]))
    run_worker(factory)
    key = auth(w.tokens["authority_de"])
    assert client.post(f"/v1/authority/reports/{rep['id']}/acknowledge", headers=key).status_code == 200
    r = client.get(f"/v1/authority/reports/{rep['id']}/files/{fid}", headers=key)
    assert r.status_code == 200 and r.content == image
    assert r.headers["content-disposition"] == 'attachment; filename="a.jpg"'
    r = client.post(f"/v1/authority/reports/{rep['id']}/feedback", headers=key,
                    json={"outcome": "investigation opened", "delay_user_notice_days": 548})
    assert r.status_code == 200 and r.json()["delay_user_notice_until"]
    r = client.post(f"/v1/authority/reports/{rep['id']}/feedback", headers=key,
                    json={"outcome": "x", "delay_user_notice_days": 549})
    assert r.status_code == 422
    from vigil.audit.models import AuditEvent

    with transaction(factory) as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {"report:submitted", "report:file_added", "report:assessed", "report:forwarded",
            "report:acknowledged", "report:file_downloaded", "report:feedback"} <= actions


def test_retracted_report_is_not_forwarded(client: TestClient,
                                           factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    rep = submit(client, w)
    r = client.post(f"/v1/reports/{rep['id']}/retract", headers=auth(w.tokens["provider"]),
                    json={"reason": "filed by mistake"})
    assert r.json()["status"] == "retracted"
    handoff = run_worker(factory)
    assert handoff.delivered == []
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(ReportFile)) == 0


@pytest.mark.parametrize("ip,expected", [("193.99.144.80", ["DE"]), ("127.0.0.1", ["unknown"])])
def test_jurisdiction_from_ip(ip: str, expected: list[str], client: TestClient,
                              factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    rep = submit(client, w, users=[{"ips": [{"ip": ip, "at": "2026-11-01T00:00:00Z"}]}])
    run_worker(factory)
    got = client.get(f"/v1/reports/{rep['id']}", headers=auth(w.tokens["provider"])).json()
    assert got["jurisdictions"] == expected


def test_retention_deletes_files_and_personal_data_keeps_counts(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from vigil.audit.models import AuditEvent
    from vigil.config import Settings
    from vigil.reports.storage import FileStore, load_file_key

    w = build_world(factory)
    rep = submit(client, w, complete=False, hashes=[])
    client.post(f"/v1/reports/{rep['id']}/files", headers=auth(w.tokens["provider"]),
                files={"file": ("a.jpg", encode(pattern_image(3)), "image/jpeg")})
    client.post(f"/v1/reports/{rep['id']}/finish", headers=auth(w.tokens["provider"]))
    recent = submit(client, w)
    settings = Settings(data_dir=data_dir, retention_days_files=30,
                        retention_days_personal_data=60)
    store = FileStore(data_dir / "files", load_file_key(settings))
    worker = Worker(factory, factory, NullHandoff(), settings=settings, store=store)
    worker.run_once()
    with transaction(factory) as s:
        s.execute(update(Report).where(Report.public_id == rep["id"])
                  .values(assessed_at=datetime.now(UTC) - timedelta(days=61)))
    result = worker.retention()
    assert result is not None and (result.files_deleted, result.personal_data_deleted) == (1, 1)
    assert not [p for p in (data_dir / "files").rglob("*") if p.is_file()]
    with transaction(factory) as s:
        old = s.scalar(select(Report).where(Report.public_id == rep["id"]))
        new = s.scalar(select(Report).where(Report.public_id == recent["id"]))
        assert old is not None and new is not None
        assert old.details is None and old.status == "forwarded" and old.jurisdictions == "DE"
        assert new.details is not None
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.subject == rep["id"])))
    assert "report:files_deleted" in actions and "report:personal_data_deleted" in actions
    r = client.get(f"/v1/authority/reports/{rep['id']}/files/1", headers=auth(w.tokens["authority_de"]))
    assert r.status_code == 404
    assert worker.retention() == type(result)(0, 0)  # nothing left to delete


def test_review_confirms_material_into_pending_indicators(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    old = submit(client, w)
    urgent = submit(client, w, urgent=True, urgent_reason="imminent danger",
                    hashes=[{"signal_type": "pdq", "value": "5a" * 32}])
    run_worker(factory)
    centre = auth(w.tokens["centre"])
    queue = client.get("/v1/review/queue", headers=centre).json()
    assert [q["id"] for q in queue] == [urgent["id"], old["id"]]
    assert all(q["age_seconds"] >= 0 for q in queue)
    assert client.get("/v1/review/queue", headers=auth(w.tokens["partner"])).status_code == 403
    r = client.post(f"/v1/review/{urgent['id']}/decision", headers=centre,
                    json={"decision": "material", "reason": "confirmed", "label": "A1"})
    assert r.status_code == 200, r.text
    (ind,) = r.json()["pending_indicators"]
    got = client.get(f"/v1/indicators/{ind}", headers=centre).json()
    assert got["status"] == "pending" and got["value"] == "5a" * 32
    assert got["source"] == f"report:{urgent['id']}"
    # The Centre proposed it: only another organisation can make it active.
    assert client.post(f"/v1/indicators/{ind}/verify", headers=centre).status_code == 409
    assert client.post(f"/v1/indicators/{ind}/verify",
                       headers=auth(w.tokens["partner"])).status_code == 200
    r = client.post(f"/v1/review/{urgent['id']}/decision", headers=centre,
                    json={"decision": "not_material", "reason": "changed my mind"})
    assert r.status_code == 409


def test_questions_reach_the_provider_and_answers_come_back(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    rep = submit(client, w)
    run_worker(factory)
    r = client.post(f"/v1/review/{rep['id']}/decision", headers=auth(w.tokens["centre"]),
                    json={"decision": "needs_information", "reason": "Which service feature?"})
    assert r.status_code == 200
    r = client.post(f"/v1/authority/reports/{rep['id']}/questions",
                    headers=auth(w.tokens["authority_de"]), json={"question": "Account age?"})
    assert r.status_code == 201
    fr = client.post(f"/v1/authority/reports/{rep['id']}/questions",
                     headers=auth(w.tokens["authority_fr"]), json={"question": "x"})
    assert fr.status_code == 404  # not routed to FR
    provider = auth(w.tokens["provider"])
    qs = client.get(f"/v1/reports/{rep['id']}/questions", headers=provider).json()
    assert [q["question"] for q in qs] == ["Which service feature?", "Account age?"]
    r = client.post(f"/v1/reports/{rep['id']}/questions/{qs[1]['id']}/answer", headers=provider,
                    json={"answer": "Created 2026-10-30"})
    assert r.status_code == 200 and r.json()["answered_at"]
    again = client.post(f"/v1/reports/{rep['id']}/questions/{qs[1]['id']}/answer",
                        headers=provider, json={"answer": "x"})
    assert again.status_code == 409
    seen = client.get(f"/v1/authority/reports/{rep['id']}/questions",
                      headers=auth(w.tokens["authority_de"])).json()
    assert seen[1]["answer"] == "Created 2026-10-30"
    assert client.get(f"/v1/authority/reports/{rep['id']}/questions",
                      headers=auth(w.tokens["authority_fr"])).status_code == 404


def test_duplicates_and_related_reports_are_linked(client: TestClient,
                                                   factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    first = submit(client, w, hashes=[{"signal_type": "md5", "value": "ab" * 16}],
                   users=[{"user_ids": ["Alice-7"]}], declared_country="DE")
    same_hash = submit(client, w, hashes=[{"signal_type": "md5", "value": "AB" * 16}],
                       users=[], declared_country="DE")
    same_user = submit(client, w, hashes=[{"signal_type": "md5", "value": "cd" * 16}],
                       users=[{"user_ids": [" alice-7 "]}], declared_country="FR")
    unrelated = submit(client, w, hashes=[{"signal_type": "md5", "value": "ef" * 16}],
                       users=[{"user_ids": ["bob"]}], declared_country="DE")
    run_worker(factory)
    view = client.get(f"/v1/authority/reports/{first['id']}", headers=auth(w.tokens["europol"])).json()
    assert sorted((r["id"], r["reason"]) for r in view["related"]) == sorted(
        [(same_hash["id"], "same_hash"), (same_user["id"], "same_user")])
    assert unrelated["id"] not in {r["id"] for r in view["related"]}
    # The DE authority is not told about the FR-only related report.
    de_view = client.get(f"/v1/authority/reports/{first['id']}",
                         headers=auth(w.tokens["authority_de"])).json()
    assert [r["id"] for r in de_view["related"]] == [same_hash["id"]]
    from vigil.reports.models import ReportSubject

    with transaction(factory) as s:
        assert all("alice" not in d.digest for d in s.scalars(select(ReportSubject)))


def test_signed_webhook_notices_and_retries(client: TestClient,
                                            factory: sessionmaker[Session]) -> None:
    from http.server import BaseHTTPRequestHandler

    from vigil.egress import EgressPolicy
    from vigil.jobs.models import Job
    from vigil.reports.handoff import WebhookHandoff, verify_signature
    from vigil.webhooks import WebhookSender

    received: list[tuple[str, bytes]] = []
    fail = {"left": 1}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if fail["left"]:
                fail["left"] -= 1
                self.send_response(503)
            else:
                received.append((self.headers["X-Vigil-Signature"], body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with loopback(Hook) as port:
        url = f"http://127.0.0.1:{port}/notices"
        w = build_world(factory)
        rep = submit(client, w)
        # The receiver listens on loopback: pinned, as a deployment pins its own endpoints.
        hook = WebhookHandoff({"DE": url, "europol": url}, b"unused",
                              secrets={"DE": b"shared-secret", "europol": b"europol-secret"},
                              sender=WebhookSender(EgressPolicy.of(allow=["127.0.0.1"])))
        worker = Worker(factory, factory, hook)
        worker.run_once()  # assessment; the DE notice fails once (503) and is re-queued
        from datetime import UTC, datetime, timedelta

        from sqlalchemy import update

        with transaction(factory) as s:  # skip the back-off wait
            s.execute(update(Job).where(Job.status == "queued")
                      .values(run_after=datetime.now(UTC) - timedelta(seconds=1)))
        worker.run_once()  # the retry
    assert len(received) == 2
    (header, body), = [(h, b) for h, b in received if json.loads(b)["recipient"] == "DE"]
    (eu_header, eu_body), = [(h, b) for h, b in received if json.loads(b)["recipient"] == "europol"]
    assert verify_signature(b"europol-secret", eu_header, eu_body)
    assert not verify_signature(b"shared-secret", eu_header, eu_body)
    assert verify_signature(b"shared-secret", header, body)
    assert not verify_signature(b"wrong-secret", header, body)
    assert not verify_signature(b"shared-secret", header, body.replace(b"DE", b"FR"))
    assert json.loads(body)["report_id"] == rep["id"]


def test_one_multipart_request_with_files(client: TestClient, factory: sessionmaker[Session],
                                          data_dir: Path) -> None:
    w = build_world(factory)
    headers = {**auth(w.tokens["provider"]), "Idempotency-Key": "mp-1"}
    report = json.dumps(report_body(hashes=[]))
    files = [("files", ("a.jpg", encode(pattern_image(1)), "image/jpeg")),
             ("files", ("b.jpg", encode(pattern_image(2)), "image/jpeg"))]
    r = client.post("/v1/reports/multipart", headers=headers, data={"report": report}, files=files)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted" and r.json()["files"] == 2 and r.json()["hashes"] >= 4
    again = client.post("/v1/reports/multipart", headers=headers, data={"report": report},
                        files=files)
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    bad = client.post("/v1/reports/multipart", headers=auth(w.tokens["provider"]),
                      data={"report": '{"concerns": "nope"}'}, files=files[:1])
    assert bad.status_code == 422
    assert any(i["location"][:2] == ["report", "concerns"] for i in bad.json()["error"]["items"])
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(Report)) == 1
        assert s.scalar(select(func.count()).select_from(ReportFile)) == 2


def test_large_uploads_never_spool_to_disk_in_clear(client: TestClient,
                                                    factory: sessionmaker[Session],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    rolled: list[int] = []
    original = tempfile.SpooledTemporaryFile.rollover

    def spy(self: tempfile.SpooledTemporaryFile[bytes]) -> None:
        rolled.append(1)
        original(self)

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", spy)
    w = build_world(factory)
    rep = submit(client, w, complete=False, hashes=[])
    big = bytes(range(256)) * (3 * 4096)  # 3 MiB, over Starlette's 1 MiB spool threshold
    r = client.post(f"/v1/reports/{rep['id']}/files", headers=auth(w.tokens["provider"]),
                    files={"file": ("big.bin", big, "application/octet-stream")})
    assert r.status_code == 201, r.text
    assert rolled == []


def test_providers_list_only_their_own_reports(client: TestClient,
                                               factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    mine = submit(client, w)
    from vigil.db import transaction as tx
    from vigil.orgs import service as orgs
    from vigil.orgs.access import KIND_SCOPES, OrgKind

    with tx(factory) as s:
        other = orgs.create_organisation(s, None, "Other Provider", OrgKind.PROVIDER)
        token = orgs.issue_key(s, None, other.id, "x", set(KIND_SCOPES[OrgKind.PROVIDER])).token
    theirs = client.post("/v1/reports", headers=auth(token), json=report_body()).json()
    listed = [r["id"] for r in client.get("/v1/reports", headers=auth(w.tokens["provider"])).json()]
    assert listed == [mine["id"]]
    assert client.get(f"/v1/reports/{theirs['id']}", headers=auth(w.tokens["provider"])).status_code == 404
    r = client.post(f"/v1/reports/{theirs['id']}/retract", headers=auth(w.tokens["provider"]),
                    json={"reason": "not mine"})
    assert r.status_code == 404


def test_the_centre_sees_reports_but_never_acts_as_their_provider(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    rep = submit(client, w, complete=False)
    centre = auth(w.tokens["centre"])
    # The Centre reads it as its reviewer; it is no authority the report was routed to.
    assert client.get(f"/v1/review/{rep['id']}", headers=centre).status_code == 200
    assert client.get(f"/v1/authority/reports/{rep['id']}", headers=centre).status_code == 404
    for method, path, body in (
            ("POST", f"/v1/reports/{rep['id']}/retract", {"reason": "x"}),
            ("POST", f"/v1/reports/{rep['id']}/finish", None),
            ("GET", f"/v1/reports/{rep['id']}", None)):
        r = client.request(method, path, headers=centre, json=body)
        assert r.status_code == 404, (path, r.text)
    assert client.get("/v1/reports", headers=centre).json() == []


def test_a_failed_multipart_request_leaves_no_ciphertext_behind(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    from tests.fixtures.api import make_client

    w = build_world(factory)
    with make_client(db_url, data_dir) as client:
        # The first file is encrypted and written; the second is refused (empty): the whole
        # request rolls back, and so must the first file's ciphertext.
        files = [("files", ("a.jpg", encode(pattern_image(1)), "image/jpeg")),
                 ("files", ("b.bin", b"", "application/octet-stream"))]
        r = client.post("/v1/reports/multipart", headers=auth(w.tokens["provider"]),
                        data={"report": json.dumps(report_body(hashes=[]))}, files=files)
        assert r.status_code == 422, r.text
    assert not [p for p in (data_dir / "files").rglob("*") if p.is_file()]
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(Report)) == 0


def test_retention_covers_retracted_and_abandoned_reports(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from vigil.config import Settings
    from vigil.reports.storage import FileStore, load_file_key

    w = build_world(factory)
    abandoned = submit(client, w, complete=False, hashes=[])  # opened, never finished
    client.post(f"/v1/reports/{abandoned['id']}/files", headers=auth(w.tokens["provider"]),
                files={"file": ("a.jpg", encode(pattern_image(4)), "image/jpeg")})
    retracted = submit(client, w)
    client.post(f"/v1/reports/{retracted['id']}/retract", headers=auth(w.tokens["provider"]),
                json={"reason": "mistake"})
    with transaction(factory) as s:
        s.execute(update(Report).values(created_at=datetime.now(UTC) - timedelta(days=800),
                                        retracted_at=datetime.now(UTC) - timedelta(days=800)))
    settings = Settings(data_dir=data_dir)
    worker = Worker(factory, factory, NullHandoff(), settings=settings,
                    store=FileStore(data_dir / "files", load_file_key(settings)))
    result = worker.retention()
    assert result is not None
    assert (result.files_deleted, result.personal_data_deleted) == (1, 2)
