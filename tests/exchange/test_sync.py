"""The provider's sync client against a running app: snapshot, feed, withdrawals, and the folder
that `vigil match --list DIR` reads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.helpers import (
    POLICY,
    SERVER,
    add_active,
    local_hits,
    provider_sync,
    retract,
    state,
)
from tests.fixtures.world import World, build_world
from vigil.egress import EgressPolicy
from vigil.exchange.client import SyncError
from vigil.exchange.sync import STATUS, ListSync
from vigil.matching.errors import ListFileError
from vigil.matching.listfile import load_list, read_synced_folder
from vigil.matching.signals import SignalType

MD5_A = "5d41402abc4b2a76b9719d911017c592"
MD5_B = "7d793037a0760186574b0282f2f435e7"
PDQ = "f0" * 32


@pytest.fixture
def world(factory: sessionmaker[Session]) -> World:
    return build_world(factory)


def test_a_withdrawal_on_the_server_stops_local_matches_after_the_next_sync(
        client: TestClient, factory: sessionmaker[Session], world: World, tmp_path: Path) -> None:
    a = add_active(factory, world, "md5", MD5_A, label="A1")
    add_active(factory, world, "pdq", PDQ)
    folder = tmp_path / "list"
    first = provider_sync(client, world, folder).sync()
    assert first.snapshot and first.head_size > 0
    assert local_hits(folder, SignalType.MD5, MD5_A) == [str(a)]
    hl = load_list(folder, signed=True)
    assert hl.ref.name == "known-material" and hl.ref.trust.value == "verified"
    assert {e.label for e in hl.entries} == {"A1", None}

    retract(factory, world, a)
    b = add_active(factory, world, "md5", MD5_B, label="B2")
    second = provider_sync(client, world, folder).sync()
    assert not second.snapshot and (second.added, second.withdrawn) == (1, 1)
    assert local_hits(folder, SignalType.MD5, MD5_A) == []  # withdrawn: no longer matches
    assert local_hits(folder, SignalType.MD5, MD5_B) == [str(b)]
    assert local_hits(folder, SignalType.PDQ, PDQ) != []
    assert [e.label for e in load_list(folder, signed=True).entries if e.id == str(b)] == ["B2"]
    # The head it trusts now covers the feed and is kept in the folder.
    st = state(folder)
    assert st["log"]["head"]["tree_size"] == second.head_size >= first.head_size
    status = json.loads((folder / STATUS).read_text())
    assert status["positions_behind"] == 0 and status["last_error"] is None
    assert status["seconds_behind"] < 60


def test_nothing_new_changes_nothing_and_a_second_sync_needs_no_snapshot(
        client: TestClient, factory: sessionmaker[Session], world: World, tmp_path: Path) -> None:
    add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    provider_sync(client, world, folder).sync()
    files = sorted(p.name for p in folder.iterdir())
    again = provider_sync(client, world, folder).sync()
    assert (again.snapshot, again.pages, again.added, again.withdrawn) == (False, 0, 0, 0)
    assert sorted(p.name for p in folder.iterdir()) == files


def test_many_changes_are_compacted_into_a_new_snapshot(
        client: TestClient, factory: sessionmaker[Session], world: World, tmp_path: Path) -> None:
    ids = [add_active(factory, world, "md5", f"{i:032x}") for i in range(3)]
    folder = tmp_path / "list"
    provider_sync(client, world, folder, compact_min=1).sync()
    for i in ids[:2]:
        retract(factory, world, i)
    provider_sync(client, world, folder, compact_min=1).sync()
    assert len(state(folder)["pages"]) == 1
    third = provider_sync(client, world, folder, compact_min=1).sync()
    assert third.snapshot and state(folder)["pages"] == []
    assert [p.name for p in folder.glob("changes-*")] == []
    assert len(list(folder.glob("snapshot-*"))) == 1
    assert [e.id for e in load_list(folder, signed=True).entries] == [str(ids[2])]


def test_a_folder_of_another_server_or_list_is_not_mixed_up(
        client: TestClient, factory: sessionmaker[Session], world: World, tmp_path: Path) -> None:
    folder = tmp_path / "list"
    provider_sync(client, world, folder).sync()
    other = ListSync(SERVER, world.tokens["provider"], "victim-submitted", folder,
                     policy=POLICY, client=client)  # type: ignore[arg-type]
    with pytest.raises(SyncError, match="holds list 'known-material'"):
        other.sync()


def test_the_egress_policy_guards_the_connection(
        client: TestClient, world: World, tmp_path: Path) -> None:
    # centre.test is not pinned here, and a loopback address is not public.
    sync = ListSync("http://127.0.0.1:9", world.tokens["provider"], "known-material",
                    tmp_path / "list", policy=EgressPolicy(), client=client)  # type: ignore[arg-type]
    with pytest.raises(SyncError, match="non-public address"):
        sync.sync()
    with pytest.raises(SyncError, match="not an http"):
        ListSync("ftp://centre.test", "k", "l", tmp_path / "x", policy=POLICY).sync()


def test_a_wrong_key_or_an_unknown_list_is_a_clear_error(
        client: TestClient, world: World, tmp_path: Path) -> None:
    bad = ListSync(SERVER, "not-a-key", "known-material", tmp_path / "a", policy=POLICY,
                   client=client)  # type: ignore[arg-type]
    with pytest.raises(SyncError, match=r"refused the key \(401\)"):
        bad.sync()
    unknown = ListSync(SERVER, world.tokens["provider"], "no-such-list", tmp_path / "b",
                       policy=POLICY, client=client)  # type: ignore[arg-type]
    with pytest.raises(SyncError, match="not found"):
        unknown.sync()
    status = json.loads((tmp_path / "b" / STATUS).read_text())
    assert status["failures"] == 1 and "not found" in status["last_error"]


def test_follow_syncs_until_stopped_and_backs_off_after_failures(
        client: TestClient, factory: sessionmaker[Session], world: World, tmp_path: Path) -> None:
    add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def report(status: object, result: object) -> None:
        seen.append((status.failures, status.last_error))  # type: ignore[attr-defined]
        if len(seen) >= 2:
            stop.set()

    provider_sync(client, world, folder).follow(0.01, stop=stop, report=report)
    assert seen == [(0, None), (0, None)]
    assert local_hits(folder, SignalType.MD5, MD5_A) != []

    failing = ListSync(SERVER, "not-a-key", "known-material", tmp_path / "f", policy=POLICY,
                       client=client)  # type: ignore[arg-type]
    waits: list[float] = []
    stop2 = threading.Event()
    stop2.wait = lambda t=None: waits.append(t or 0) or len(waits) >= 3  # type: ignore[method-assign,assignment]
    stop2.is_set = lambda: len(waits) >= 3  # type: ignore[method-assign]
    failing.follow(10, stop=stop2, max_backoff=50)
    assert 16 <= waits[0] <= 24 and 32 <= waits[1] <= 48 and waits[2] == pytest.approx(50, rel=0.2)
    assert failing.status().failures == 3


def test_a_broken_folder_is_refused_by_the_reader(
        client: TestClient, factory: sessionmaker[Session], world: World, tmp_path: Path) -> None:
    a = add_active(factory, world, "md5", MD5_A)
    folder = tmp_path / "list"
    provider_sync(client, world, folder).sync()
    retract(factory, world, a)
    provider_sync(client, world, folder).sync()
    (page,) = state(folder)["pages"]
    (folder / page).unlink()
    with pytest.raises(ListFileError, match="cannot read"):
        read_synced_folder(folder)
    with pytest.raises(ListFileError, match="not one kept by 'vigil sync'"):
        read_synced_folder(tmp_path)
