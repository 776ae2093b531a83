"""A server worker's live index from its memory-mapped file: the same answers as from the
database, catching up from the feed position the file covers, and a damaged or foreign file
refused and rebuilt (never trusted into matching)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, update
from sqlalchemy.orm import Session, sessionmaker

from vigil.bench.api import ApiBenchSpec, prepare
from vigil.db import make_engine, session_factory
from vigil.errors import IndexLoading
from vigil.indicators.matcher import LiveMatcher
from vigil.indicators.models import Indicator, ListChange
from vigil.matching.codes import flip_bits, random_codes, unpack_hex

SIZE = 3000


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[sessionmaker[Session], np.ndarray, Path]:
    codes = random_codes(SIZE, 11)
    url, _ = prepare(ApiBenchSpec(size=SIZE), tmp_path, codes)
    return session_factory(make_engine(url)), codes, tmp_path / "live-index.vmx"


def _queries(codes: np.ndarray) -> list[str]:
    rng = np.random.default_rng(5)
    near = flip_bits(codes[rng.integers(0, len(codes), 40)], rng.integers(0, 30, 40), 6)
    return unpack_hex(np.concatenate([near, random_codes(20, 7)]))


def _answers(m: LiveMatcher, queries: list[str]) -> list[list[tuple[int, int | None]]]:
    return [sorted((int(c.key), c.distance) for c in cands) for cands in m.pdq_candidates(queries)]


def _withdraw(factory: sessionmaker[Session], ind_id: int) -> None:
    with factory.begin() as s:
        s.execute(update(Indicator).where(Indicator.id == ind_id).values(_status="retracted"))
        s.execute(insert(ListChange).values(list_id=1, indicator_id=ind_id, action="withdraw",
                                            at=datetime.now(UTC)))


def test_the_file_answers_like_the_database_and_catches_up(
        seeded: tuple[sessionmaker[Session], np.ndarray, Path]) -> None:
    factory, codes, path = seeded
    queries = _queries(codes)
    from_db = LiveMatcher()
    from_db.sync(factory)  # the old way: the whole feed
    built = LiveMatcher()
    assert built.load(factory, path, min_file=1) == "database"
    assert path.exists() and path.stat().st_mode & 0o077 == 0
    mapped = LiveMatcher()
    assert mapped.load(factory, path, min_file=1) == "file"
    expected = _answers(from_db, queries)
    assert sum(map(len, expected)) >= 40
    assert _answers(built, queries) == expected == _answers(mapped, queries)
    assert len(mapped) == len(from_db) == SIZE

    # A withdrawal after the file was written: a worker starting from the file catches up.
    hit = expected[0][0][0]
    _withdraw(factory, hit)
    late = LiveMatcher()
    assert late.load(factory, path, min_file=1) == "file"
    assert hit not in [k for k, _ in _answers(late, queries)[0]]
    assert len(late) == SIZE - 1
    # ... and the running ones from the feed, as before.
    mapped.sync(factory)
    assert _answers(mapped, queries) == _answers(late, queries)


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign"])
def test_a_damaged_or_foreign_file_is_refused_and_rebuilt(
        seeded: tuple[sessionmaker[Session], np.ndarray, Path], damage: str,
        caplog: pytest.LogCaptureFixture) -> None:
    factory, codes, path = seeded
    queries = _queries(codes)
    reference = LiveMatcher()
    reference.load(factory, path, min_file=1)
    expected = _answers(reference, queries)
    good = path.read_bytes()
    damaged = path.with_name("damaged")
    if damage == "flip":
        data = bytearray(good)
        data[4096 + 100] ^= 0x01  # one bit of one stored hash: a wrong answer if trusted
        damaged.write_bytes(bytes(data))
        damaged.replace(path)
    elif damage == "truncate":
        damaged.write_bytes(good[: len(good) // 2])
        damaged.replace(path)
    else:  # a file from another database: its feed position means something else here
        with factory.begin() as s:
            s.execute(update(ListChange).where(ListChange.seq == SIZE)
                      .values(at=datetime(2001, 1, 1, tzinfo=UTC)))
    m = LiveMatcher()
    assert m.load(factory, path, min_file=1) == "database"
    assert "refused, rebuilding" in caplog.text
    assert _answers(m, queries) == expected
    assert LiveMatcher().load(factory, path, min_file=1) == "file"  # rewritten, valid again


def test_a_small_index_keeps_no_file(seeded: tuple[sessionmaker[Session], np.ndarray, Path]
                                     ) -> None:
    factory, _, path = seeded
    m = LiveMatcher()
    assert m.load(factory, path, min_file=SIZE + 1) == "database"
    assert not path.exists() and len(m) == SIZE


def test_queries_wait_briefly_then_answer_index_loading() -> None:
    m = LiveMatcher()
    m._loading = True  # as start() sets it while the load runs in its thread
    with pytest.raises(IndexLoading) as caught:
        m.pdq_candidates(["0" * 64])
    assert caught.value.status == 503 and caught.value.details["retry_after"] > 0
