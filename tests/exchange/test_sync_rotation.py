"""The log's signing key rotated on the server (``vigil keys rotate --log-key``) between two
syncs: a provider's synced folder and a partner centre's pull both take the new key from its
announcement in the log (signed by the key they already trust) and go on — additions and
withdrawals made after the rotation arrive, a folder started after the rotation syncs too —,
while a chain in which the announcing key is not the one they trust is refused and nothing
synced is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.helpers import (
    AlteringClient,
    add_active,
    local_hits,
    provider_sync,
    retract,
    state,
)
from tests.fixtures.world import World, build_world
from vigil.db import transaction
from vigil.exchange.client import SyncError
from vigil.exchange.sync import STATUS
from vigil.matching.signals import SignalType
from vigil.translog import repository
from vigil.translog.sth import TreeHeadSigner

MD5_A = "5d41402abc4b2a76b9719d911017c592"
MD5_B = "7d793037a0760186574b0282f2f435e7"
MD5_C = "0cc175b9c0f1b6a831c399e269772661"


def rotate(factory: sessionmaker[Session], key_path: Path) -> int:
    """What ``vigil keys rotate --log-key`` does: the announcement, then the new key in use."""
    with transaction(factory) as s:
        index, _ = repository.rotate_log_key(s, TreeHeadSigner.from_file(key_path))
    with transaction(factory) as s:
        assert repository.finish_rotation(s, key_path)
    return index


def test_a_synced_folder_follows_a_log_key_rotation(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path, tmp_path: Path) -> None:
    world: World = build_world(factory)
    a = add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    provider_sync(client, world, folder).sync()
    old_key = state(folder)["log"]["keys"][0]["public_key"]
    index = rotate(factory, data_dir / "log-signing.key")

    retract(factory, world, a)
    b = add_active(factory, world, "md5", MD5_B)
    after = provider_sync(client, world, folder).sync()
    assert (after.added, after.withdrawn) == (1, 1) and not after.snapshot
    assert local_hits(folder, SignalType.MD5, MD5_A) == []
    assert local_hits(folder, SignalType.MD5, MD5_B) == [str(b)]
    keys = state(folder)["log"]["keys"]
    assert keys[0]["public_key"] == old_key and len(keys) == 2
    assert keys[1]["announced_at_index"] == index and keys[0]["last_size"] == index
    assert state(folder)["log"]["head"]["tree_size"] > index  # a head the new key signed

    # A folder started after the rotation takes the whole chain; a second rotation is
    # followed by both.
    fresh = tmp_path / "fresh"
    provider_sync(client, world, fresh).sync()
    rotate(factory, data_dir / "log-signing.key")
    c = add_active(factory, world, "md5", MD5_C)
    for f in (folder, fresh):
        provider_sync(client, world, f).sync()
        assert local_hits(f, SignalType.MD5, MD5_C) == [str(c)]
        assert len(state(f)["log"]["keys"]) == 3


def test_a_key_chain_rewritten_after_a_rotation_is_refused_and_nothing_is_lost(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path, tmp_path: Path) -> None:
    world = build_world(factory)
    a = add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    provider_sync(client, world, folder).sync()
    rotate(factory, data_dir / "log-signing.key")
    add_active(factory, world, "md5", MD5_B)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

    # A server that drops the key the folder trusts and shows only the new one.
    altering = AlteringClient(client)

    def only_new(path: str, status: int, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        if path != "/v1/log/keys":
            return status, headers, body
        obj = json.loads(body)
        return status, headers, json.dumps({**obj, "keys": obj["keys"][1:]}).encode()

    altering.alter = only_new
    with pytest.raises(SyncError, match="do not extend the keys this client trusts"):
        provider_sync(altering, world, folder).sync()
    kept = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != STATUS}
    assert kept == {n: b for n, b in before.items() if n != STATUS}
    assert local_hits(folder, SignalType.MD5, MD5_A) == [str(a)]
    # The real server: the sync goes on.
    provider_sync(client, world, folder).sync()
    assert local_hits(folder, SignalType.MD5, MD5_B) != []
