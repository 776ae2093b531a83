"""``vigil bench api``'s database preparation: PostgreSQL's bulk path (COPY) and SQLite's
(batched INSERTs) load the same rows, and the server's own code reads them back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tests.fixtures.db import _postgres_database
from vigil.bench.api import ApiBenchSpec, prepare
from vigil.db import make_engine
from vigil.indicators.models import Indicator, ListChange
from vigil.matching.codes import random_codes, unpack_hex


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_prepare_loads_every_indicator_once(backend: str, tmp_path: Path) -> None:
    codes = random_codes(2_500, 4)
    gen = _postgres_database() if backend == "postgresql" else None
    url = next(gen) if gen else None
    try:
        db_url, token = prepare(ApiBenchSpec(size=len(codes), database_url=url), tmp_path, codes)
        assert token
        engine = make_engine(db_url)
        with engine.connect() as conn:
            rows = conn.execute(select(Indicator.id, Indicator.value)
                                .where(text("status = 'active'")).order_by(Indicator.id)).all()
            changes = conn.execute(select(func.count()).select_from(ListChange)).scalar_one()
        assert [r.id for r in rows] == list(range(1, len(codes) + 1))
        assert [r.value for r in rows] == unpack_hex(codes)
        assert changes == len(codes)
        if backend == "postgresql":  # the id sequence moved past the loaded rows
            with engine.connect() as conn:
                nxt = conn.execute(text(
                    "SELECT nextval(pg_get_serial_sequence('indicators', 'id'))")).scalar_one()
            assert nxt == len(codes) + 1
        engine.dispose()
    finally:
        if gen:
            for _ in gen:
                pass
