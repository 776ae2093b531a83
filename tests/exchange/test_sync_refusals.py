"""What the sync client refuses: tampered snapshots and feeds, tree heads that do not cover or
are not consistent, oversized, malformed or mistyped answers. Each is refused with a clear
message, and nothing already synced is lost."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.helpers import (
    AlteringClient,
    add_active,
    folder_files,
    local_hits,
    provider_sync,
    retract,
)
from tests.fixtures.world import World, build_world
from vigil.exchange.client import Limits, SyncError
from vigil.matching.signals import SignalType
from vigil.translog.signing import sign
from vigil.translog.sth import TreeHeadSigner

MD5_A = "5d41402abc4b2a76b9719d911017c592"
MD5_B = "7d793037a0760186574b0282f2f435e7"
CHANGES = "/v1/lists/known-material/changes"
SNAPSHOT = "/v1/lists/known-material/snapshot"


@pytest.fixture
def synced(client: TestClient, factory: sessionmaker[Session], data_dir: Path, tmp_path: Path
           ) -> tuple[AlteringClient, World, Path, TreeHeadSigner, int]:
    """A folder synced once (MD5_A active), then a change on the server (MD5_A withdrawn,
    MD5_B added) that the next sync would bring."""
    world = build_world(factory)
    a = add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    altering = AlteringClient(client)
    provider_sync(altering, world, folder).sync()
    retract(factory, world, a)
    add_active(factory, world, "md5", MD5_B)
    # The server's own key: a test that plays a dishonest server signs with it.
    signer = TreeHeadSigner.from_file(data_dir / "log-signing.key")
    return altering, world, folder, signer, a


def _refused(altering: AlteringClient, world: World, folder: Path, match: str,
             **kwargs: Any) -> None:
    before = folder_files(folder)
    with pytest.raises(SyncError, match=match) as caught:
        provider_sync(altering, world, folder, **kwargs).sync()
    assert caught.value.refused
    assert folder_files(folder) == before  # nothing already synced is lost or changed
    assert local_hits(folder, SignalType.MD5, MD5_A) != []  # the old list still matches


def _json_at(path: str, change: Any) -> Any:
    def alter(p: str, status: int, headers: dict[str, str], body: bytes
              ) -> tuple[int, dict[str, str], bytes]:
        if p != path:
            return status, headers, body
        return status, headers, json.dumps(change(json.loads(body))).encode()
    return alter


def test_a_changed_value_in_the_feed_is_refused(synced: Any) -> None:
    altering, world, folder, _, _ = synced

    def change(feed: dict[str, Any]) -> dict[str, Any]:
        feed["changes"][-1]["value"] = "0" * 32
        return feed

    altering.alter = _json_at(CHANGES, change)
    _refused(altering, world, folder, "the changes: the list file's signature is invalid")


def test_a_dropped_withdrawal_is_refused(synced: Any) -> None:
    altering, world, folder, _, _ = synced
    altering.alter = _json_at(CHANGES, lambda f: {**f, "changes": f["changes"][1:]})
    _refused(altering, world, folder, "signature is invalid")


def test_a_signature_by_another_key_is_refused(synced: Any) -> None:
    altering, world, folder, _, _ = synced
    other = TreeHeadSigner.generate()
    altering.alter = _json_at(CHANGES, lambda f: sign(f, other))
    _refused(altering, world, folder, "signature is invalid")


def test_a_feed_not_covered_by_the_signed_head_is_refused(synced: Any) -> None:
    altering, world, folder, signer, _ = synced
    # Signed by the server's key, but claiming entries the log's signed head does not hold.
    altering.alter = _json_at(CHANGES, lambda f: sign({**f, "log_size": f["log_size"] + 50},
                                                      signer))
    _refused(altering, world, folder, "does not cover what it sent")


def test_a_forked_tree_head_is_refused(synced: Any) -> None:
    altering, world, folder, signer, _ = synced

    def fork(head: dict[str, Any]) -> dict[str, Any]:
        forged = signer.sign(head["tree_size"], os.urandom(32))
        return forged.to_json()

    altering.alter = _json_at("/v1/log/head", fork)
    _refused(altering, world, folder, "not consistent with the one trusted before")


def test_a_head_smaller_than_the_one_trusted_is_refused(synced: Any) -> None:
    altering, world, folder, signer, _ = synced
    trusted = json.loads((folder / "vigil-sync.json").read_text())["log"]["head"]
    # A validly signed head, but of a log shorter than the one trusted before (a rollback):
    # refused before any page is asked for.
    altering.alter = _json_at("/v1/log/head", lambda h: signer.sign(
        trusted["tree_size"] - 1, os.urandom(32)).to_json())
    _refused(altering, world, folder, "went back from .* entries")


def test_keys_that_do_not_extend_the_trusted_chain_are_refused(synced: Any) -> None:
    altering, world, folder, _, _ = synced

    def swap(keys: dict[str, Any]) -> dict[str, Any]:
        from vigil.translog.keys import LogKey
        keys["keys"][0] = LogKey(TreeHeadSigner.generate().public_bytes, 0).to_json()
        return keys

    altering.alter = _json_at("/v1/log/keys", swap)
    _refused(altering, world, folder, "do not extend the keys this client trusts")


def test_a_tampered_first_snapshot_leaves_no_list(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path) -> None:
    world = build_world(factory)
    add_active(factory, world, "md5", MD5_A)
    altering = AlteringClient(client)

    def change(snap: dict[str, Any]) -> dict[str, Any]:
        snap["trust"] = "verified" if snap["trust"] != "verified" else "unverified"
        return snap

    altering.alter = _json_at(SNAPSHOT, change)
    folder = tmp_path / "list"
    with pytest.raises(SyncError, match="the snapshot: the list file's signature is invalid"):
        provider_sync(altering, world, folder).sync()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "vigil-sync-status.json"]


def test_an_oversized_answer_is_refused_before_it_is_read(synced: Any) -> None:
    altering, world, folder, _, _ = synced
    # Declared too large (the app sends Content-Length): refused unread.
    _refused(altering.client, world, folder, "more than the limit of 200: refused unread",  # type: ignore[arg-type]
             limits=Limits(page_bytes=200))
    # Not declared: abandoned once it grows past the limit.
    _refused(altering, world, folder, "larger than the limit of 200 bytes",
             limits=Limits(page_bytes=200))


@pytest.mark.parametrize(("body", "ctype", "match"), [
    (b'{"format": "vigil-list-v1", ', "application/json", "malformed JSON"),
    (b"[1, 2]", "application/json", "expected a JSON object"),
    (b"<html>maintenance</html>", "text/html", "expected application/json"),
    (b'{"format": "something-else", "type": "changes"}', "application/json",
     "not a vigil changes"),
])
def test_malformed_answers_are_refused(synced: Any, body: bytes, ctype: str, match: str) -> None:
    altering, world, folder, _, _ = synced

    def alter(p: str, status: int, headers: dict[str, str], b: bytes
              ) -> tuple[int, dict[str, str], bytes]:
        return (status, {**headers, "content-type": ctype}, body) if p == CHANGES else (
            status, headers, b)

    altering.alter = alter
    _refused(altering, world, folder, match)


def test_a_server_error_is_not_a_refusal_and_the_next_sync_succeeds(synced: Any) -> None:
    altering, world, folder, _, _ = synced
    altering.alter = lambda p, s, h, b: (503, h, b"{}") if p == CHANGES else (s, h, b)
    with pytest.raises(SyncError, match="answered 503") as caught:
        provider_sync(altering, world, folder).sync()
    assert not caught.value.refused
    altering.alter = None
    provider_sync(altering, world, folder).sync()
    assert local_hits(folder, SignalType.MD5, MD5_A) == []
    assert local_hits(folder, SignalType.MD5, MD5_B) != []


def test_a_feed_with_an_invalid_hash_is_refused_whole(synced: Any) -> None:
    altering, world, folder, signer, _ = synced

    def bad(feed: dict[str, Any]) -> dict[str, Any]:
        feed["changes"][-1]["value"] = "not-a-hash"
        return sign(feed, signer)  # the server itself signed garbage

    altering.alter = _json_at(CHANGES, bad)
    _refused(altering, world, folder, "md5")
