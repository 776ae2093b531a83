"""The audit trail and the log are tamper-evident with no gaps: seals are found in the signed
leaves (not in a column beside them), the command line re-chains the trail itself — from the
database or through the API with an auditor's key —, the worker signs a head after each seal,
and an auditor who kept a head notices a log that no longer contains it. Every table the checks
claim to cover is tampered with here. (Both databases.)"""

from __future__ import annotations

import threading
import urllib.error
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import World, active_indicator, build_world
from vigil.audit import seal
from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.config import Settings
from vigil.db import transaction
from vigil.indicators import log_audit
from vigil.translog.audit import AuditReport, HeadStore
from vigil.translog.sth import TreeHeadSigner
from vigil.worker import Worker


def _sealed_history(factory: sessionmaker[Session], settings: Settings) -> World:
    """Some indicators and audited actions, sealed, with a head signed by the worker."""
    w = build_world(factory)
    for i in range(3):
        active_indicator(factory, w, "md5", f"{i:02x}" * 16)
    with transaction(factory) as s:
        assert seal.seal(s, older_than=timedelta(0)) is not None
    Worker(factory, factory, settings=settings).sign_head()
    return w


def _db(factory: sessionmaker[Session], settings: Settings,
        known: Any = None) -> AuditReport:
    key = TreeHeadSigner.from_file(settings.effective_log_key_path).public_key
    with factory() as s:
        return log_audit.verify_database(s, key, known)


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, environment="test")


def test_an_untouched_trail_verifies_and_the_worker_signs_heads(
        factory: sessionmaker[Session], settings: Settings) -> None:
    _sealed_history(factory, settings)
    report = _db(factory, settings)
    assert report.ok, report.problems
    assert report.seals == 1 and report.audit_events_checked > 5
    assert report.head is not None and report.head.size == report.entries  # signed by the worker
    assert not any("not yet covered" in n for n in report.notes)


