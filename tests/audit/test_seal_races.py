"""Why two workers made ``GET /v1/audit/verify`` report tampering that never happened (issue
15), reproduced without timing luck.

A seal covers a range of event ids (``after_id`` .. ``last_id``) and verification re-chains
every event in that range. The seal used to choose its events by time (``at`` older than a
minute) and by what its snapshot could see, so it could claim a range with an event missing:

* ids are handed out at INSERT, ``at`` when the action was recorded, in another process: a
  later id can carry an earlier time, and the event with the earlier id but the later time
  was skipped inside the sealed range;
* on PostgreSQL an event whose transaction is still open is invisible; a seal over the ids
  after it "found" it in its range once it committed.

With one worker the seal ran between that worker's own transactions; a second worker's jobs
and periodic work (and the servers' requests) write audit events while the first one seals.
(Both databases where the case can happen at all: SQLite has one writer at a time.)
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from vigil.audit import seal
from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.db import transaction


def test_an_event_with_a_later_id_but_an_earlier_time_is_not_sealed_around_another(
        factory: sessionmaker[Session]) -> None:
    t = datetime.now(UTC)
    with transaction(factory) as s:
        record(s, None, AuditAction.REPORT_READ, subject="young")  # id 1, recorded just now
        s.flush()
        old = record(s, None, AuditAction.REPORT_READ, subject="old")  # id 2, recorded earlier
        old.at = t - timedelta(minutes=5)
    with transaction(factory) as s:
        # Event 1 is younger than a minute: nothing may be sealed.
        leaf = seal.seal(s, older_than=timedelta(minutes=1), at=t)
    with factory() as s:
        assert seal.verify(s) == []
    assert leaf is None
    with transaction(factory) as s:  # two minutes later both are old enough, and sealed
        leaf = seal.seal(s, older_than=timedelta(minutes=1), at=t + timedelta(minutes=2))
    assert leaf is not None and (leaf["after_id"], leaf["last_id"], leaf["count"]) == (0, 2, 2)
    with factory() as s:
        assert seal.verify(s) == []


def test_a_seal_waits_for_audit_events_still_being_written(factory: sessionmaker[Session]) -> None:
    if factory.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no event can be in flight during a seal")
    slow = factory()  # a transaction that recorded an event and has not committed yet
    record(slow, None, AuditAction.REPORT_READ, subject="in-flight")
    slow.flush()  # id 1 taken
    with transaction(factory) as s:
        record(s, None, AuditAction.REPORT_READ, subject="committed")  # id 2
    sealed: list[object] = []

    def run() -> None:
        with transaction(factory) as s:
            sealed.append(seal.seal(s))

    sealer = threading.Thread(target=run)
    sealer.start()
    time.sleep(0.5)  # the seal now waits for the open transaction ...
    started = time.monotonic()
    with transaction(factory) as s:  # ... but never makes a new request wait for it
        record(s, None, AuditAction.REPORT_READ, subject="meanwhile")  # id 3: the next seal's
    assert time.monotonic() - started < 1
    assert sealer.is_alive()
    slow.commit()
    slow.close()
    sealer.join(30)
    with factory() as s:
        assert seal.verify(s) == []
    leaf = sealed[0]
    assert isinstance(leaf, dict) and (leaf["after_id"], leaf["last_id"], leaf["count"]) == (0, 2, 2)


def test_a_seal_gives_up_for_now_while_a_writer_stays_open(factory: sessionmaker[Session]) -> None:
    if factory.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no event can be in flight during a seal")
    slow = factory()
    record(slow, None, AuditAction.REPORT_READ, subject="in-flight")
    slow.flush()
    with transaction(factory) as s:
        record(s, None, AuditAction.REPORT_READ, subject="committed")
    try:
        with transaction(factory) as s:
            assert seal.seal(s, wait=0.2) is None
    finally:
        slow.commit()
        slow.close()
    with factory() as s:
        assert seal.verify(s) == []
    with transaction(factory) as s:  # the next round seals both
        leaf = seal.seal(s)
    assert leaf is not None and leaf["count"] == 2
