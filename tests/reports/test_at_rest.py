"""Data at rest: the database and the evidence files are the service user's alone, and
ciphertext that no report points at (a crash between writing a file and committing) is swept."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.world import build_world
from tests.reports.test_reports import report_body
from vigil.config import Settings
from vigil.migrations import upgrade
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
    orphan, _ = store.put(b"left behind by a crash", b"aad")
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
