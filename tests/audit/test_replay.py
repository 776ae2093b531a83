"""What an independent attacker got past ``vigil audit verify``, and what it says now: an
organisation's kind changed for the length of one verification and put back, a list's
threshold changed behind the log's back, the signed heads deleted. (Both databases.)"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.world import World, active_indicator, build_world
from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.indicators import log_audit
from vigil.indicators import service as indicators
from vigil.indicators.lifecycle import commitment, label_commitment
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind, Scope
from vigil.translog.audit import UNSIGNED_GRACE, AuditReport
from vigil.translog.sth import TreeHeadSigner
from vigil.worker import Worker


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, environment="test")


def _signed_world(factory: sessionmaker[Session], settings: Settings) -> World:
    w = build_world(factory)
    active_indicator(factory, w, "md5", "0a" * 16)
    Worker(factory, factory, settings=settings).sign_head()
    return w


def _verify(factory: sessionmaker[Session], settings: Settings, **kw: Any) -> AuditReport:
    key = TreeHeadSigner.from_file(settings.effective_log_key_path).public_key
    with factory() as s:
        return log_audit.verify_database(s, key, **kw)


def test_a_hotline_dressed_up_as_a_partner_for_one_verification_is_caught(
        factory: sessionmaker[Session], engine: Engine, settings: Settings) -> None:
    """Whoever can write the database makes a hotline a partner centre, approved, lets it
    verify an indicator through the service, and puts the row back: the log recorded the
    hotline's kind when it was created, and the replay judges the verification by it."""
    w = _signed_world(factory, settings)
    with transaction(factory) as s:
        hotline = orgs.create_organisation(s, None, "Hotline", OrgKind.HOTLINE).id
        token = orgs.issue_key(s, None, hotline, "h", set(KIND_SCOPES[OrgKind.HOTLINE])).token
        (ind,) = indicators.propose(s, w.principals["centre"], [
            indicators.Proposal("md5", "0b" * 16, "known-material", "test")])
        ind_id = ind.id
    assert _verify(factory, settings).ok
    with engine.begin() as conn:
        before = conn.execute(text("SELECT approved_at FROM organisations WHERE id = :o"),
                              {"o": hotline}).scalar_one()
        scopes = conn.execute(text("SELECT scopes FROM api_keys WHERE organisation_id = :o"),
                              {"o": hotline}).scalar_one()
        conn.execute(text("UPDATE organisations SET kind = 'partner_centre', approved_at = "
                          "created_at WHERE id = :o"), {"o": hotline})
        conn.execute(text("UPDATE api_keys SET scopes = 'indicators:review' "
                          "WHERE organisation_id = :o"), {"o": hotline})
    with transaction(factory) as s:
        indicators.verify(s, orgs.authenticate(s, token), ind_id)
    with engine.begin() as conn:
        conn.execute(text("UPDATE organisations SET kind = 'hotline', approved_at = :a "
                          "WHERE id = :o"), {"a": before, "o": hotline})
        conn.execute(text("UPDATE api_keys SET scopes = :s WHERE organisation_id = :o"),
                     {"s": scopes, "o": hotline})
    Worker(factory, factory, settings=settings).sign_head()
    report = _verify(factory, settings)
    assert f"log: indicator {ind_id} verified by organisation {hotline}, logged as a hotline: " \
           "that kind may not hold indicators:review" in report.problems, report.problems


def test_the_organisations_table_must_say_what_the_log_says(
        factory: sessionmaker[Session], engine: Engine, settings: Settings) -> None:
    _signed_world(factory, settings)
    with transaction(factory) as s:
        hotline = orgs.create_organisation(s, None, "Hotline", OrgKind.HOTLINE).id
    with engine.begin() as conn:
        conn.execute(text("UPDATE organisations SET kind = 'partner_centre', approved_at = "
                          "created_at WHERE id = :o"), {"o": hotline})
    report = _verify(factory, settings)
    assert f"organisation {hotline}: kind is 'partner_centre' but the log says 'hotline'" \
           in report.problems, report.problems


def test_a_threshold_changed_through_the_api_is_logged_and_checked(
        factory: sessionmaker[Session], engine: Engine, settings: Settings) -> None:
    """``PATCH /v1/lists/{name}`` is replayed (no false alarm), and putting the old threshold
    back behind the log's back is caught."""
    w = _signed_world(factory, settings)
    with transaction(factory) as s:
        indicators.update_list(s, w.principals["centre"], "non-material", 25)
    assert _verify(factory, settings).ok
    with engine.begin() as conn:
        conn.execute(text("UPDATE hash_lists SET pdq_threshold = 10 WHERE name = 'non-material'"))
    report = _verify(factory, settings)
    assert "list 'non-material': pdq_threshold is 10 but the log says 25" in report.problems, \
        report.problems


