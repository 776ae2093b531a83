"""The database layer refuses, on SQLite and PostgreSQL alike, the values PostgreSQL cannot
hold, with one exception that every boundary turns into an answer naming the problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.db import Unstorable, transaction
from vigil.indicators.models import HashList


def test_text_with_nul_never_reaches_the_database(factory: sessionmaker[Session]) -> None:
    """PostgreSQL's text cannot hold U+0000 (it failed mid-transaction with a DataError);
    SQLite stored it. Both refuse it now, written or compared, one row or many."""
    now = datetime.now(UTC)
    with pytest.raises(Unstorable, match=r"NUL character \(U\+0000\) \(description\)"), \
            transaction(factory) as s:
        s.add_all([HashList(name="fine", trust="verified", pdq_threshold=31, description="",
                            created_at=now),
                   HashList(name="nul", trust="verified", pdq_threshold=31,
                            description="a\x00b", created_at=now)])
    with pytest.raises(Unstorable, match="NUL"), factory() as s:
        s.scalar(select(HashList).where(HashList.name == "a\x00b"))
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(HashList)) == 0  # nothing was written


def test_a_time_without_a_utc_equivalent_is_unstorable(factory: sessionmaker[Session]) -> None:
    """The first minute of year 1 at UTC+1 is before year 1 in UTC: it was an OverflowError
    inside SQLAlchemy (a 500); now it is refused by name."""
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(Unstorable, match="out of range in UTC"), factory() as s:
        s.scalar(select(HashList).where(HashList.created_at >= early))
