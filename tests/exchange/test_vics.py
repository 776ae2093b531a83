"""A VICS file goes into a list and comes back out of it (``vigil exchange import`` /
``export``) with its flags, series, PhotoDNA and PDQ; the format itself is tested in
tests/matching/test_vics.py. Hashes are random; categories are labels."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.world import build_world
from vigil.config import Settings
from vigil.db import transaction
from vigil.errors import Invalid
from vigil.exchange.programmes import programme_for
from vigil.indicators import service as indicators
from vigil.indicators.models import Indicator
from vigil.matching.vics import CONTEXT_13, VicsMedia, read_vics, write_vics
from vigil.sharing.exports import export_list
from vigil.sharing.imports import run_import

LIMITS = {"max_bytes": 10_000_000, "max_records": 10_000}


def _doc(*records: object) -> bytes:
    return json.dumps({"odata.metadata": CONTEXT_13, "value": list(records)}).encode()


def test_a_vics_file_goes_into_a_list_and_comes_back_out(
        factory: sessionmaker[Session], data_dir: Path, tmp_path: Path) -> None:
    w = build_world(factory)
    originals = [VicsMedia(10 + i, i % 3, secrets.token_hex(16), secrets.token_hex(20),
                           "QUJD" * 48 if i == 0 else None, "series-a" if i < 2 else None,
                           i == 0, False, True if i else None,
                           pdq=secrets.token_hex(32) if i == 2 else None) for i in range(3)]
    records = [json.loads(write_vics([m]))["value"][0] for m in originals]
    # Where the media were found in one case stays with that case: not kept, not exported.
    records[1] |= {"MediaFiles": [{"FileName": "x.jpg", "FilePath": "Users/a"}],
                   "RelativeFilePath": "Users/a/x.jpg", "MediaSize": 123}
    path = tmp_path / "case.json"
    path.write_bytes(_doc(*records, {"MediaID": 99, "MD5": "not-a-hash"}))
    settings = Settings(data_dir=data_dir, environment="test")
    done = run_import(factory, programme_for("vics", settings, path=path), "known-material",
                      legal_basis="case file (test)")
    assert done.tally.proposed == 7 and done.tally.skipped == 1  # 3 MD5, 3 SHA1, 1 PDQ
    assert done.tally.problems[0][0] == "MediaID 99"
    with transaction(factory) as s:
        rows = list(s.scalars(select(Indicator)))
        assert {r.status for r in rows} == {"pending"}
        assert {r.label for r in rows} == {"VICS category 0", "VICS category 1", "VICS category 2"}
        # Nothing is shared before a second organisation verified it...
        assert json.loads(export_list(s, "known-material", "vics").data)["value"] == []
        for r in rows:
            indicators.verify(s, w.principals["partner"], r.id)
    with transaction(factory) as s:
        out = export_list(s, "known-material", "vics")
    assert out.exported == 7
    back = read_vics(out.data, **LIMITS)
    assert sorted(back.media, key=lambda m: str(m.media_id)) == originals
    with pytest.raises(Invalid, match="not JSON"):
        bad = tmp_path / "bad.json"
        bad.write_text("{")
        programme_for("vics", settings, path=bad).pages(None)
