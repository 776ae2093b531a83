"""``vigil bench snapshot`` on a small list: a real server, the build, repeats and a 304."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_snapshot_prints_json_last_and_records(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vigil", "bench", "snapshot", "--entries",
                           "2000", "--repeats", "2", "--record", str(tmp_path / "bench.md")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["entries"] == 2000 and result["bytes"] > 2000 * 100
    assert result["files_on_disk"] == 2  # one version: the snapshot and its meta file
    assert 0 < result["repeat_first_byte_s"] <= result["repeat_total_s"]
    assert result["not_modified_s"] > 0
    recorded = (tmp_path / "bench.md").read_text()
    assert "### bench snapshot — " in recorded and "| If-None-Match (304) |" in recorded


def test_bench_snapshot_refuses_a_bad_count() -> None:
    proc = subprocess.run([sys.executable, "-m", "vigil", "bench", "snapshot", "--entries", "0"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "--entries" in proc.stderr
