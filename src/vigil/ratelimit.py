"""Rate limits and quotas, counted in one store that every server worker shares.

The counting is the ``limits`` library's: in this process's memory by default (one server
worker), in Redis when ``VIGIL_REDIS_URL`` is set, so that N workers give a key the limit
once, not N times (docs/dev/decisions/0017-shared-limits.md). Two strategies:

- a **moving window** for request rates (:class:`RateLimiter`): exactly ``limit`` hits in any
  ``period`` seconds, and the time until the oldest one leaves the window is the honest
  Retry-After;
- a **fixed window aligned to the UTC day** for amounts (:class:`DailyQuota`): one counter per
  key and date, taken ``amount`` at a time, all or nothing, renewing at midnight UTC.

When the shared store cannot be reached, a limit is **closed**: the request gets 503
``unavailable`` (never an unlimited pass), the failure is logged and counted
(``vigil_limit_storage_errors_total``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from limits import RateLimitItemPerDay, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from vigil.errors import RateLimited, Unavailable

log = logging.getLogger("vigil.limits")

T = TypeVar("T")

#: Seconds a Redis command may take before the limit counts as unavailable: a limit must
#: never hold a request for long.
REDIS_TIMEOUT = 0.5


class LimitStoreUnreachable(Exception):
    """The configured Redis does not answer (raised by :meth:`LimitStore.ping`)."""


class LimitStore:
    """Where every limit of one server counts: memory (``redis_url`` None) or Redis.

    ``prefix`` starts every Redis key (instances, or test runs, sharing one Redis keep apart);
    ``on_error`` is called once per storage failure (the app counts them in a metric)."""

    def __init__(self, redis_url: str | None = None, *, prefix: str = "vigil",
                 on_error: Callable[[], None] | None = None) -> None:
        self.redis_url = redis_url
        self.on_error = on_error
        storage: Storage
        if redis_url:
            storage = RedisStorage(redis_url, key_prefix=prefix, wrap_exceptions=True,
                                   socket_timeout=REDIS_TIMEOUT,
                                   socket_connect_timeout=REDIS_TIMEOUT,
                                   retry=Retry(NoBackoff(), 1))  # type: ignore[arg-type]
        else:
            storage = MemoryStorage(wrap_exceptions=True)
        self.storage = storage
        self.moving = MovingWindowRateLimiter(storage)
        self.fixed = FixedWindowRateLimiter(storage)

    @property
    def where(self) -> str:
        """Where the counts live, for messages: ``memory`` or the Redis URL without password."""
        if not self.redis_url:
            return "memory"
        parts = urlsplit(self.redis_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"

    def ping(self) -> None:
        """Raises :class:`LimitStoreUnreachable` (one line, naming the store) unless the store
        answers; memory always does."""
        if not self.redis_url:
            return
        try:
            assert isinstance(self.storage, RedisStorage)
            ok = self.storage.get_connection().ping()
        except Exception as exc:
            raise LimitStoreUnreachable(f"Redis at {self.where} (VIGIL_REDIS_URL) does not "
                                        f"answer: {_first_line(exc)}") from None
        if not ok:
            raise LimitStoreUnreachable(f"Redis at {self.where} (VIGIL_REDIS_URL) does not answer")

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args)`` on the store; a storage failure becomes :class:`~vigil.errors.Unavailable`
        (the limit is closed), logged and counted."""
        try:
            return fn(*args, **kwargs)
        except StorageError as exc:
            log.error("limit storage failed: %s", _first_line(exc.storage_error))
            if self.on_error is not None:
                self.on_error()
            raise Unavailable("rate limits cannot be checked right now (their storage does "
                              "not answer); try again shortly", retry_after=5) from None

    def window(self, name: str, limit: int, period: float) -> RateLimiter:
        """A moving-window limit of ``limit`` hits per ``period`` seconds, named ``name``
        (limits with different names never share counts)."""
        return RateLimiter(limit, period, store=self, name=name)

    def daily(self, name: str, limit: int) -> DailyQuota:
        """An amount per key per UTC day, named ``name``."""
        return DailyQuota(limit, store=self, name=name)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _key(key: str) -> str:
    # The library joins identifiers with "/" (an IPv6 client is keyed by its /64): escape it,
    # so that two keys never meet in one counter.
    return key.replace("%", "%25").replace("/", "%2F")


