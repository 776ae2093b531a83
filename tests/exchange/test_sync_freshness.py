"""Freshness of what the sync client accepts: a signed answer stays valid forever, so an old
one replayed (by a cache, a proxy, a man in the middle) must not freeze a provider's folder.
And the folder's pages form an unbroken chain that the reader checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.helpers import (
    LIST,
    POLICY,
    SERVER,
    AlteringClient,
    add_active,
    folder_files,
    local_hits,
    provider_sync,
    retract,
    state,
)
from tests.fixtures.world import World, build_world
from vigil.exchange.client import Accepted, FeedClient, LogTrust, SyncError
from vigil.exchange.sync import STATUS
from vigil.matching.errors import ListFileError
from vigil.matching.listfile import read_synced_folder
from vigil.matching.signals import SignalType
from vigil.translog.signing import sign
from vigil.translog.sth import TreeHeadSigner

MD5_A = "5d41402abc4b2a76b9719d911017c592"
MD5_B = "7d793037a0760186574b0282f2f435e7"
CHANGES = "/v1/lists/known-material/changes"


def _recording(altering: AlteringClient, kept: list[bytes]) -> None:
    def alter(path: str, status: int, headers: dict[str, str], body: bytes
              ) -> tuple[int, dict[str, str], bytes]:
        if path == CHANGES:
            kept.append(body)
        return status, headers, body
    altering.alter = alter


def _replaying(altering: AlteringClient, body: bytes) -> None:
    def alter(path: str, status: int, headers: dict[str, str], old: bytes
              ) -> tuple[int, dict[str, str], bytes]:
        return (status, headers, body) if path == CHANGES else (status, headers, old)
    altering.alter = alter


def test_a_replayed_nothing_new_page_does_not_freeze_the_folder(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path) -> None:
    world = build_world(factory)
    a = add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    altering = AlteringClient(client)
    kept: list[bytes] = []
    _recording(altering, kept)
    provider_sync(altering, world, folder).sync()
    (empty,) = kept  # "nothing new since the snapshot, complete", signed by the server
    assert json.loads(empty)["changes"] == [] and json.loads(empty)["complete"]
    # The server withdraws A; a cache in the middle keeps answering the old signed page.
    retract(factory, world, a)
    _replaying(altering, empty)
    before = folder_files(folder)
    sync = provider_sync(altering, world, folder)
    with pytest.raises(SyncError, match="an old page replayed") as caught:
        sync.sync()
    assert caught.value.refused
    assert folder_files(folder) == before
    status = json.loads((folder / STATUS).read_text())
    assert status["failures"] == 1 and "replayed" in status["last_error"]
    assert status["server_seq"] is None  # nothing unverified says where the server is
    # Without the replay the withdrawal arrives.
    altering.alter = None
    done = sync.sync()
    assert done.withdrawn == 1 and local_hits(folder, SignalType.MD5, MD5_A) == []
    assert sync.status().positions_behind == 0


def test_a_page_generated_before_the_last_one_accepted_is_refused(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path, tmp_path: Path
        ) -> None:
    world = build_world(factory)
    a = add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    altering = AlteringClient(client)
    provider_sync(altering, world, folder).sync()
    retract(factory, world, a)
    signer = TreeHeadSigner.from_file(data_dir / "log-signing.key")
    last = state(folder)["log"]["accepted"]["changes"]

    def backdated(path: str, status: int, headers: dict[str, str], body: bytes
                  ) -> tuple[int, dict[str, str], bytes]:
        if path != CHANGES:
            return status, headers, body
        old = datetime.fromisoformat(last["generated_at"]) - timedelta(hours=1)
        return status, headers, json.dumps(sign({**json.loads(body),
                                                 "generated_at": old.isoformat()},
                                                signer)).encode()

    altering.alter = backdated
    with pytest.raises(SyncError, match="before the last one accepted"):
        provider_sync(altering, world, folder).sync()


def test_a_page_or_snapshot_whose_log_size_goes_back_is_refused(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path) -> None:
    world = build_world(factory)
    add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    provider_sync(client, world, folder).sync()
    # What the folder accepted last said a larger log than the server's answers now do (as
    # after a rollback of the server, or answers replayed from before).
    st = state(folder)
    st["log"]["accepted"]["changes"]["log_size"] = 10**9
    (folder / "vigil-sync.json").write_text(json.dumps(st))
    with pytest.raises(SyncError, match="less than the 1000000000 of the last one accepted"):
        provider_sync(client, world, folder).sync()

    trust = LogTrust.from_json(st["log"])
    trust.accepted["snapshot"] = Accepted(10**9, datetime.now(UTC).isoformat())
    feed = FeedClient(SERVER, world.tokens["provider"], LIST, policy=POLICY, trust=trust,
                      client=client)  # type: ignore[arg-type]
    feed.refresh_keys()
    with pytest.raises(SyncError, match=r"snapshot says log size .* less than"):
        feed.snapshot(tmp_path / "snap.json")


def test_the_folder_keeps_the_last_accepted_answers(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path) -> None:
    world = build_world(factory)
    add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    provider_sync(client, world, folder).sync()
    accepted = state(folder)["log"]["accepted"]
    assert set(accepted) == {"snapshot", "changes"}
    assert accepted["changes"]["log_size"] >= state(folder)["log"]["head"]["tree_size"] >= 1
    # A state file of an older vigil (no "accepted") still reads.
    assert LogTrust.from_json({"keys": [], "head": None}).accepted == {}
    for bad in ({"keys": [], "accepted": {"changes": {"log_size": "x"}}},
                {"keys": [], "accepted": {"changes": {"log_size": 1,
                                                      "generated_at": "2024-01-01T00:00:00"}}}):
        with pytest.raises(ValueError, match="not a log trust record"):
            LogTrust.from_json(bad)


def test_an_empty_page_that_says_more_follow_is_refused(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path, tmp_path: Path
        ) -> None:
    world = build_world(factory)
    add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    altering = AlteringClient(client)
    provider_sync(altering, world, folder).sync()
    signer = TreeHeadSigner.from_file(data_dir / "log-signing.key")

    def endless(path: str, status: int, headers: dict[str, str], body: bytes
                ) -> tuple[int, dict[str, str], bytes]:
        if path != CHANGES:
            return status, headers, body
        return status, headers, json.dumps(sign({**json.loads(body), "complete": False},
                                                signer)).encode()

    altering.alter = endless
    with pytest.raises(SyncError, match="no changes but says more follow"):
        provider_sync(altering, world, folder).sync()


def _two_pages(client: TestClient, factory: sessionmaker[Session], world: World,
               folder: Path) -> list[str]:
    a = add_active(factory, world, "md5", MD5_A)
    provider_sync(client, world, folder).sync()
    retract(factory, world, a)
    provider_sync(client, world, folder).sync()
    # Activity on another list moves the feed on without a page for this one.
    from vigil.db import transaction
    from vigil.indicators import service as indicators

    with transaction(factory) as s:
        (other,) = indicators.propose(s, world.principals["centre"], [indicators.Proposal(
            "md5", MD5_B, "non-material", "test")])
        indicators.verify(s, world.principals["partner"], other.id)
    provider_sync(client, world, folder).sync()
    assert state(folder)["checked"] > state(folder)["seq"]  # read on, but no page kept
    add_active(factory, world, "md5", MD5_B)
    provider_sync(client, world, folder).sync()
    pages: list[str] = state(folder)["pages"]
    assert len(pages) == 2
    return pages


def test_the_pages_form_an_unbroken_chain_and_a_dropped_one_shows(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path) -> None:
    world = build_world(factory)
    folder = tmp_path / "list"
    first, second = _two_pages(client, factory, world, folder)
    folder_ = read_synced_folder(folder)
    assert folder_.pages[0]["since"] == folder_.snapshot["seq"]
    assert folder_.pages[1]["since"] == folder_.pages[0]["until"]
    assert state(folder)["seq"] == folder_.pages[1]["until"] <= state(folder)["checked"]
    # Someone with write access to the folder drops the first page (the withdrawal of A):
    st = state(folder)
    (folder / "vigil-sync.json").write_text(json.dumps({**st, "pages": [second]}))
    with pytest.raises(ListFileError, match="a page between them is missing"):
        read_synced_folder(folder)
    # ... or the last one, leaving the state's position as it was.
    (folder / "vigil-sync.json").write_text(json.dumps({**st, "pages": [first]}))
    with pytest.raises(ListFileError, match="not where its last page ends"):
        read_synced_folder(folder)


def test_a_folder_of_an_older_vigil_starts_again_from_a_snapshot(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path) -> None:
    world = build_world(factory)
    folder = tmp_path / "list"
    _two_pages(client, factory, world, folder)
    st = state(folder)
    st.pop("chained")
    (folder / "vigil-sync.json").write_text(json.dumps(st))
    read_synced_folder(folder)  # read as before: no chain to check
    again = provider_sync(client, world, folder).sync()
    assert again.snapshot and state(folder)["chained"] and state(folder)["pages"] == []
    assert local_hits(folder, SignalType.MD5, MD5_B) != []
