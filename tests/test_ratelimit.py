"""Rate limits and quotas: exact counts in memory (one server worker) and in Redis shared by
several stores (several server workers), closed when Redis does not answer."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.redis import SharedRedis, closed_port
from vigil.errors import RateLimited, Unavailable
from vigil.orgs.accounts import LoginThrottle
from vigil.ratelimit import DailyQuota, LimitStore, LimitStoreUnreachable, RateLimiter


def test_memory_is_the_default_and_counts_exactly() -> None:
    store = LimitStore()
    assert store.where == "memory"
    store.ping()  # memory always answers
    limit = store.window("forms", 3, 3600)
    for _ in range(3):
        limit.check("192.0.2.1", "URL reports")
    with pytest.raises(RateLimited) as caught:
        limit.check("192.0.2.1", "URL reports")
    assert caught.value.message.startswith("too many URL reports: at most 3 per 60 minutes; "
                                           "try again in ")
    assert 3500 < caught.value.details["retry_after"] <= 3601
    limit.check("192.0.2.2", "URL reports")  # another client has its own window
    # Another limit of the same store never shares the counts.
    store.window("cases", 3, 3600).check("192.0.2.1")


def test_the_window_moves() -> None:
    limit = RateLimiter(2, 1)
    limit.check("k")
    limit.check("k")
    with pytest.raises(RateLimited) as caught:
        limit.check("k")
    assert caught.value.message == ("too many requests: at most 2 per 1 seconds; try again "
                                    f"in {caught.value.details['retry_after']} s")
    time.sleep(1.1)
    limit.check("k")


def test_ipv6_networks_do_not_share_a_counter_with_other_keys() -> None:
    """Keys are joined with "/" inside the library; an IPv6 client's key has one."""
    limit = RateLimiter(1, 60)
    limit.check("2001:db8::/64")
    limit.check("2001:db8::")
    limit.check("64")
    with pytest.raises(RateLimited):
        limit.check("2001:db8::/64")


def test_a_daily_quota_is_all_or_nothing() -> None:
    quota = DailyQuota(10)
    quota.take("key:1", 4)
    quota.take("key:1", 4)
    with pytest.raises(RateLimited) as caught:
        quota.take("key:1", 4)
    assert caught.value.message == ("daily quota of 10 hashes for this key reached (8 used); "
                                    "it renews at midnight UTC")
    assert 0 < caught.value.details["retry_after"] <= 86400
    quota.take("key:1", 2)  # the refused request took nothing
    with pytest.raises(RateLimited):
        quota.take("key:1", 1)
    quota.take("key:2", 10)
    with pytest.raises(ValueError, match="limit >= 1"):
        DailyQuota(0)
    with pytest.raises(ValueError, match="limit >= 1"):
        RateLimiter(0, 60)


def test_two_workers_share_one_window_in_redis(shared_redis: SharedRedis) -> None:
    """Two stores on one Redis, as two server workers have: the limit holds once, for both."""
    a = LimitStore(shared_redis.url, prefix=shared_redis.prefix).window("forms", 5, 3600)
    b = LimitStore(shared_redis.url, prefix=shared_redis.prefix).window("forms", 5, 3600)
    accepted = 0
    for i in range(12):
        try:
            (a if i % 2 else b).check("192.0.2.1", "URL reports")
            accepted += 1
        except RateLimited as exc:
            assert 0 < exc.details["retry_after"] <= 3601
    assert accepted == 5
    # Another instance on the same Redis (another prefix) counts on its own.
    other = LimitStore(shared_redis.url, prefix=shared_redis.prefix + "-other")
    other.window("forms", 5, 3600).check("192.0.2.1")


def test_two_workers_share_one_daily_quota_in_redis(shared_redis: SharedRedis) -> None:
    a = LimitStore(shared_redis.url, prefix=shared_redis.prefix).daily("match", 10)
    b = LimitStore(shared_redis.url, prefix=shared_redis.prefix).daily("match", 10)
    a.take("key:7", 4)
    b.take("key:7", 4)
    with pytest.raises(RateLimited, match=r"daily quota of 10 hashes .*\(8 used\)"):
        a.take("key:7", 4)
    b.take("key:7", 2)  # nothing was taken by the refused request
    with pytest.raises(RateLimited, match=r"\(10 used\)"):
        a.take("key:7", 1)


def test_the_sign_in_throttle_is_shared_in_redis(shared_redis: SharedRedis) -> None:
    """Guessing a password through two workers gets no more tries than through one."""
    def throttle() -> LoginThrottle:
        return LoginThrottle(3, 15, store=LimitStore(shared_redis.url, prefix=shared_redis.prefix))

    a, b = throttle(), throttle()
    assert not a.failed("198.51.100.7", "rita")
    assert not b.failed("198.51.100.7", "rita")
    assert a.failed("198.51.100.7", "rita")  # the third, through either
    assert b.blocked("198.51.100.7", "rita")
    assert not b.blocked("198.51.100.8", "rita")  # nobody else is locked out
    b.succeeded("198.51.100.7", "rita")
    assert not a.blocked("198.51.100.7", "rita")


def test_a_redis_that_does_not_answer() -> None:
    """At start: one line naming it. Later: every limited request is refused (503), counted
    and logged, never let through unlimited."""
    url = f"redis://:s3cret@127.0.0.1:{closed_port()}/0"
    errors: list[int] = []
    store = LimitStore(url, prefix="vigil-test-down", on_error=lambda: errors.append(1))
    with pytest.raises(LimitStoreUnreachable) as caught:
        store.ping()
    message = str(caught.value)
    assert message.startswith(f"Redis at {url.replace(':s3cret@', '')} (VIGIL_REDIS_URL) does not answer")
    assert LimitStore("redis+unix:///run/redis.sock").where == "redis+unix:///run/redis.sock"
    assert "VIGIL_REDIS_URL" in message and "\n" not in message and "s3cret" not in message
    started = time.monotonic()
    with pytest.raises(Unavailable) as refused:
        store.window("forms", 5, 3600).check("192.0.2.1")
    assert time.monotonic() - started < 5  # a short timeout, not a hanging request
    assert refused.value.status == 503 and refused.value.details["retry_after"] > 0
    with pytest.raises(Unavailable):
        store.daily("match", 10).take("key:1", 1)
    with pytest.raises(Unavailable):
        LoginThrottle(3, 15, store=store).check_source("192.0.2.1")
    assert len(errors) == 3
