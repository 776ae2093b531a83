"""Data at rest: the database and the evidence files are the service user's alone, and
ciphertext that no report points at (a crash between writing a file and committing) is swept."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.workspace import enrol
from tests.fixtures.world import build_world
from tests.reports.test_reports import report_body
from vigil.config import Settings
from vigil.db import ColumnKeyMissing, open_text, personal_columns, private_dir, seal_text, transaction, use_column_key
from vigil.migrations import upgrade
from vigil.orgs import accounts
from vigil.reports.storage import FileStore, load_file_key
from vigil.samples import encode, pattern_image
from vigil.worker import Worker


def test_a_new_data_directory_is_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    url = f"sqlite:///{data / 'vigil.db'}"
    upgrade(url)  # `vigil db upgrade` creates the file, as an operator's first step does
    with make_client(url, data):
        pass
    for path in (data, data / "vigil.db", data / "files"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_evidence_is_private_and_wide_folders_are_narrowed(tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir(mode=0o777)
    root.chmod(0o777)  # made by hand, or by an older version
    store = FileStore(root, bytes(32))
    key, _, _ = store.put(b"ciphertext to be", b"aad")
    stored = root / key[:2] / key
    for path in (root, stored.parent, stored):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    private_dir(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_orphan_ciphertext_is_swept(client: TestClient, factory: sessionmaker[Session],
                                    data_dir: Path) -> None:
    w = build_world(factory)

    r = client.post("/v1/reports/multipart", headers=auth(w.tokens["provider"]),
                    data={"report": json.dumps(report_body(hashes=[]))},
                    files=[("files", ("a.jpg", encode(pattern_image(3)), "image/jpeg"))])
    assert r.status_code == 201
    settings = Settings(data_dir=data_dir, environment="test")
    store = FileStore(data_dir / "files", load_file_key(settings))
    kept = {p.name for p in (data_dir / "files").rglob("*") if p.is_file()}
    orphan, _, _ = store.put(b"left behind by a crash", b"aad")
    half = data_dir / "files" / "ab" / "ab0123.tmp"
    half.parent.mkdir(exist_ok=True)
    half.write_bytes(b"half written")
    old = time.time() - 7200
    for p in (data_dir / "files").rglob("*"):
        if p.is_file():
            os.utime(p, (old, old))
    result = Worker(factory, factory, settings=settings, store=store).retention()
    assert result is not None and result.orphans_deleted == 2
    left = {p.name for p in (data_dir / "files").rglob("*") if p.is_file()}
    assert left == kept and orphan not in left


MARK = "zq-personal-7731"  # a marker that must never be found in the database in clear


def _raw(factory: sessionmaker[Session], table: str, column: str) -> list[str]:
    with factory() as s:
        return [v for (v,) in s.execute(text(f"SELECT {column} FROM {table}")) if v is not None]


def test_personal_columns_are_sealed_in_the_database(client: TestClient,
                                                     factory: sessionmaker[Session]) -> None:
    """Every column declared personal (found from the models, so a new one is covered) is
    written sealed by the flow that fills it, and read back in clear through the API."""
    w = build_world(factory)
    body = report_body(urgent=True, urgent_reason=f"ongoing {MARK}",
                       users=[{"user_ids": [MARK], "ips": [{"ip": "193.99.144.80",
                                                            "at": "2026-11-01T09:59:00Z"}]}])
    r = client.post("/v1/reports", headers=auth(w.tokens["provider"]), json=body)
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    assert client.post("/v1/public/url-reports", json={
        "url": "http://example.org/p", "description": f"seen by {MARK}"}).status_code == 202
    assert client.post("/v1/public/complaints", json={
        "provider": "Provider", "reference": "r1", "statement": f"mine, {MARK}"}).status_code == 201
    assert client.post("/v1/hotlines", headers=auth(w.tokens["centre"]), json={
        "country": "NL", "name": "Meldpunt", "kind": "webhook", "url": "https://meldpunt.test/h",
        "secret": f"secret {MARK}"}).status_code == 201
    with transaction(factory) as s:  # a reviewer sets up an authenticator
        enrol(accounts.create_account(s, None, w.principals["centre"].organisation_id,
                                      "reviewer-at-rest", "reviewer").account)
    columns = personal_columns()
    assert {f"{t.name}.{c.name}" for t, c in columns} >= {
        "reports.details", "reports.urgent_reason", "url_reports.description",
        "complaints.statement", "staff_accounts.totp_secret", "partner_hotlines.secret"}
    for table, col in columns:
        stored = _raw(factory, table.name, col.name)
        assert stored, f"no flow in this test fills {table.name}.{col.name}"
        for value in stored:
            assert value.startswith("pd1:") and MARK not in value, (table.name, col.name)
    # Those who may read them see them as written.
    Worker(factory, factory).run_once()
    got = client.get(f"/v1/review/{report_id}", headers=auth(w.tokens["centre"])).json()
    assert got["urgent_reason"] == f"ongoing {MARK}"
    assert MARK in json.dumps(got["details"])
    listed = client.get("/v1/url-reports", headers=auth(w.tokens["centre"])).json()
    assert [u["description"] for u in listed] == [f"seen by {MARK}"]
    listed = client.get("/v1/complaints", headers=auth(w.tokens["centre"])).json()
    assert [c["statement"] for c in listed] == [f"mine, {MARK}"]


def test_values_from_before_sealing_are_read_and_then_sealed(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path) -> None:
    w = build_world(factory)
    assert client.post("/v1/public/url-reports", json={
        "url": "http://example.org/q", "description": "x"}).status_code == 202
    with factory.begin() as s:  # as an older version wrote it
        s.execute(text("UPDATE url_reports SET description = 'written in clear'"))
    listed = client.get("/v1/url-reports", headers=auth(w.tokens["centre"])).json()
    assert [u["description"] for u in listed] == ["written in clear"]
    settings = Settings(data_dir=data_dir, environment="test")
    store = FileStore(data_dir / "files", load_file_key(settings))
    result = Worker(factory, factory, settings=settings, store=store).retention()
    assert result is not None and result.personal_sealed == 1
    (stored,) = _raw(factory, "url_reports", "description")
    assert stored.startswith("pd1:")
    listed = client.get("/v1/url-reports", headers=auth(w.tokens["centre"])).json()
    assert [u["description"] for u in listed] == ["written in clear"]


def test_sealed_values_do_not_open_elsewhere_or_without_their_key() -> None:
    use_column_key(bytes(32))
    sealed = seal_text("a statement", "complaints.statement")
    assert open_text(sealed, "complaints.statement") == "a statement"
    with pytest.raises(InvalidTag):  # moved into another column
        open_text(sealed, "reports.details")
    unknown = "pd1:000000000000:" + sealed.rsplit(":", 1)[1]
    with pytest.raises(ColumnKeyMissing, match="VIGIL_FILE_KEY"):
        open_text(unknown, "complaints.statement")


@given(st.text(max_size=300))
def test_sealing_round_trips_any_text(value: str) -> None:
    use_column_key(bytes(range(32)))
    sealed = seal_text(value, "reports.details")
    assert open_text(sealed, "reports.details") == value
    assert sealed.startswith("pd1:")
