"""Rotating the log's signing key (``vigil keys rotate --log-key``): the new key is announced in
the log by a leaf the old key signed; heads signed before the rotation still verify, heads after
it are signed with the new key — also by a worker that started before the rotation —, the API
publishes every key with its range, snapshots signed before the rotation still verify while
ones signed later with the retired key do not, and an announcement the key in use did not sign
is refused. (Both databases.)"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.fixtures.world import active_indicator, build_world
from vigil.cli import app
from vigil.config import Settings
from vigil.db import transaction
from vigil.indicators import feeds, log_audit
from vigil.translog import repository
from vigil.translog.keys import announcement_bytes, parse_published
from vigil.translog.merkle import ProofError
from vigil.translog.models import TreeHead
from vigil.translog.sth import (
    SignedTreeHead,
    TreeHeadSigner,
    load_private_key,
    public_key_bytes,
    verify_tree_head,
)
from vigil.worker import Worker


@pytest.fixture
def settings(data_dir: Path, db_url: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=db_url, environment="test")


def _head(factory: sessionmaker[Session], size: int, signer: TreeHeadSigner) -> SignedTreeHead:
    with factory() as s:
        row = s.get(TreeHead, size)
        assert row is not None
        return SignedTreeHead(signer.log_id, size, row.timestamp_ms, row.root, row.signature)


def _rotate(factory: sessionmaker[Session], settings: Settings) -> int:
    path = settings.effective_log_key_path
    with transaction(factory) as s:
        index, _ = repository.rotate_log_key(s, TreeHeadSigner.from_file(path))
    with transaction(factory) as s:
        assert repository.finish_rotation(s, path)
    return index


def _verify(factory: sessionmaker[Session], key: object) -> log_audit.AuditReport:
    with factory() as s:
        return log_audit.verify_database(s, key)  # type: ignore[arg-type]


def test_heads_before_and_after_a_rotation_both_verify(
        factory: sessionmaker[Session], settings: Settings) -> None:
    w = build_world(factory)
    active_indicator(factory, w, "md5", "aa" * 16)
    worker = Worker(factory, factory, settings=settings)  # started before the rotation
    before_size = worker.sign_head()
    assert before_size
    old = TreeHeadSigner.from_file(settings.effective_log_key_path)

    index = _rotate(factory, settings)
    new = TreeHeadSigner.from_file(settings.effective_log_key_path)
    assert new.public_bytes != old.public_bytes
    assert index >= before_size

    active_indicator(factory, w, "md5", "bb" * 16)
    after_size = worker.sign_head()  # the old worker takes the new key without a restart
    assert after_size and after_size > index + 1

    before = _head(factory, before_size, old)
    after = _head(factory, after_size, new)
    verify_tree_head(before, old.public_key)
    verify_tree_head(after, new.public_key)
    with pytest.raises(ProofError):
        verify_tree_head(_head(factory, after_size, old), old.public_key)  # not the old key's

    # The whole log verifies whichever key of the chain the auditor trusts ...
    for trusted in (new.public_key, old.public_key):
        report = _verify(factory, trusted)
        assert report.ok, report.problems
        assert report.heads_checked >= 3
    # ... but not with a key that never signed it.
    stranger = Ed25519PrivateKey.generate().public_key()
    assert any("not one of this log's signing keys" in p
               for p in _verify(factory, stranger).problems)

    # The command line finds the key in the data directory: the new one.
    runner = CliRunner(env={"VIGIL_DATA_DIR": str(settings.data_dir),
                            "VIGIL_DATABASE_URL": settings.effective_database_url})
    result = runner.invoke(app, ["audit", "verify", "--no-state"])
    assert result.exit_code == 0, result.output
    status = runner.invoke(app, ["keys", "status"])
    assert status.exit_code == 0, status.output
    assert f"heads of size 0 to {index}" in status.output
    assert f"heads of size {index + 1} to now" in status.output


def _forge(factory: sessionmaker[Session], previous: bytes, signer: Ed25519PrivateKey) -> None:
    new = public_key_bytes(Ed25519PrivateKey.generate().public_key())
    with transaction(factory) as s:
        repository.append(s, {
            "event": "log:key_announced", "previous_key": base64.b64encode(previous).decode(),
            "public_key": base64.b64encode(new).decode(),
            "signature": base64.b64encode(signer.sign(announcement_bytes(previous, new))).decode(),
            "at": datetime.now(UTC).isoformat()})


@pytest.mark.parametrize("on_behalf", [False, True])
def test_an_announcement_the_current_key_did_not_sign_is_refused(
        factory: sessionmaker[Session], settings: Settings, on_behalf: bool) -> None:
    w = build_world(factory)
    worker = Worker(factory, factory, settings=settings)
    worker.sign_head()
    _rotate(factory, settings)
    current = TreeHeadSigner.from_file(settings.effective_log_key_path)
    attacker = Ed25519PrivateKey.generate()
    # Claiming to come from the current key, or from a key of the attacker's own.
    previous = public_key_bytes(attacker.public_key()) if on_behalf else current.public_bytes
    _forge(factory, previous, attacker)
    active_indicator(factory, w, "md5", "cc" * 16)
    assert worker.sign_head()  # still signs, with the log's real key: the forgery is ignored
    report = _verify(factory, current.public_key)
    assert not report.ok
    assert any("refused" in p for p in report.problems), report.problems
    assert not any("tree head" in p for p in report.problems), report.problems


def test_the_api_publishes_every_key_and_snapshots_follow_the_rotation(
        client: TestClient, factory: sessionmaker[Session], settings: Settings) -> None:
    w = build_world(factory)
    active_indicator(factory, w, "md5", "dd" * 16)
    token = {"Authorization": f"Bearer {w.tokens['provider']}"}
    before = client.get("/v1/lists/known-material/snapshot", headers=token).json()
    old_pem = client.get("/v1/log/key").text
    old = TreeHeadSigner(load_private_key(settings.effective_log_key_path))  # kept by the test

    index = _rotate(factory, settings)
    listed = client.get("/v1/log/keys").json()
    assert [(k["first_size"], k["last_size"]) for k in listed["keys"]] == \
        [(0, index), (index + 1, None)]
    assert listed["keys"][0]["public_key"] == old_pem
    assert listed["keys"][0]["retired_at"]
    assert client.get("/v1/log/key").text == listed["keys"][1]["public_key"]
    after = client.get("/v1/lists/known-material/snapshot", headers=token).json()

    keys = parse_published(listed)
    assert feeds.verify_any(before, keys) == 0  # the old key, signed before it retired
    assert feeds.verify_any(after, keys) == 1  # the new key
    # A snapshot signed with the retired key after its retirement is not vigil's.
    late = {**before, "generated_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
    with pytest.raises(ValueError, match="retired"):
        feeds.verify_any(feeds.sign(late, old), keys)
    # A stolen retired key back-dates what it signs, but cannot say a log size before its
    # retirement for a list of a log that grew past it: the key chain's ranges refuse it.
    stolen = feeds.sign({**before, "log_size": index + 3}, old)
    ranges = [(k["first_size"], k["last_size"]) for k in listed["keys"]]
    assert feeds.verify_any(before, keys, ranges) == 0
    assert feeds.verify_any(after, keys, ranges) == 1
    with pytest.raises(ValueError, match="signs log sizes 0 to"):
        feeds.verify_any(stolen, keys, ranges)
    with pytest.raises(ValueError, match="names no log size"):
        feeds.verify_any(feeds.sign({k: v for k, v in before.items() if k != "log_size"}, old),
                         keys, ranges)

    # `vigil match --public-key` takes the published list as well as one PEM.
    key_file, snap = settings.data_dir / "log-keys.json", settings.data_dir / "snapshot.json"
    key_file.write_text(client.get("/v1/log/keys").text)
    for signed, ok in ((before, True), (after, True), (feeds.sign(late, old), False)):
        snap.write_text(json.dumps(signed))
        result = CliRunner().invoke(app, ["match", "--list", str(snap), "--public-key",
                                          str(key_file), "md5:" + "dd" * 16])
        assert (result.exit_code == 0) is ok, result.output
        assert ("signature verified" in result.output) is ok