def test_deleted_signed_heads_are_noted_at_once_and_a_problem_once_overdue(
        factory: sessionmaker[Session], engine: Engine, settings: Settings) -> None:
    """The worker signs a head every minute: entries no head covers are normal for a moment,
    and a sign that the heads were removed (so the entries could be rewritten) after that."""
    _signed_world(factory, settings)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM tree_heads"))
    report = _verify(factory, settings)
    assert report.ok and any("not yet covered by a signature" in n for n in report.notes)
    later = _verify(factory, settings, now=now() + UNSIGNED_GRACE + timedelta(minutes=1))
    assert any("are covered by no signed head" in p for p in later.problems), later.problems


def test_a_list_changed_by_an_organisation_that_may_not_is_reported() -> None:
    leaves: list[dict[str, Any]] = [
        {"event": "org:created", "org": 1, "kind": "centre", "approved": True},
        {"event": "org:created", "org": 2, "kind": "provider", "approved": True},
        {"event": "list:created", "list": "non-material", "trust": "allow",
         "pdq_threshold": 10, "org": 1},
        {"event": "list:updated", "list": "non-material", "pdq_threshold": 64, "org": 2},
    ]
    report = AuditReport()
    replayed = log_audit.replay(leaves, report)
    assert report.problems == ["log: list 'non-material' updated by organisation 2, logged as "
                               "a provider: that kind may not hold lists:manage"]
    assert replayed.thresholds == {"non-material": 64}


def test_leaves_written_before_the_new_fields_are_replayed_as_they_were() -> None:
    """A list leaf without ``org`` and indicator leaves without ``label_commitment`` are not
    compared on what they do not say; the first leaf that says it is."""
    salt = "00" * 16
    c = commitment(salt, "md5", "0c" * 16)
    leaves: list[dict[str, Any]] = [
        {"event": "org:created", "org": 1, "kind": "centre", "approved": True},
        {"event": "org:created", "org": 2, "kind": "partner_centre", "approved": True},
        {"event": "list:created", "list": "known-material", "trust": "verified",
         "pdq_threshold": 31},
        {"event": "indicator:proposed", "indicator": 1, "list": "known-material",
         "signal_type": "md5", "commitment": c, "status": "pending", "org": 1},
    ]
    stored = log_audit.StoredIndicator(1, "known-material", "pending", c,
                                       label_commitment(salt, "any"), "md5", 1, None)
    report = AuditReport()
    log_audit.compare(log_audit.replay(leaves, report), [stored], [], report,
                      {"known-material": ("verified", 31, False)})
    assert report.ok, report.problems
    leaves.append({"event": "indicator:verified", "indicator": 1, "list": "known-material",
                   "signal_type": "md5", "commitment": c, "status": "active", "org": 2,
                   "label_commitment": label_commitment(salt, None)})
    report = AuditReport()
    log_audit.compare(log_audit.replay(leaves, report), [stored], [("known-material", 1, "add")], report)
    assert "indicator 1: its label differs from what the log committed to" in report.problems


def test_a_key_used_to_verify_before_its_approval_is_caught(
        factory: sessionmaker[Session], engine: Engine, settings: Settings) -> None:
    """The Centre issues a reviewing key to a partner centre: it waits for a second party.
    Whoever can write the database marks it approved for one verification and puts the row
    back; the log said the key was pending, and the replay judges the verification by that."""
    w = _signed_world(factory, settings)
    partner = w.principals["partner"].organisation_id
    with transaction(factory) as s:
        issued = orgs.issue_key(s, w.principals["centre"], partner, "second",
                                {Scope.INDICATORS_REVIEW})
        key_id, token = issued.key.id, issued.token
        assert issued.key.approved_at is None  # pending: a second party must confirm it
        (ind,) = indicators.propose(s, w.principals["centre"], [
            indicators.Proposal("md5", "0d" * 16, "known-material", "test")])
        ind_id = ind.id
    with engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET approved_at = created_at WHERE id = :k"),
                     {"k": key_id})
    with transaction(factory) as s:
        indicators.verify(s, orgs.authenticate(s, token), ind_id)
    with engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET approved_at = NULL WHERE id = :k"), {"k": key_id})
    Worker(factory, factory, settings=settings).sign_head()
    report = _verify(factory, settings)
    assert f"log: indicator {ind_id} verified by key {key_id} before a second party approved " \
           "it (indicators:review)" in report.problems, report.problems


