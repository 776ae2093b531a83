"""The settings reference of docs/operations.md is generated from ``Settings`` and kept up to
date; every setting says what it is for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vigil.cli.settings import BEGIN, END, reference_markdown, undocumented, with_reference
from vigil.config import Settings

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_guide_holds_the_current_reference() -> None:
    text = GUIDE.read_text()
    assert with_reference(text) == text, (
        "docs/operations.md's settings reference is out of date: run "
        "`.venv/bin/vigil settings --write docs/operations.md`")


def test_every_setting_is_in_it_with_its_text() -> None:
    assert undocumented() == [], "add a #: comment above these fields in config.py"
    table = reference_markdown()
    rows = [line for line in table.splitlines() if line.startswith("| `VIGIL_")]
    assert len(rows) == len(Settings.model_fields)
    row = next(r for r in rows if r.startswith("| `VIGIL_MATCH_MAX_ITEMS`"))
    assert row == ("| `VIGIL_MATCH_MAX_ITEMS` | integer (> 0, ≤ 10,000) | `1000` | Largest batch a "
                   "provider may send to POST /v1/match. |")
    row = next(r for r in rows if r.startswith("| `VIGIL_TRUSTED_PROXIES`"))
    assert "| list (comma-separated, or a JSON list) | none |" in row
    assert "X-Forwarded-For" in row
    assert "| one of `development`, `test`, `production` | `development` |" in table


def test_the_command_prints_it_and_rewrites_only_the_marked_section(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "vigil", "settings"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out == reference_markdown()
    doc = tmp_path / "guide.md"
    doc.write_text(f"# Guide\n\nbefore\n\n{BEGIN}\nstale\n{END}\n\nafter\n")
    proc = subprocess.run([sys.executable, "-m", "vigil", "settings", "--write", str(doc)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    text = doc.read_text()
    assert text.startswith("# Guide\n\nbefore\n\n") and text.endswith(f"{END}\n\nafter\n")
    assert "stale" not in text and "`VIGIL_DATA_DIR`" in text


def test_a_file_without_the_markers_is_left_alone(tmp_path: Path) -> None:
    doc = tmp_path / "other.md"
    doc.write_text("# Something else\n")
    proc = subprocess.run([sys.executable, "-m", "vigil", "settings", "--write", str(doc)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "markers" in proc.stderr and "Traceback" not in proc.stderr
    assert doc.read_text() == "# Something else\n"
    with pytest.raises(ValueError, match="missing"):
        with_reference(f"{END}\n{BEGIN}\n")