class RateLimiter:
    """At most ``limit`` hits per key in any ``period`` seconds (a moving window).

    Without ``store``, a memory store of its own (one process)."""

    def __init__(self, limit: int, period: float, *, store: LimitStore | None = None,
                 name: str = "requests") -> None:
        if limit < 1 or period < 1:
            raise ValueError("a rate limit needs limit >= 1 and period >= 1 s")
        self.limit = limit
        self.period = period
        self.store = store or LimitStore()
        self.item = RateLimitItemPerSecond(limit, int(period), namespace=_key(name))

    def check(self, key: str, what: str = "requests") -> None:
        """Count one request for ``key``; raises :class:`RateLimited` over the limit (nothing
        counted then), :class:`~vigil.errors.Unavailable` when the store does not answer."""
        if not self.hit(key):
            retry = self.retry_after(key)
            window = (f"{int(self.period // 60)} minutes" if self.period > 60
                      else f"{int(self.period)} seconds")
            raise RateLimited(f"too many {what}: at most {self.limit} per {window}; try "
                              f"again in {retry} s", retry_after=retry)

    def hit(self, key: str) -> bool:
        """Count one hit for ``key`` if there is room; False (nothing counted) when full."""
        return self.store.call(self.store.moving.hit, self.item, _key(key))

    def full(self, key: str) -> bool:
        """Whether the next hit for ``key`` would be refused (counts nothing)."""
        return not self.store.call(self.store.moving.test, self.item, _key(key))

    def retry_after(self, key: str) -> int:
        """Whole seconds until ``key`` has room again (at least 1)."""
        stats = self.store.call(self.store.moving.get_window_stats, self.item, _key(key))
        return max(1, int(stats.reset_time - time.time()) + 1)

    def clear(self, key: str) -> None:
        """Forget every hit of ``key``."""
        self.store.call(self.store.moving.clear, self.item, _key(key))


class DailyQuota:
    """A per-key amount per UTC day (hashes matched), all or nothing per request.

    Without ``store``, a memory store of its own (one process)."""

    def __init__(self, limit: int, *, store: LimitStore | None = None,
                 name: str = "daily") -> None:
        if limit < 1:
            raise ValueError("a daily quota needs limit >= 1")
        self.limit = limit
        self.store = store or LimitStore()
        self.item = RateLimitItemPerDay(limit, namespace=_key(name))

    def take(self, key: str, amount: int, what: str = "hashes", holder: str = "key") -> None:
        """Take ``amount`` from today's quota of ``key`` (whose quota it is, in the message:
        ``holder``); raises :class:`RateLimited` (nothing taken) when it would pass the quota,
        :class:`~vigil.errors.Unavailable` when the store does not answer."""
        t = dt.datetime.now(dt.UTC)
        # One counter per key and UTC date: the window starts at midnight, whenever the first
        # hit of the day comes (the library's own fixed window starts at the first hit).
        ids = (_key(key), t.date().isoformat())
        fixed, storage = self.store.fixed, self.store.storage
        if amount > 0 and not self.store.call(fixed.hit, self.item, *ids, cost=amount):
            # The counter went up by ``amount`` regardless: give it back, so that a refused
            # request costs nothing (a concurrent request may see the brief excess and be
            # refused too, never let through over the quota).
            self.store.call(storage.incr, self.item.key_for(*ids), self.item.get_expiry(),
                            amount=-amount)
            used = self.limit - self.store.call(fixed.get_window_stats, self.item, *ids).remaining
            midnight = dt.datetime.combine(t.date() + dt.timedelta(days=1), dt.time(),
                                           tzinfo=dt.UTC)
            retry = max(1, int((midnight - t).total_seconds()))
            raise RateLimited(f"daily quota of {self.limit:,} {what} for this {holder} reached "
                              f"({used:,} used); it renews at midnight UTC",
                              retry_after=retry)


def digest(text: str) -> str:
    """A short stable digest of caller-chosen text (a username) for a limit's key: bounded
    in size, and the store never holds the text itself."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
