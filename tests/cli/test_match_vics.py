"""``vigil match --list X.json`` with a Project VIC VICS file: read by the one list reader,
each hit with the media's MediaID and what the file says about it; a bad file refused with the
record named (exit 2). Random hashes; categories are labels."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from typer.testing import CliRunner

from tests.fixtures.seized import scene
from vigil.cli import app
from vigil.matching.hashing import hash_image_bytes
from vigil.matching.vics import CONTEXT_13, VicsMedia, write_vics


def test_match_against_a_vics_file(tmp_path: Path) -> None:
    md5, sha1 = secrets.token_hex(16), secrets.token_hex(20)
    picture = tmp_path / "picture.png"
    picture.write_bytes(scene(5, "PNG"))
    case = tmp_path / "X.json"
    case.write_bytes(write_vics([
        VicsMedia(11, 1, md5, sha1, series="Garden", victim_identified=False),
        VicsMedia(12, pdq=hash_image_bytes(picture.read_bytes()).pdq),
    ]))
    r = CliRunner().invoke(app, ["match", "--list", str(case), f"sha1:{sha1.upper()}",
                                 f"md5:{secrets.token_hex(16)}", str(picture)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [(x["id"], x["signal_type"], x["trust"], x["verdict"]) for x in rows] == [
        ("11", "sha1", "unverified", "unverified_match"), ("12", "pdq", "unverified",
                                                           "unverified_match")]
    assert (rows[0]["category"], rows[0]["series"], rows[0]["victim_identified"]) == (
        "1", "Garden", False)
    assert "category" not in rows[1]  # the file says nothing about that media
    assert "2 match(es); 1 list(s) with 3 entries" in r.output


def test_a_bad_vics_file_is_refused_naming_the_record(tmp_path: Path) -> None:
    case = tmp_path / "X.json"
    case.write_text(json.dumps({"odata.metadata": CONTEXT_13, "value": [
        {"MediaID": 1, "MD5": secrets.token_hex(16), "Series": ["not", "a", "text"]}]}))
    r = CliRunner().invoke(app, ["match", "--list", str(case), f"md5:{secrets.token_hex(16)}"])
    assert r.exit_code == 2
    assert "X.json, VICS record value[0] (MediaID 1): Series must be a text" in r.output
    case.write_text('{"odata.metadata": "' + CONTEXT_13 + '", "value": [')
    r = CliRunner().invoke(app, ["match", "--list", str(case), f"md5:{secrets.token_hex(16)}"])
    assert r.exit_code == 2 and "X.json: not JSON" in r.output
