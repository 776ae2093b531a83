"""The provider-facing flow over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.world import build_world
from vigil.audit.models import AuditEvent
from vigil.db import transaction
from vigil.indicators import feeds
from vigil.translog.merkle import verify_consistency, verify_inclusion
from vigil.translog.sth import SignedTreeHead, verify_tree_head

PDQ = "f0" * 32
NEAR = "f0" * 31 + "f3"  # 2 bits away
MD5 = "5d41402abc4b2a76b9719d911017c592"


def _propose(client: TestClient, token: str, items: list[dict[str, str]]) -> list[int]:
    r = client.post("/v1/indicators", headers=auth(token), json={"items": [
        {"list": "known-material", "legal_basis": "CSAR Art. 44", **i} for i in items]})
    assert r.status_code == 201, r.text
    return [x["id"] for x in r.json()]


def _match(client: TestClient, token: str, items: list[dict[str, object]]) -> dict:  # type: ignore[type-arg]
    r = client.post("/v1/match", headers=auth(token), json={"items": items})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _wait_for(predicate, timeout: float = 1.0) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout} s")


def test_verified_indicator_matches_in_every_worker_within_a_second(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with make_client(db_url, data_dir) as one, make_client(db_url, data_dir) as two:
        (pdq_id, md5_id) = _propose(one, w.tokens["centre"], [
            {"signal_type": "pdq", "value": PDQ, "label": "A1"},
            {"signal_type": "md5", "value": MD5}])
        query = [{"signal_type": "pdq", "value": NEAR}, {"signal_type": "md5", "value": MD5}]
        assert all(not r["matches"] for r in _match(two, w.tokens["provider"], query)["results"])
        for ind in (pdq_id, md5_id):
            r = one.post(f"/v1/indicators/{ind}/verify", headers=auth(w.tokens["partner"]))
            assert r.status_code == 200 and r.json()["status"] == "active"

        def matched() -> bool:
            res = _match(two, w.tokens["provider"], query)["results"]
            return bool(res[0]["matches"]) and bool(res[1]["matches"])

        _wait_for(matched, 1.0)  # worker two learns from the database, not from worker one
        res = _match(two, w.tokens["provider"], query)["results"]
        hit = res[0]["matches"][0]
        assert hit.pop("match_id").startswith("m_")  # the receipt feedback needs
        assert res[0]["matches"] == [{"indicator_id": pdq_id, "list": "known-material",
                                      "trust": "verified", "signal_type": "pdq", "distance": 2,
                                      "label": "A1", "variant": None}]
        assert res[0]["verdict"] == "verified_match"
        assert res[1]["matches"][0]["indicator_id"] == md5_id

        r = one.post(f"/v1/indicators/{pdq_id}/retract", headers=auth(w.tokens["centre"]),
                     json={"reason": "complaint upheld"})
        assert r.status_code == 200
        _wait_for(lambda: not _match(two, w.tokens["provider"], query)["results"][0]["matches"])


def test_two_organisation_rule_over_http(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    (ind,) = _propose(client, w.tokens["centre"], [{"signal_type": "pdq", "value": PDQ}])
    r = client.post(f"/v1/indicators/{ind}/verify", headers=auth(w.tokens["centre2"]))
    assert r.status_code == 409
    assert "different organisation" in r.json()["error"]["message"]
    r = client.post(f"/v1/indicators/{ind}/retract", headers=auth(w.tokens["partner"]), json={})
    assert r.status_code == 422


def test_match_validation_and_limits(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    token = w.tokens["provider"]
    r = client.post("/v1/match", headers=auth(token), json={"items": [
        {"signal_type": "pdq", "value": PDQ}, {"signal_type": "pdq", "value": "nothex"},
        {"signal_type": "tlsh", "value": "x"}, {"signal_type": "md5", "value": "ab"}]})
    assert r.status_code == 422
    items = r.json()["error"]["items"]
    assert [i["index"] for i in items] == [1, 2, 3]
    assert "unknown signal type 'tlsh'" in items[1]["error"]
    # a value of the wrong JSON type is refused by the schema, naming where it is
    r = client.post("/v1/match", headers=auth(token), json={"items": [
        {"signal_type": "pdq", "value": PDQ}, {"signal_type": "md5", "value": 42}]})
    assert r.status_code == 422
    assert all(i["location"][:4] == ["body", "items", 1, "value"]
               for i in r.json()["error"]["items"])
    r = client.post("/v1/match", headers=auth(token),
                    json={"items": [{"signal_type": "md5", "value": MD5}] * 1001})
    assert r.status_code == 413
    assert "at most 1000" in r.json()["error"]["message"]
    r = client.post("/v1/match", headers={**auth(token), "content-length": str(10**9)},
                    content=b"{}")
    assert r.status_code == 413
    r = client.post("/v1/match", headers=auth(token), content=b"not json")
    assert r.status_code == 422


def test_allow_list_and_per_list_threshold(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    far = "f0" * 30 + "0f0f"  # 16 bits from PDQ
    r = client.post("/v1/lists", headers=auth(w.tokens["centre"]),
                    json={"name": "regional", "trust": "verified", "pdq_threshold": 20})
    assert r.status_code == 201 and r.json()["trust"] == "verified"
    ids = []
    for lst, value in (("known-material", PDQ), ("regional", "33" * 32)):
        r = client.post("/v1/indicators", headers=auth(w.tokens["centre"]), json={"items": [
            {"signal_type": "pdq", "value": value, "list": lst, "legal_basis": "x"}]})
        ids.append(r.json()[0]["id"])
    for i in ids:
        client.post(f"/v1/indicators/{i}/verify", headers=auth(w.tokens["partner"]))
    res = _match(client, w.tokens["provider"], [{"signal_type": "pdq", "value": far},
                                                 {"signal_type": "pdq", "value": "33" * 31 + "0c"}])
    assert [m["distance"] for m in res["results"][0]["matches"]] == [16]  # known-material: 31
    assert res["results"][1]["matches"][0]["distance"] == 6  # regional: 20
    r = client.patch("/v1/lists/known-material", headers=auth(w.tokens["centre"]),
                     json={"pdq_threshold": 10})
    assert r.status_code == 200
    client.app.state.vigil.matcher.sync(client.app.state.vigil.session)  # type: ignore[attr-defined]
    assert not _match(client, w.tokens["provider"], [{"signal_type": "pdq", "value": far}])["results"][0]["matches"]
    # A benign look-alike on the allow list suppresses the block-list hit.
    r = client.post("/v1/indicators", headers=auth(w.tokens["centre"]), json={"items": [
        {"signal_type": "pdq", "value": PDQ, "list": "non-material", "legal_basis": "x"}]})
    client.post(f"/v1/indicators/{r.json()[0]['id']}/verify", headers=auth(w.tokens["partner"]))
    res = _match(client, w.tokens["provider"], [{"signal_type": "pdq", "value": PDQ}])["results"][0]
    assert res == {"index": 0, "verdict": "allowed", "matches": [],
                   "suppressed_by_allow_list": True}


def test_match_calls_are_audited_without_hashes(client: TestClient,
                                                factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    _match(client, w.tokens["provider"], [{"signal_type": "md5", "value": MD5}] * 3)
    with transaction(factory) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "match:queried")).one()
        assert ev.organisation_id == w.principals["provider"].organisation_id
        assert '"hashes": 3' in ev.details and MD5 not in ev.details


def test_signed_snapshot_and_changes(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    ids = _propose(client, w.tokens["centre"], [{"signal_type": "pdq", "value": PDQ},
                                                {"signal_type": "md5", "value": MD5}])
    for i in ids:
        client.post(f"/v1/indicators/{i}/verify", headers=auth(w.tokens["partner"]))
    key = load_pem_public_key(client.get("/v1/log/key").content)
    snap = client.get("/v1/lists/known-material/snapshot", headers=auth(w.tokens["provider"])).json()
    feeds.verify(snap, key)  # type: ignore[arg-type]
    assert sorted(e["value"] for e in snap["entries"]) == sorted([PDQ, MD5])
    tampered = {**snap, "entries": snap["entries"][:1]}
    try:
        feeds.verify(tampered, key)  # type: ignore[arg-type]
        raise AssertionError("tampered snapshot verified")
    except ValueError as exc:
        assert "signature is invalid" in str(exc)
    client.post(f"/v1/indicators/{ids[0]}/retract", headers=auth(w.tokens["centre"]),
                json={"reason": "wrong"})
    feed = client.get(f"/v1/lists/known-material/changes?since={snap['seq']}",
                      headers=auth(w.tokens["provider"])).json()
    feeds.verify(feed, key)  # type: ignore[arg-type]
    assert [(c["action"], c["id"], c["value"]) for c in feed["changes"]] == [("withdraw", ids[0], PDQ)]
    assert feed["until"] > snap["seq"]


def test_log_head_and_proofs(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    token = w.tokens["auditor"]
    key = load_pem_public_key(client.get("/v1/log/key").content)
    first = SignedTreeHead.from_json(client.get("/v1/log/head", headers=auth(token)).json())
    verify_tree_head(first, key)  # type: ignore[arg-type]
    _propose(client, w.tokens["centre"], [{"signal_type": "pdq", "value": PDQ}])
    second = SignedTreeHead.from_json(client.get("/v1/log/head", headers=auth(token)).json())
    verify_tree_head(second, key)  # type: ignore[arg-type]
    assert second.size == first.size + 1
    entries = client.get(f"/v1/log/entries?start=0&end={second.size}", headers=auth(token)).json()["entries"]
    assert [e["leaf"]["event"] for e in entries][-1] == "indicator:proposed"
    for e in entries:
        p = client.get(f"/v1/log/proof/inclusion?index={e['index']}&size={second.size}",
                       headers=auth(token)).json()
        verify_inclusion(base64.b64decode(e["leaf_hash"]), e["index"], second.size,
                         [base64.b64decode(x) for x in p["audit_path"]], second.root)
    c = client.get(f"/v1/log/proof/consistency?first={first.size}&second={second.size}",
                   headers=auth(token)).json()
    verify_consistency(first.size, second.size, first.root, second.root,
                       [base64.b64decode(x) for x in c["consistency_path"]])
    r = client.get(f"/v1/log/proof/inclusion?index=99&size={second.size}", headers=auth(token))
    assert r.status_code == 422


def test_chunked_bodies_are_limited_too(db_url: str, data_dir: Path,
                                        factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with make_client(db_url, data_dir, max_request_bytes=10_000) as client:
        def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: sent chunked
            yield b'{"items": ['
            for _ in range(2000):
                yield b'{"signal_type": "md5", "value": "' + b"0" * 32 + b'"},'
            yield b'{"signal_type": "md5", "value": "' + b"0" * 32 + b'"}]}'

        r = client.post("/v1/match", headers=auth(w.tokens["provider"]), content=chunks())
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "too_large"
        r = client.post("/v1/match", content=chunks())  # and before authentication
        assert r.status_code in (401, 413)


def test_out_of_range_ids_and_limits_are_422(client: TestClient,
                                             factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    assert client.get("/v1/indicators/" + "9" * 30, headers=centre).status_code == 422
    assert client.get("/v1/indicators?limit=-1", headers=centre).status_code == 422
    assert client.get("/v1/authority/reports?limit=0", headers=auth(w.tokens["europol"])).status_code == 422
    r = client.post("/v1/match", headers=auth(w.tokens["provider"]), json={"items": [
        {"signal_type": "vpdq", "value": '[{"pdq": "' + "a" * 64 + '", "quality": null, "timestamp": 0}]'}]})
    assert r.status_code == 422


def test_robust_mode_matches_a_mirrored_picture_and_says_how(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """A provider sends the PDQ of a mirrored copy with its robust variants (`vigil hash
    --robust`): the listed picture is found through the variant that undoes the mirror, and
    the hit says so. Variants without robust mode, or unknown ones, are refused by name."""
    import numpy as np
    from PIL import Image

    from tests.fixtures.world import active_indicator
    from vigil.matching.pdq import pdq_of
    from vigil.matching.robust import robust_pdqs
    from vigil.samples import pattern_image

    w = build_world(factory)
    scene = pattern_image(41, (640, 480)).convert("RGB")
    ind = active_indicator(factory, w, "pdq", pdq_of(np.asarray(scene))[0])
    mirrored = np.asarray(scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    variants = robust_pdqs(mirrored)
    item = {"signal_type": "pdq", "value": variants["original"], "variants": variants}
    provider = auth(w.tokens["provider"])
    plain = client.post("/v1/match", headers=provider, json={"items": [
        {"signal_type": "pdq", "value": variants["original"]}]})
    assert plain.json()["results"][0]["verdict"] == "no_match"
    # Robust hits count only on lists the Centre opted in.
    r = client.post("/v1/match", headers=provider, json={"robust": True, "items": [item]})
    assert r.status_code == 200 and r.json()["results"][0]["verdict"] == "no_match", r.text
    r = client.patch("/v1/lists/known-material", headers=auth(w.tokens["centre"]),
                     json={"robust": True})
    assert r.status_code == 200 and r.json()["robust"] is True
    assert r.json()["pdq_threshold"] == 31  # left as it was
    client.app.state.vigil.matcher.sync(factory)
    r = client.post("/v1/match", headers=provider, json={"robust": True, "items": [item]})
    assert r.status_code == 200, r.text
    (hit,) = r.json()["results"][0]["matches"]
    assert hit["indicator_id"] == ind and hit["variant"] == "flip_y" and hit["distance"] <= 31
    assert r.json()["results"][0]["verdict"] == "verified_match"
    r = client.post("/v1/match", headers=provider, json={"items": [item]})
    assert r.status_code == 422 and "robust" in r.text
    r = client.post("/v1/match", headers=provider, json={"robust": True, "items": [
        {**item, "variants": {"sideways": variants["original"]}}]})
    assert r.status_code == 422 and "unknown variant 'sideways'" in r.text
