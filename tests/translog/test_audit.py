"""`vigil audit verify` detects every kind of tampering with stored rows or leaves."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.world import build_world
from vigil.db import transaction
from vigil.indicators import log_audit as audit
from vigil.indicators import service
from vigil.translog import repository
from vigil.translog.sth import TreeHeadSigner


def _history(factory: sessionmaker[Session], signer: TreeHeadSigner) -> dict[str, int]:
    w = build_world(factory)
    cache = repository.TreeCache()
    ids = {}
    with transaction(factory) as s:
        made = service.propose(s, w.principals["centre"], [
            service.Proposal("pdq", f"{i:02x}" * 32, "known-material", "x") for i in range(4)])
        ids = {name: ind.id for name, ind in zip(("active", "retracted", "rejected", "pending"),
                                                 made, strict=True)}
        repository.signed_head(s, cache, signer)
    with transaction(factory) as s:
        service.verify(s, w.principals["partner"], ids["active"])
        service.verify(s, w.principals["partner"], ids["retracted"])
        service.retract(s, w.principals["partner"], ids["retracted"], "wrong")
        service.reject(s, w.principals["partner"], ids["rejected"], "not material")
        repository.signed_head(s, cache, signer)
    return ids


def _verify(factory: sessionmaker[Session], signer: TreeHeadSigner) -> audit.AuditReport:
    with factory() as s:
        return audit.verify_database(s, signer.public_key)


def test_untouched_database_verifies(factory: sessionmaker[Session]) -> None:
    signer = TreeHeadSigner.generate()
    _history(factory, signer)
    report = _verify(factory, signer)
    assert report.ok, report.problems
    assert report.active == 1 and report.heads_checked == 2 and report.indicators_checked == 4


TAMPERING = {
    "indicator value changed": (
        "UPDATE indicators SET value = :v WHERE id = :active", "differs from what the log"),
    "retracted indicator re-activated": (
        "UPDATE indicators SET status = 'active' WHERE id = :retracted", "status is 'active'"),
    "indicator row deleted": (
        "DELETE FROM indicators WHERE id = :pending", "missing from the database"),
    "log entry deleted": (
        'DELETE FROM log_entries WHERE "index" = 3', "entry 3 is missing"),
    "log truncated": (
        'DELETE FROM log_entries WHERE "index" >= 5', "entries were deleted"),
    "tree head root forged": (
        "UPDATE tree_heads SET root = :zeros", "signature is invalid"),
    "distributed without verification": (
        "INSERT INTO list_changes (list_id, indicator_id, action, at) "
        "SELECT list_id, id, 'add', proposed_at FROM indicators WHERE id = :pending",
        "is distributed as active on list"),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_is_detected(kind: str, factory: sessionmaker[Session], engine: Engine) -> None:
    signer = TreeHeadSigner.generate()
    ids = _history(factory, signer)
    sql, expected = TAMPERING[kind]
    with engine.begin() as conn:
        conn.execute(text(sql), {**ids, "v": "ee" * 32, "zeros": bytes(32)})
    report = _verify(factory, signer)
    assert not report.ok
    assert any(expected in p for p in report.problems), report.problems


def test_reordered_and_rewritten_leaves_are_detected(factory: sessionmaker[Session],
                                                     engine: Engine) -> None:
    signer = TreeHeadSigner.generate()
    _history(factory, signer)
    with engine.begin() as conn:
        rows = conn.execute(text('SELECT "index", leaf, leaf_hash FROM log_entries '
                                 'WHERE "index" IN (3, 4) ORDER BY "index"')).all()
        for (index, _, _), (_, leaf, h) in zip(rows, reversed(rows), strict=True):
            conn.execute(text('UPDATE log_entries SET leaf = :l, leaf_hash = :h '
                              'WHERE "index" = :i'), {"l": leaf, "h": h, "i": index})
    report = _verify(factory, signer)
    assert any("reordered" in p for p in report.problems), report.problems
    assert any("history was rewritten" in p for p in report.problems)


def test_a_leaf_rewritten_with_a_matching_hash_breaks_the_signed_root(
        factory: sessionmaker[Session], engine: Engine) -> None:
    from vigil.translog.merkle import leaf_hash

    signer = TreeHeadSigner.generate()
    _history(factory, signer)
    with engine.begin() as conn:
        rows = conn.execute(text('SELECT "index", leaf FROM log_entries ORDER BY "index"')).all()
        index, leaf = next((i, bytes(lf)) for i, lf in rows if b'"pending"' in bytes(lf))
        forged = leaf.replace(b'"pending"', b'"active"')
        conn.execute(text('UPDATE log_entries SET leaf = :l, leaf_hash = :h WHERE "index" = :i'),
                     {"l": forged, "h": leaf_hash(forged), "i": index})
    report = _verify(factory, signer)
    assert any("history was rewritten" in p for p in report.problems), report.problems


def test_another_logs_key_fails(factory: sessionmaker[Session]) -> None:
    signer = TreeHeadSigner.generate()
    _history(factory, signer)
    report = _verify(factory, TreeHeadSigner.generate())
    assert any("signature is invalid" in p for p in report.problems), report.problems


def test_a_logged_self_verification_is_reported(factory: sessionmaker[Session]) -> None:
    """Even if a server (bug or malice) let an organisation verify its own proposal, the
    auditor's replay catches it."""
    signer = TreeHeadSigner.generate()
    ids = _history(factory, signer)
    with transaction(factory) as s:
        from vigil.indicators.models import Indicator

        ind = s.get(Indicator, ids["pending"])
        assert ind is not None
        # Tampering behind the service's back (the model itself refuses to assign a status).
        s.execute(text("UPDATE indicators SET status = 'active' WHERE id = :i"), {"i": ind.id})
        repository.append(s, {"event": "indicator:verified", "indicator": ind.id,
                              "list": "known-material", "signal_type": ind.signal_type,
                              "commitment": service.commitment(ind.salt, ind.signal_type, ind.value),
                              "status": "active", "org": ind.proposed_by_org, "at": "x"})
        from vigil.indicators.models import ListChange

        s.add(ListChange(list_id=ind.list_id, indicator_id=ind.id, action="add",
                         at=ind.proposed_at))
    report = _verify(factory, signer)
    assert any("two-organisation rule" in p for p in report.problems), report.problems


def test_organisations_and_keys_are_in_the_log(factory: sessionmaker[Session]) -> None:
    import json as _json

    from sqlalchemy import select

    from vigil.translog.models import LogEntry

    build_world(factory)
    with factory() as s:
        events = [_json.loads(e.leaf)["event"] for e in s.scalars(select(LogEntry))]
    assert events.count("org:created") >= 5 and events.count("key:issued") >= 7
