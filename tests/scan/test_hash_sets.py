"""``vigil scan --against`` with the hash sets examiners hold: a Project VIC VICS 1.3 file (its
category, series and "victim identified" carried to every hit, its vics.json readable by the one
VICS reader) and a folder kept by ``vigil sync`` (its signatures checked, its trust taken).
In process, the scan's pool swapped for threads (the pool itself: test_cli_scan.py). Benign
generated pictures; random hashes; categories are labels."""

from __future__ import annotations

import hashlib
import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.exchange.helpers import add_active, provider_sync
from tests.fixtures.seized import scene
from tests.fixtures.world import build_world
from vigil import executors
from vigil.cli import app
from vigil.matching.hashing import hash_image_bytes
from vigil.matching.vics import CONTEXT_13, VicsMedia, read_vics, write_vics


@pytest.fixture(autouse=True)
def threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executors, "batch_executor", lambda *a, **k: ThreadPoolExecutor(2))


def seized(tmp_path: Path) -> Path:
    src = tmp_path / "seized"
    (src / "dcim").mkdir(parents=True)
    (src / "a.jpg").write_bytes(scene(1))
    (src / "dcim" / "a-copy.jpg").write_bytes(scene(1))
    (src / "b.png").write_bytes(scene(2, "PNG"))
    (src / "c.jpg").write_bytes(scene(3))
    return src


def scan(tmp_path: Path, src: Path, *against: Path) -> dict[str, dict[str, Any]]:
    out = tmp_path / "out"
    args = ["scan", str(src), "--out", str(out), "--jobs", "1"]
    for a in against:
        args += ["--against", str(a)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    return {row["path"][len(str(src)) + 1:]: row
            for row in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


def test_scan_against_a_vics_file_carries_category_series_and_victim_identified(
        tmp_path: Path) -> None:
    src = seized(tmp_path)
    case = tmp_path / "case-2026-17.json"  # told by its content, not its name
    case.write_bytes(write_vics([
        VicsMedia(101, 2, hashlib.md5(scene(1)).hexdigest(), series="Garden",
                  victim_identified=True),
        VicsMedia("vic-102", 1, pdq=hash_image_bytes(scene(2, "PNG")).pdq, series="Kitchen",
                  victim_identified=False),
        VicsMedia(103, 3, secrets.token_hex(16), secrets.token_hex(20), "QUJD" * 48),
    ]))
    rows = scan(tmp_path, src, case)
    for path in ("a.jpg", "dcim/a-copy.jpg"):
        (hit,) = rows[path]["matches"]
        assert (hit["list"], hit["trust"], hit["signal_type"], hit["id"]) == (
            str(case), "unverified", "md5", "101")
        assert (hit["category"], hit["series"], hit["victim_identified"]) == ("2", "Garden", True)
        assert rows[path]["match_verdict"] == "unverified_match"  # a reason for review
    (hit,) = rows["b.png"]["matches"]
    assert (hit["signal_type"], hit["distance"], hit["id"]) == ("pdq", 0, "vic-102")
    assert (hit["category"], hit["series"], hit["victim_identified"]) == ("1", "Kitchen", False)
    assert rows["c.jpg"]["verdict"] == "unknown" and rows["c.jpg"]["matches"] == []

    # The scan's own VICS file, through the one reader: one medium per MD5, the category the
    # hash set gave, the copies as its MediaFiles.
    read = read_vics((tmp_path / "out" / "vics.json").read_bytes(), max_bytes=10**6,
                     max_records=100)
    assert read.problems == []
    by_md5 = {m.md5: m for m in read.media}
    a = by_md5[hashlib.md5(scene(1)).hexdigest()]
    assert (a.category, a.series, a.victim_identified, a.is_precategorized) == (
        2, "Garden", True, True)
    assert [(f.file_path, f.file_name, f.md5) for f in a.media_files] == [
        (str(src), "a.jpg", a.md5), (str(src / "dcim"), "a-copy.jpg", a.md5)]
    assert a.relative_file_path == str(src / "a.jpg")
    assert a.pdq == hash_image_bytes(scene(1)).pdq and a.media_size == len(scene(1))
    c = by_md5[hashlib.md5(scene(3)).hexdigest()]
    assert (c.category, c.series, c.is_precategorized) == (None, None, False)


def test_a_bad_vics_file_stops_the_scan_before_any_work(tmp_path: Path) -> None:
    src = seized(tmp_path)
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"odata.metadata": CONTEXT_13, "value": [
        {"MediaID": 1, "MD5": secrets.token_hex(16)}, {"MediaID": 2, "MD5": "not-a-hash"}]}))
    r = CliRunner().invoke(app, ["scan", str(src), "--out", str(tmp_path / "out"),
                                 "--against", str(case)])
    assert r.exit_code == 2
    assert "case.json, VICS record value[1] (MediaID 2): MD5" in r.output
    assert not (tmp_path / "out").exists()


def test_scan_against_a_synced_folder_takes_its_verified_trust(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path) -> None:
    world = build_world(factory)
    known = add_active(factory, world, "md5", hashlib.md5(scene(1)).hexdigest(), label="A1")
    folder = tmp_path / "known-material"
    provider_sync(client, world, folder).sync()
    rows = scan(tmp_path, seized(tmp_path), folder)
    (hit,) = rows["a.jpg"]["matches"]
    # The folder's snapshot was signed by the server and checked with the key the sync pinned:
    # its own trust (two organisations verified the hash) is taken.
    assert (hit["list"], hit["trust"], hit["id"], hit["label"]) == (
        "known-material", "verified", str(known), "A1")
    assert rows["a.jpg"]["match_verdict"] == "verified_match"
    # A vigil list's entries carry no VICS facts: the server's snapshot does not hold them.
    assert (hit["category"], hit["series"], hit["victim_identified"]) == (None, None, None)
    assert rows["b.png"]["verdict"] == rows["c.jpg"]["verdict"] == "unknown"
