"""A per-key sliding-window rate limit, kept in the server process (each worker counts its own
requests: with N workers a key gets at most N times the limit, which is acceptable for the
public forms it protects)."""

from __future__ import annotations

import threading
import time
from collections import deque

from vigil.errors import RateLimited


class RateLimiter:
    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, what: str = "requests") -> None:
        """Count one request for ``key``; raises :class:`RateLimited` over the limit."""
        t = time.monotonic()
        with self._lock:
            if len(self._hits) > 100_000:  # bounded memory under a flood of distinct keys
                self._hits.clear()
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= t - self.period:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = max(1, int(hits[0] + self.period - t) + 1)
                window = (f"{int(self.period // 60)} minutes" if self.period > 60
                          else f"{int(self.period)} seconds")
                raise RateLimited(f"too many {what}: at most {self.limit} per {window}; try "
                                  f"again in {retry} s", retry_after=retry)
            hits.append(t)


class DailyQuota:
    """A per-key amount per UTC day (hashes matched), counted in this server worker."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._day = ""
        self._used: dict[str, int] = {}

    def take(self, key: str, amount: int, what: str = "hashes") -> None:
        import datetime as dt

        t = dt.datetime.now(dt.UTC)
        today = t.date().isoformat()
        with self._lock:
            if today != self._day:
                self._day, self._used = today, {}
            used = self._used.get(key, 0)
            if used + amount > self.limit:
                midnight = dt.datetime.combine(t.date() + dt.timedelta(days=1), dt.time(),
                                               tzinfo=dt.UTC)
                retry = max(1, int((midnight - t).total_seconds()))
                raise RateLimited(f"daily quota of {self.limit:,} {what} for this key reached "
                                  f"({used:,} used); it renews at midnight UTC",
                                  retry_after=retry)
            self._used[key] = used + amount
