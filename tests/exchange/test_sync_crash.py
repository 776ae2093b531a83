"""A sync that dies at any write resumes to the same folder as a sync that never died.

Every durable step of the sync client — each fsync, rename and delete — goes through three
module functions; the test makes the k-th of them fail (and every one after it, as in a process
that died), resumes with a fresh client, and compares the folder's list with a clean sync's,
for every k until a run passes all its steps."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.helpers import add_active, provider_sync, retract, state
from tests.fixtures.world import World, build_world
from vigil.exchange import sync as sync_module
from vigil.matching.listfile import load_list


class Crash(Exception):
    """The process died here."""


def _entries(folder: Path) -> list[tuple[str, str, str, str | None]]:
    hl = load_list(folder, signed=True)
    return sorted((e.id, e.signal_type.value, e.value, e.label) for e in hl.entries)


def _crash_at(monkeypatch: pytest.MonkeyPatch, k: int) -> list[int]:
    """Make the k-th durable step (0-based) and every later one fail; returns the counter."""
    calls = [0]

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any) -> Any:
            calls[0] += 1
            if calls[0] > k:
                raise Crash(f"died at step {k}")
            return real(*args)
        return step

    for name in ("_fsync", "_replace", "_unlink"):
        monkeypatch.setattr(sync_module, name, wrap(getattr(sync_module, name)))
    return calls


def _crash_then_resume(client: TestClient, world: World, folder: Path,
                       monkeypatch: pytest.MonkeyPatch) -> int:
    """For every k: copy ``folder``, sync it dying at step k, resume; return how many k."""
    clean = folder.parent / "clean"
    shutil.copytree(folder, clean)
    provider_sync(client, world, clean).sync()
    expected, expected_seq = _entries(clean), state(clean)["seq"]
    for k in itertools.count():
        trial = folder.parent / f"crash-{k}"
        shutil.copytree(folder, trial) if folder.exists() else None
        with monkeypatch.context() as m:
            _crash_at(m, k)
            try:
                provider_sync(client, world, trial).sync()
                return k  # every step passed: all crash points were tried
            except Crash:
                pass
        provider_sync(client, world, trial).sync()  # resume, nothing injected
        assert _entries(trial) == expected, f"crash at step {k}"
        assert state(trial)["seq"] == expected_seq
        leftovers = [p.name for p in trial.iterdir() if p.name.startswith(".tmp-")]
        assert leftovers == [], f"crash at step {k} left {leftovers}"
        shutil.rmtree(trial)
    raise AssertionError("unreachable")


@pytest.fixture
def world(factory: sessionmaker[Session]) -> World:
    return build_world(factory)


def test_a_crash_during_the_first_sync_resumes_correctly(
        client: TestClient, factory: sessionmaker[Session], world: World, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        add_active(factory, world, "md5", f"{i:032x}", label=f"L{i}")
    empty = tmp_path / "empty"
    empty.mkdir()
    steps = _crash_then_resume(client, world, empty, monkeypatch)
    assert steps >= 6  # snapshot, its rename, the state's write... each was a crash point


def test_a_crash_while_following_the_feed_resumes_correctly(
        client: TestClient, factory: sessionmaker[Session], world: World, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [add_active(factory, world, "md5", f"{i:032x}") for i in range(3)]
    base = tmp_path / "base"
    provider_sync(client, world, base).sync()
    retract(factory, world, ids[0])
    add_active(factory, world, "pdq", "a5" * 32, label="new")
    steps = _crash_then_resume(client, world, base, monkeypatch)
    assert steps >= 6


def test_a_crash_during_a_compaction_resumes_correctly(
        client: TestClient, factory: sessionmaker[Session], world: World, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [add_active(factory, world, "md5", f"{i:032x}") for i in range(4)]
    base = tmp_path / "base"
    provider_sync(client, world, base).sync()
    for i in ids[:3]:
        retract(factory, world, i)
    provider_sync(client, world, base).sync()
    monkeypatch.setattr(sync_module.ListSync, "_compaction_due", lambda self, s: True)
    steps = _crash_then_resume(client, world, base, monkeypatch)
    assert steps >= 8