def test_key_approvals_in_the_log_are_judged_like_organisation_approvals() -> None:
    leaves: list[dict[str, Any]] = [
        {"event": "org:created", "org": 1, "kind": "centre", "approved": True},
        {"event": "org:created", "org": 2, "kind": "partner_centre", "approved": True},
        {"event": "org:created", "org": 3, "kind": "auditor", "approved": True},
        {"event": "key:issued", "org": 2, "key": 7, "scopes": "indicators:review", "by": 1,
         "approved": False},
        {"event": "key:approved", "org": 2, "key": 7, "by": 2},  # by its own organisation
        {"event": "key:approved", "org": 2, "key": 7, "by": 1},  # by the Centre
        {"event": "key:approved", "org": 2, "key": 8, "by": 3},  # never issued
        {"event": "key:approved", "org": 2, "key": 7, "by": 3},  # by the auditor: fine
    ]
    report = AuditReport()
    replayed = log_audit.replay(leaves, report)
    assert report.problems == [
        "log: key 7 was approved by organisation 2, which may not approve it",
        "log: key 7 was approved by organisation 1, which may not approve it",
        "log: key 8 was approved but never issued"]
    assert replayed.orgs.keys[7].approved


def test_a_feed_rewritten_to_move_a_hash_onto_the_allow_list_is_caught(
        factory: sessionmaker[Session], engine: Engine, settings: Settings) -> None:
    """Found by an attempt to break the audit: a withdrawal slipped into the verified list's
    feed and an addition into the allow list's — providers drop the hash and then suppress it
    — passed, because the check kept the last action per indicator whatever its list."""
    w = _signed_world(factory, settings)
    ind = active_indicator(factory, w, "md5", "0e" * 16)
    assert _verify(factory, settings).ok
    with engine.begin() as conn:
        lists = dict(conn.execute(text("SELECT name, id FROM hash_lists")).all())
        for name, action in (("known-material", "withdraw"), ("non-material", "add")):
            conn.execute(text("INSERT INTO list_changes (list_id, indicator_id, action, at) "
                              "VALUES (:l, :i, :a, :t)"),
                         {"l": lists[name], "i": ind, "a": action, "t": now()})
    report = _verify(factory, settings)
    assert f"change feed: indicator {ind} is distributed as active on list 'non-material' but " \
           "the log says it is not" in report.problems, report.problems
    assert f"change feed: indicator {ind} is active on list 'known-material' in the log but " \
           "not distributed there" in report.problems, report.problems


def test_a_verification_written_into_the_log_behind_vigils_back_is_caught(
        factory: sessionmaker[Session], engine: Engine, settings: Settings) -> None:
    """Found by an attempt to break the audit: with write access to the database, a leaf
    saying the partner verified a pending indicator was appended (and the row, the feed set
    to match); the worker then signed a head over it and the audit said OK. Every indicator
    event is written as a leaf and an audit event together: a leaf alone is a forgery."""
    from vigil.indicators.lifecycle import leaf
    from vigil.indicators.models import Indicator
    from vigil.translog import repository as log

    w = _signed_world(factory, settings)
    with transaction(factory) as s:
        (ind,) = indicators.propose(s, w.principals["centre"], [
            indicators.Proposal("md5", "0f" * 16, "known-material", "test")])
        ind_id = ind.id
    assert _verify(factory, settings).ok
    with transaction(factory) as s:  # what a forger writes, without the audit event
        row = s.get(Indicator, ind_id)
        assert row is not None
        row._status = "active"
        row.decided_by_org = w.principals["partner"].organisation_id
        log.append(s, leaf("indicator:verified", row, w.principals["partner"]))
        s.execute(text("INSERT INTO list_changes (list_id, indicator_id, action, at) "
                       "VALUES (:l, :i, 'add', :t)"), {"l": row.list_id, "i": ind_id, "t": now()})
    Worker(factory, factory, settings=settings).sign_head()
    report = _verify(factory, settings)
    partner = w.principals["partner"].organisation_id
    assert f"log: indicator {ind_id} verified by organisation {partner} (1x) with no such " \
           "audit event: written outside vigil" in report.problems, report.problems


def test_a_list_opted_into_robust_matching_behind_the_logs_back_is_caught() -> None:
    """Robust hits widen what a list matches, like its threshold: the flag is in the log, and
    the table must say what the log says."""
    leaves: list[dict[str, Any]] = [
        {"event": "list:created", "list": "known-material", "trust": "verified",
         "pdq_threshold": 31, "robust": False},
    ]
    report = AuditReport()
    log_audit.compare(log_audit.replay(leaves, report), [], [], report,
                      {"known-material": ("verified", 31, True)})
    assert report.problems == ["list 'known-material': robust matching is on but the log says "
                               "off"]
    leaves.append({"event": "list:updated", "list": "known-material", "pdq_threshold": 31,
                   "robust": True})
    report = AuditReport()
    log_audit.compare(log_audit.replay(leaves, report), [], [], report,
                      {"known-material": ("verified", 31, True)})
    assert report.ok, report.problems
