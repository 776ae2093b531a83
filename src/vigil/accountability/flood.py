"""The flood guard: an indicator that suddenly matches far above its own baseline — a benign
viral image listed by mistake — is quarantined automatically and reviewers are alerted.

Each server worker counts the API matches per indicator in memory (nothing on the hot path
touches the database) and adds them to ``indicator_hits`` (one row per indicator and hour) at
most every few seconds. ``vigil worker`` compares each indicator's current hour with its
average hour over the previous week: more than ``flood_factor`` times that, and at least
``flood_min_hits``, is a flood.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from vigil.accountability.models import IndicatorHits
from vigil.accountability.service import quarantine
from vigil.db import transaction
from vigil.indicators.lifecycle import IndicatorStatus
from vigil.indicators.models import Indicator

BASELINE_HOURS = 7 * 24


def hour_of(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class HitCounter:
    """API matches per indicator, kept in memory and flushed by a thread of its own (a flush
    on a request's path stalled the requests behind it: measured, 10% of throughput)."""

    def __init__(self, flush_every: float = 30.0) -> None:
        self.flush_every = flush_every
        self._lock = threading.Lock()
        self._counts: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, factory: sessionmaker[Session]) -> None:
        def loop() -> None:
            while not self._stop.wait(self.flush_every):
                try:
                    self.flush(factory)
                except Exception:  # a failed flush is retried with the next one's counts lost
                    logging.getLogger("vigil.flood").exception("flushing match counts failed")

        self._thread = threading.Thread(target=loop, name="vigil-hit-counter", daemon=True)
        self._thread.start()

    def stop(self, factory: sessionmaker[Session]) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush(factory)

    def add(self, indicator_ids: list[int]) -> None:
        if indicator_ids:
            with self._lock:
                self._counts.update(indicator_ids)

    def flush(self, factory: sessionmaker[Session], at: datetime | None = None) -> int:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return 0
        hour = hour_of(at or datetime.now(UTC))
        rows = [{"indicator_id": i, "hour": hour, "count": n} for i, n in counts.items()]
        with transaction(factory) as s:
            dialect = s.get_bind().dialect.name
            ins = pg_insert(IndicatorHits) if dialect == "postgresql" else sqlite_insert(IndicatorHits)
            s.execute(ins.on_conflict_do_update(
                index_elements=["indicator_id", "hour"],
                set_={"count": IndicatorHits.count + ins.excluded.count}), rows)
        return len(rows)


def check(session: Session, *, factor: float, min_hits: int,
          at: datetime | None = None) -> list[int]:
    """Quarantine the indicators flooding this hour; returns their ids."""
    hour = hour_of(at or datetime.now(UTC))
    current = session.execute(select(IndicatorHits.indicator_id, IndicatorHits.count).where(
        IndicatorHits.hour == hour, IndicatorHits.count >= min_hits)).all()
    flooded = []
    for ind_id, count in current:
        past = session.scalar(select(func.coalesce(func.sum(IndicatorHits.count), 0)).where(
            IndicatorHits.indicator_id == ind_id, IndicatorHits.hour < hour,
            IndicatorHits.hour >= hour - timedelta(hours=BASELINE_HOURS))) or 0
        baseline = past / BASELINE_HOURS
        if count <= factor * baseline:
            continue
        ind = session.get(Indicator, ind_id, with_for_update=True)
        if ind is None or ind.status != IndicatorStatus.ACTIVE:
            continue
        quarantine(session, ind, "flood",
                   f"indicator {ind_id} quarantined: {count} matches this hour against a "
                   f"baseline of {baseline:.1f} an hour; a benign image listed by mistake? "
                   "Review it, then reinstate or retract it")
        flooded.append(ind_id)
    return flooded