#: What is changed behind the service's back, and what the check must say.
TAMPERING = {
    "a sealed event edited": (
        "UPDATE audit_events SET details = '{\"forged\": 1}' WHERE id = (SELECT MAX(id) FROM audit_events)",
        "differ from the seal"),
    "a sealed event deleted": (
        "DELETE FROM audit_events WHERE id = 2", "differ from the seal"),
    "an event replaced inside the sealed range": (
        "DELETE FROM audit_events WHERE id = 2;"
        "INSERT INTO audit_events (id, at, action, organisation_id, api_key_id, subject, details)"
        " SELECT 2, at, 'report:read', NULL, NULL, 'someone', '{}' FROM audit_events"
        " WHERE id = 1", "differ from the seal"),
    "the seals hidden from the index, then an event edited": (
        "UPDATE log_entries SET subject = NULL WHERE subject = 'audit:seal';"
        "UPDATE audit_events SET action = 'x:y' WHERE id = 3", "differ from the seal"),
    "a list's trust raised": (
        "UPDATE hash_lists SET trust = 'verified' WHERE name = 'victim-submitted'",
        "trust is 'verified' but the log says 'unverified'"),
    "an indicator's status changed": (
        "UPDATE indicators SET status = 'retracted' WHERE id = (SELECT MIN(id) FROM indicators)",
        "status is 'retracted' but the log says 'active'"),
    "an indicator's value changed": (
        "UPDATE indicators SET value = 'ffffffffffffffffffffffffffffffff'"
        " WHERE id = (SELECT MIN(id) FROM indicators)", "differs from what the log committed"),
    "a log entry deleted": (
        "DELETE FROM log_entries WHERE \"index\" = 1", "entry 1 is missing"),
    "a log entry's leaf rewritten": (
        "UPDATE log_entries SET leaf = (SELECT leaf FROM log_entries WHERE \"index\" = 0)"
        " WHERE \"index\" = 1", "leaf does not match its hash"),
    "a signed head's root rewritten": (
        "UPDATE tree_heads SET root = (SELECT leaf_hash FROM log_entries WHERE \"index\" = 0)",
        "tree head signature is invalid"),
    "the log's size rewritten": (
        "UPDATE log_state SET size = size + 5", "size is recorded as"),
    # Every PDQ query within 64 bits matches a verified list; on the allow list, every match
    # is suppressed.
    "every list's PDQ threshold raised": (
        "UPDATE hash_lists SET pdq_threshold = 64",
        "list 'known-material': pdq_threshold is 64 but the log says 31"),
    "an indicator's label changed": (
        "UPDATE indicators SET label = 'relabelled' WHERE id = (SELECT MIN(id) FROM indicators)",
        "its label differs from what the log committed to"),
    "who verified an indicator changed": (  # the Centre (1) named instead of the partner (2)
        "UPDATE indicators SET decided_by_org = proposed_by_org"
        " WHERE id = (SELECT MIN(id) FROM indicators)",
        "decided by organisation 1 but the log says 2"),
    "an organisation's kind changed": (
        "UPDATE organisations SET kind = 'partner_centre' WHERE name = 'Provider'",
        "kind is 'partner_centre' but the log says 'provider'"),
    "an organisation's approver changed": (
        "UPDATE organisations SET approved_by_org = 1 WHERE name = 'Partner'",
        "approval differs from the log"),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_is_detected_in_the_database(kind: str, factory: sessionmaker[Session],
                                               engine: Engine, settings: Settings) -> None:
    _sealed_history(factory, settings)
    sql, expected = TAMPERING[kind]
    with engine.begin() as conn:
        for statement in sql.split(";"):
            conn.execute(text(statement))
    report = _db(factory, settings)
    assert any(expected in p for p in report.problems), report.problems


def test_a_kept_head_catches_a_rewrite_after_the_heads_were_removed(
        factory: sessionmaker[Session], engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """Whoever controls the database can delete the signed heads and rewrite the end of the
    log; the auditor who kept the head it verified last time is not fooled."""
    _sealed_history(factory, settings)
    first = _db(factory, settings)
    assert first.ok and first.head is not None
    store = HeadStore(tmp_path / "heads.json")
    store.put(first.head)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM tree_heads"))
        last = conn.execute(text('SELECT MAX("index") FROM log_entries')).scalar_one()
        conn.execute(text('DELETE FROM log_entries WHERE "index" = :i'), {"i": last})
        conn.execute(text("UPDATE log_state SET size = size - 1"))
    report = _db(factory, settings, store.get(first.head.log_id))
    assert any("fewer than the" in p for p in report.problems), report.problems


def test_the_api_audit_is_done_by_the_auditor_not_taken_from_the_server(
        client: TestClient, factory: sessionmaker[Session], engine: Engine, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, environment="test")
    w = _sealed_history(factory, settings)
    key = client.app.state.vigil.signer.public_key  # type: ignore[attr-defined]

    def get(base: str, path: str, token: str) -> Any:
        r = client.get(path, headers=auth(token))
        if r.status_code == 403:
            raise urllib.error.HTTPError(path, 403, "forbidden", {}, None)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        return r.json()

    centre = w.tokens["centre"]  # holds audit:read and lists:download: every check runs
    report = log_audit.verify_server("http://test", centre, key, get=get)
    assert report.ok, report.problems
    assert report.seals == 1 and report.audit_events_checked > 5
    with engine.begin() as conn:
        conn.execute(text("UPDATE log_entries SET subject = NULL WHERE subject = 'audit:seal'"))
        conn.execute(text("UPDATE audit_events SET subject = 'someone-else' WHERE id = 4"))
    report = log_audit.verify_server("http://test", centre, key, get=get)
    assert any("differ from the seal" in p for p in report.problems), report.problems
    got = client.get("/v1/audit/verify", headers=auth(w.tokens["auditor"])).json()
    assert not got["intact"]
    # A key without audit:read says what it could not check, instead of passing silently.
    partner = log_audit.verify_server("http://test", w.tokens["partner"], key, get=get)
    assert "audit trail not checked: this key lacks audit:read" in partner.notes


def test_two_workers_sealing_at_once_never_overlap(factory: sessionmaker[Session],
                                                   settings: Settings) -> None:
    _sealed_history(factory, settings)
    with transaction(factory) as s:
        for i in range(5):
            record(s, None, AuditAction.REPORT_READ, subject=f"r{i}")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            with transaction(factory) as s:
                seal.seal(s, older_than=timedelta(0))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = _db(factory, settings)
    assert report.ok, report.problems
