"""List snapshots: built once per list version, kept on disk, streamed, with a strong ETag."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.world import World, active_indicator, build_world
from vigil.audit.models import AuditEvent
from vigil.db import session_factory, transaction
from vigil.errors import NotFound
from vigil.indicators import feeds
from vigil.indicators import service as indicators
from vigil.indicators.snapshots import SnapshotStore, etag_matches
from vigil.translog.sth import TreeHeadSigner

URL = "/v1/lists/known-material/snapshot"
PDQ = "f0" * 32


def _get(client: TestClient, w: World, who: str = "provider", **headers: str) -> Any:
    return client.get(URL, headers={**auth(w.tokens[who]), **headers})


def test_same_version_same_bytes_and_etag_and_the_signature_covers_what_is_served(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path) -> None:
    w = build_world(factory)
    active_indicator(factory, w, "pdq", PDQ)
    # A label that JSON must escape: the file must still be the canonical form the client
    # re-creates to check the signature.
    with transaction(factory) as s:
        (ind,) = indicators.propose(s, w.principals["centre"], [indicators.Proposal(
            "md5", "5d41402abc4b2a76b9719d911017c592", "known-material", "test",
            label='Zürich "x"\\')])
        indicators.verify(s, w.principals["partner"], ind.id)
    first, second = _get(client, w), _get(client, w, "auditor")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content  # one file for every principal: no per-caller view
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["etag"].startswith('"') and not first.headers["etag"].startswith("W/")
    assert first.headers["content-length"] == str(len(first.content))
    assert "private" in first.headers["cache-control"]
    snap = json.loads(first.content)
    feeds.verify(snap, load_pem_public_key(client.get("/v1/log/key").content))  # type: ignore[arg-type]
    # Every served field is covered by the signature (verify re-creates the canonical form of
    # all but "signature"); "format" comes first, where readers look for it.
    assert first.content.startswith(b'{"format":"vigil-list-v1","type":"snapshot"')
    assert json.loads(first.content) == {**json.loads(feeds.canonical(
        {k: v for k, v in snap.items() if k != "signature"})), "signature": snap["signature"]}
    assert {e["label"] for e in snap["entries"]} == {None, 'Zürich "x"\\'}
    files = sorted(p.name for p in (data_dir / "snapshots").glob("*.json"))
    assert len([f for f in files if not f.endswith(".meta.json")]) == 1


def test_a_large_snapshot_is_read_by_vigil_match_with_its_signature_checked(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path) -> None:
    w = build_world(factory)
    for i in range(60):  # more than the first 4 KB in which a reader looks for "format"
        active_indicator(factory, w, "pdq", f"{i:02x}" * 32)
    r = _get(client, w)
    assert len(r.content) > 4096
    (tmp_path / "snapshot.json").write_bytes(r.content)
    (tmp_path / "key.pem").write_bytes(client.get("/v1/log/key").content)
    proc = subprocess.run([sys.executable, "-m", "vigil", "match", "--list",
                           str(tmp_path / "snapshot.json"), "--public-key",
                           str(tmp_path / "key.pem"), "pdq:" + "05" * 32],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert '"trust": "verified"' in proc.stdout or '"trust":"verified"' in proc.stdout
    tampered = r.content.replace(b"05" * 32, b"06" * 32)
    (tmp_path / "snapshot.json").write_bytes(tampered)
    proc = subprocess.run([sys.executable, "-m", "vigil", "match", "--list",
                           str(tmp_path / "snapshot.json"), "--public-key",
                           str(tmp_path / "key.pem"), "pdq:" + "05" * 32],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0 and "signature is invalid" in proc.stderr


def test_if_none_match_answers_304_without_a_body_and_is_recorded(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    active_indicator(factory, w, "pdq", PDQ)
    etag = _get(client, w).headers["etag"]
    r = _get(client, w, **{"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert _get(client, w, **{"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert _get(client, w, **{"If-None-Match": '"not-the-etag"'}).status_code == 200
    with transaction(factory) as s:
        details = [json.loads(e.details or "{}") for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action == "list:snapshot_downloaded"))]
    assert [d.get("not_modified", False) for d in details] == [False, True, True, False]


def test_a_change_to_the_list_gives_a_new_etag_and_new_content(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    first_id = active_indicator(factory, w, "pdq", PDQ)
    before = _get(client, w)
    active_indicator(factory, w, "pdq", "0f" * 32)
    after = _get(client, w, **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert {e["value"] for e in json.loads(after.content)["entries"]} == {PDQ, "0f" * 32}
    assert json.loads(after.content)["seq"] > json.loads(before.content)["seq"]
    # A retraction and a new threshold are new versions too.
    client.post(f"/v1/indicators/{first_id}/retract", headers=auth(w.tokens["centre"]),
                json={"reason": "wrong"})
    retracted = _get(client, w)
    assert [e["value"] for e in json.loads(retracted.content)["entries"]] == ["0f" * 32]
    r = client.patch("/v1/lists/known-material", headers=auth(w.tokens["centre"]),
                     json={"pdq_threshold": 20})
    assert r.status_code == 200, r.text
    lowered = _get(client, w)
    assert json.loads(lowered.content)["pdq_threshold"] == 20
    assert len({before.headers["etag"], after.headers["etag"], retracted.headers["etag"],
                lowered.headers["etag"]}) == 4
    # A change to another list leaves this one's version alone.
    active_indicator(factory, w, "pdq", "ff" * 32, list_name="non-material")
    assert _get(client, w, **{"If-None-Match": lowered.headers["etag"]}).status_code == 304


def test_old_versions_are_deleted_beyond_the_setting(db_url: str, data_dir: Path,
                                                     factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with make_client(db_url, data_dir, snapshot_versions_kept=2) as client:
        for i in range(5):
            active_indicator(factory, w, "pdq", f"{i:02x}" * 32)
            assert _get(client, w).status_code == 200
        assert _get(client, w).status_code == 200  # the current one again: no new file
    names = [p.name for p in (data_dir / "snapshots").iterdir()]
    assert len([n for n in names if n.endswith(".meta.json")]) == 2
    assert len([n for n in names if n.endswith(".json") and not n.endswith(".meta.json")]) == 2
    assert not [n for n in names if n.startswith(".tmp")]


def test_unknown_list_is_404_and_no_file_is_written(client: TestClient,
                                                   factory: sessionmaker[Session],
                                                   data_dir: Path) -> None:
    w = build_world(factory)
    r = client.get("/v1/lists/nope/snapshot", headers=auth(w.tokens["provider"]))
    assert r.status_code == 404 and "no list named 'nope'" in r.text
    assert not list((data_dir / "snapshots").glob("*.json"))
    assert client.get(URL).status_code == 401


def test_concurrent_requests_for_one_version_build_it_once(
        engine: Any, factory: sessionmaker[Session], tmp_path: Path,
        monkeypatch: Any) -> None:
    w = build_world(factory)
    active_indicator(factory, w, "pdq", PDQ)
    store = SnapshotStore(tmp_path / "snapshots", keep=3)
    signer = TreeHeadSigner.generate()
    builds = []
    real_write = SnapshotStore._write

    def slow_write(self: SnapshotStore, *args: Any) -> Any:
        builds.append(1)
        time.sleep(0.3)  # long enough for the other request to arrive meanwhile
        return real_write(self, *args)

    monkeypatch.setattr(SnapshotStore, "_write", slow_write)
    results: list[Any] = []

    def fetch() -> None:
        snap, fh = store.get(session_factory(engine), "known-material", signer)
        with fh:
            results.append((snap.etag, fh.read()))

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert len(results) == 2 and results[0] == results[1]
    try:
        store.get(session_factory(engine), "nope", signer)
        raise AssertionError("unknown list built")
    except NotFound:
        pass


def test_etag_matching_follows_http_rules() -> None:
    assert etag_matches('"a-1"', '"a-1"') and etag_matches('W/"a-1"', '"a-1"')
    assert etag_matches('"x", "a-1"', '"a-1"') and etag_matches("*", '"a-1"')
    assert not etag_matches(None, '"a-1"') and not etag_matches('"a-2"', '"a-1"')
    assert not etag_matches("a-1", '"a-1"')  # unquoted: not an entity tag
