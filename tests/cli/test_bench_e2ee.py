"""``vigil bench e2ee`` at a small size: one table per option, and the last line is the JSON
object the issue specifies."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vigil.cli import app
from vigil.samples import encode, pattern_image

OPTIONS = {"server", "psi", "threshold", "psi_perceptual"}
FIGURES = {"setup_bytes", "query_bytes", "query_ms", "server_cpu_ms", "recall",
           "false_positive_rate", "server_learns", "device_learns"}


def test_bench_e2ee_prints_one_object_per_option(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(encode(pattern_image(7), "JPEG"))
    record = tmp_path / "bench.md"
    result = CliRunner().invoke(app, [
        "bench", "e2ee", "--size", "1000", "--images", str(tmp_path / "photos"), "--scenes", "0",
        "--unrelated", "2", "--uploads", "40", "--threshold", "3", "--record", str(record)])
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(last) == OPTIONS
    for name in OPTIONS:
        assert set(last[name]) == FIGURES
        assert 0.0 <= last[name]["recall"] <= 1.0
    assert last["server"]["setup_bytes"] == 0 and last["psi"]["setup_bytes"] > 0
    assert last["server"]["recall"] > 0  # edits of the listed photo within 31 are found
    assert "bench e2ee" in record.read_text()


def test_bench_e2ee_refuses_bad_parameters() -> None:
    result = CliRunner().invoke(app, ["bench", "e2ee", "--chunks", "7", "--size", "1000"])
    assert result.exit_code == 2 and "chunks must be one of" in result.output
