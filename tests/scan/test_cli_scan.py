"""``vigil scan`` as an examiner runs it: a real subprocess and its worker pool, every output
written, a bad hash set or option refused before any work, and a stopped scan resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.seized import scene, tar_bytes, zip_bytes
from vigil.matching.hashing import hash_image_bytes


def vigil(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True,
                          text=True, timeout=300, check=False, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_scan_writes_every_output(tmp_path: Path) -> None:
    src = tmp_path / "seized"
    src.mkdir()
    (src / "a.jpg").write_bytes(scene(1))
    (src / "b.zip").write_bytes(zip_bytes({"c.jpg": scene(2), "../up": b"x"}))
    (src / "d.tgz").write_bytes(tar_bytes({"e.jpg": scene(1)}))
    hashes = tmp_path / "set.jsonl"
    hashes.write_text(json.dumps({"signal_type": "pdq", "value": hash_image_bytes(scene(1)).pdq,
                                  "category": "1", "series": "Garden"}) + "\n")
    proc = vigil("scan", str(src), "--against", str(hashes), "--out", str(tmp_path / "out"),
                 "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "4 files: 2 known (0 verified, 2 unverified: review before acting)" in proc.stderr
    assert "1 errors" in proc.stderr
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"results.jsonl", "results.csv", "vics.json",
                                               "report.html", "summary.json", "journal.jsonl"}
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["path"][len(str(src)) + 1:] for r in rows] == ["a.jpg", "b.zip!/c.jpg",
                                                             "b.zip!/../up", "d.tgz!/e.jpg"]
    assert rows[3]["matches"][0]["series"] == "Garden" and rows[3]["duplicate_group"] == 1
    again = vigil("scan", str(src), "--against", str(hashes), "--out", str(out), "--jobs", "1")
    assert again.returncode == 0 and "resumed: 4 files were hashed before" in again.stderr


def test_bad_hash_sets_and_options_are_refused_before_work(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(scene(1))
    bad = tmp_path / "bad.csv"
    bad.write_text("pdq,not-a-hash\n")
    proc = vigil("scan", str(tmp_path / "a.jpg"), "--against", str(bad), "--out",
                 str(tmp_path / "out"))
    assert proc.returncode == 2 and "bad.csv, line 1" in proc.stderr
    assert not (tmp_path / "out").exists()
    proc = vigil("scan", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "out"),
                 "--dask-scheduler", "tcp://10.9.8.7:8786")
    assert proc.returncode == 2 and "--dask-scheduler" in proc.stderr and "non-public" in proc.stderr
    proc = vigil("scan", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "out"),
                 "--thumbnails", "colour")
    assert proc.returncode == 2 and "--thumbnails" in proc.stderr
