"""A match is a reason for review, never for action, unless the hash was verified by people who
looked at the material: reports whose only hits are victims' own hashes wait for a Centre
reviewer; an authority's request to hold the user's notice reaches the provider; videos are
hashed at intake and a broken file never loses a report. (Both databases.)"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.images import png_bomb
from tests.fixtures.site import Site
from tests.fixtures.videos import write_video
from tests.fixtures.world import active_indicator, build_world, victim_indicators
from tests.reports.test_reports import DE_IP, report_body
from vigil.accountability.transparency import figures
from vigil.config import Settings
from vigil.matching.video import hash_video_file
from vigil.reports.handoff import NullHandoff, verify_signature
from vigil.samples import encode, pattern_image
from vigil.worker import Worker


def _year() -> tuple[datetime, datetime]:
    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def test_a_victims_hash_alone_waits_for_a_reviewer(client: TestClient,
                                                   factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    picture = encode(pattern_image(41))
    victim_indicators(factory, md5=hashlib.md5(picture).hexdigest())
    provider, centre = auth(w.tokens["provider"]), auth(w.tokens["centre"])

    def report(**extra: object) -> dict[str, str]:
        r = client.post("/v1/reports/multipart", headers=provider,
                        data={"report": json.dumps(report_body(hashes=[], **extra))},
                        files=[("files", ("upload.jpg", picture, "image/jpeg"))])
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    plain = report()
    urgent = report(urgent=True, urgent_reason="a child at risk now")
    handoff = NullHandoff()
    Worker(factory, factory, handoff).run_once()
    for rid in (plain["id"], urgent["id"]):
        got = client.get(f"/v1/reports/{rid}", headers=provider).json()
        assert (got["status"], got["assessment"], got["forwarded"]) == (
            "awaiting_review", "unverified_match", False), got
        assert "held" in got["assessment_reason"] and "verified indicators" not in got["assessment_reason"]
    assert handoff.delivered == []  # nothing reached an authority
    assert client.get("/v1/authority/reports", headers=auth(w.tokens["authority_de"])).json() == []
    # In the review queue, placed by its urgency.
    queue = client.get("/v1/review/queue", headers=centre).json()
    assert [r["id"] for r in queue] == [urgent["id"], plain["id"]]
    with factory() as s:
        f = figures(s, *_year())
    assert (f["reports"]["known_material"], f["reports"]["unverified_match"],
            f["reports"]["forwarded"]) == (0, 2, 0)
    # A reviewer confirms one (forwarded now), finds the other is not material (closed).
    r = client.post(f"/v1/review/{urgent['id']}/decision", headers=centre,
                    json={"decision": "material", "reason": "confirmed on review"})
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/review/{plain['id']}/decision", headers=centre,
                    json={"decision": "not_material", "reason": "a different picture"})
    assert r.status_code == 200, r.text
    Worker(factory, factory, handoff).run_once()
    confirmed = client.get(f"/v1/reports/{urgent['id']}", headers=provider).json()
    assert confirmed["status"] == "forwarded" and confirmed["jurisdictions"] == ["DE"]
    closed = client.get(f"/v1/reports/{plain['id']}", headers=provider).json()
    assert closed["status"] == "manifestly_unfounded" and not closed["forwarded"]
    assert {(n.report_id, n.recipient) for n in handoff.delivered} == {
        (urgent["id"], "europol"), (urgent["id"], "DE")}
    assert [x["id"] for x in client.get("/v1/authority/reports",
                                        headers=auth(w.tokens["authority_de"])).json()] == [urgent["id"]]
    with factory() as s:
        f = figures(s, *_year())
    assert (f["reports"]["unverified_match"], f["reports"]["confirmed_by_review"],
            f["reports"]["unverified_confirmed_by_review"], f["reports"]["forwarded"],
            f["reports"]["manifestly_unfounded"]) == (2, 1, 1, 1, 1)
    assert client.get("/v1/review/queue", headers=centre).json() == []


def test_a_victims_hash_without_a_file_cannot_be_confirmed_unseen(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """Only a hash, no file: there is nothing for the reviewer to look at, so nothing is
    confirmed; the reviewer asks the provider or closes it."""
    w = build_world(factory)
    victim_indicators(factory, md5="5e" * 16)
    rep = client.post("/v1/reports", headers=auth(w.tokens["provider"]), json=report_body(
        hashes=[{"signal_type": "md5", "value": "5e" * 16}])).json()
    Worker(factory, factory).run_once()
    r = client.post(f"/v1/review/{rep['id']}/decision", headers=auth(w.tokens["centre"]),
                    json={"decision": "material", "reason": "looks right"})
    assert r.status_code == 409 and "nothing to look at" in r.text
    got = client.get(f"/v1/reports/{rep['id']}", headers=auth(w.tokens["provider"])).json()
    assert got["status"] == "awaiting_review" and not got["forwarded"]


def test_a_verified_hit_is_forwarded_at_once_even_beside_a_victims_hash(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    victim_indicators(factory, md5="5e" * 16)
    active_indicator(factory, w, "md5", "7a" * 16)
    rep = client.post("/v1/reports", headers=auth(w.tokens["provider"]), json=report_body(
        hashes=[{"signal_type": "md5", "value": "5e" * 16},
                {"signal_type": "md5", "value": "7a" * 16}])).json()
    Worker(factory, factory).run_once()
    got = client.get(f"/v1/reports/{rep['id']}", headers=auth(w.tokens["provider"])).json()
    assert (got["status"], got["assessment"]) == ("forwarded", "known_material")


def test_a_delay_of_the_users_notification_reaches_the_provider(
        db_url: str, data_dir: Path, factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    hook = site.put("hosting-b.test", "/provider-hook", "ok", "text/plain")
    settings = Settings(data_dir=data_dir, environment="test", webhook_secret="s3cret",
                        resolver_overrides=site.overrides,
                        provider_webhooks={"Provider": hook, "Someone Else": site.url(
                            "hosting-b.test", "/other-hook")})
    with make_client(db_url, data_dir) as client:
        provider = auth(w.tokens["provider"])
        rep = client.post("/v1/reports", headers=provider, json=report_body()).json()
        worker = Worker(factory, factory, settings=settings)
        worker.run_once()
        assert client.get(f"/v1/reports/{rep['id']}", headers=provider).json()[
            "hold_user_notice_until"] is None
        r = client.post(f"/v1/authority/reports/{rep['id']}/feedback",
                        headers=auth(w.tokens["authority_de"]),
                        json={"outcome": "investigation opened", "delay_user_notice_days": 90})
        assert r.status_code == 200, r.text
        mine = client.get(f"/v1/reports/{rep['id']}", headers=provider).json()
        until = datetime.fromisoformat(mine["hold_user_notice_until"].replace("Z", "+00:00"))
        until = until if until.tzinfo else until.replace(tzinfo=UTC)
        assert 89 <= (until - datetime.now(UTC)).days <= 90
        worker.run_once()
    posts = site.requests("hosting-b.test")
    assert [p[2] for p in posts] == ["/provider-hook"]  # only the report's own provider
    _, _, _, method, body, signature, _ = posts[0]
    assert method == "POST" and verify_signature(b"s3cret", signature, body)
    event = json.loads(body)
    assert event["event"] == "report:user_notice_delayed" and event["report"] == rep["id"]
    assert event["hold_user_notice_until"].startswith(until.date().isoformat())


def test_videos_get_vpdq_at_intake_and_a_broken_file_never_loses_the_report(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path) -> None:
    w = build_world(factory)
    video = write_video(tmp_path / "clip.mp4", seed=31)
    listed = hash_video_file(video).vpdq.to_str()
    active_indicator(factory, w, "vpdq", listed)
    files = [("files", ("clip.bin", video.read_bytes(), "application/octet-stream")),
             ("files", ("bomb.png", png_bomb(20_000, 20_000), "image/png")),
             ("files", ("broken.jpg", b"\xff\xd8\xff\xe0 not really a picture", "image/jpeg"))]
    body = report_body(hashes=[], users=[{"ips": [{"ip": DE_IP, "at": "2026-11-01T09:59:00Z"}]}])
    r = client.post("/v1/reports/multipart", headers=auth(w.tokens["provider"]),
                    data={"report": json.dumps(body)}, files=files)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["files"] == 3
    Worker(factory, factory).run_once()
    seen = client.get(f"/v1/review/{rid}", headers=auth(w.tokens["centre"])).json()
    kinds = {f["filename"]: (f["kind"], f["note"]) for f in seen["files"]}
    assert kinds["clip.bin"] == ("video", None)  # typed by its bytes, not its name
    assert kinds["bomb.png"][0] == "image" and "pixels" in kinds["bomb.png"][1]  # a PNG, refused
    assert kinds["broken.jpg"][0] == "image" and kinds["broken.jpg"][1]  # a JPEG that breaks
    vpdq = [h for h in seen["hashes"] if h["signal_type"] == "vpdq"]
    assert len(vpdq) == 1 and vpdq[0]["matched_indicator"] is not None
    assert seen["assessment"] == "known_material"  # the video matched its listed vPDQ
