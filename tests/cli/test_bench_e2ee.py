"""``vigil bench e2ee`` at a small size: one table per option, and the last line is the JSON
object the issue specifies."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from vigil.cli import app
from vigil.samples import encode, pattern_image

OPTIONS = {"server", "psi", "threshold", "psi_perceptual"}
FIGURES = {"setup_bytes", "setup_s", "query_bytes", "query_ms", "server_cpu_ms", "recall",
           "false_positive_rate", "server_learns", "device_learns", "network_observer_learns"}


def test_bench_e2ee_prints_one_object_per_option(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(encode(pattern_image(7), "JPEG"))
    record = tmp_path / "bench.md"
    result = CliRunner().invoke(app, [
        "bench", "e2ee", "--size", "1000", "--images", str(tmp_path / "photos"), "--scenes", "0",
        "--unrelated", "2", "--uploads", "40", "--threshold", "3", "--device-list-entries", "20",
        "--record", str(record)])
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(last) == OPTIONS
    for name in OPTIONS:
        assert set(last[name]) == FIGURES
        assert 0.0 <= last[name]["recall"] <= 1.0
    assert last["server"]["setup_bytes"] == 0 and last["psi"]["setup_bytes"] > 0
    assert last["server"]["recall"] > 0  # edits of the listed photo within 31 are found
    # Each option's table is shown as it is measured, before the rest of the study.
    out = result.stderr
    assert out.count("setup_bytes") == 4 and out.rindex("setup_bytes") < out.index("perceptual PSI")
    text = record.read_text()
    assert "bench e2ee" in text and "Device list (the real export, option psi): 20 entries" in text
    assert "synthetic vouchers (decoding capped at 100)" in text


def test_bench_e2ee_refuses_a_missing_folder_and_a_file_that_is_no_picture(tmp_path: Path) -> None:
    """Review of issue 19, finding 13: a clean error naming the problem, not a traceback."""
    args = ["bench", "e2ee", "--size", "1000", "--scenes", "0", "--device-list-entries", "0"]
    result = CliRunner().invoke(app, [*args, "--images", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "isnotafolder" in _flat(result.output)
    (tmp_path / "x.jpg").write_bytes(b"not a picture")
    result = CliRunner().invoke(app, [*args, "--images", str(tmp_path)])
    assert result.exit_code == 2
    assert "x.jpg:notapicturethisbenchmarkcanread" in _flat(result.output)


def _flat(output: str) -> str:
    """The output without rich's box and line breaks (long paths wrap)."""
    return re.sub(r"[\s│]+", "", output)


def test_bench_e2ee_refuses_bad_parameters() -> None:
    result = CliRunner().invoke(app, ["bench", "e2ee", "--chunks", "7", "--size", "1000"])
    assert result.exit_code == 2 and "chunks must be one of" in result.output
