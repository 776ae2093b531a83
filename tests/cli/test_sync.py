"""`vigil sync` and `vigil match --list DIR` as a provider runs them, against a server on
loopback (its host pinned as VIGIL_RESOLVER_OVERRIDES would in a deployment's tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.exchange.helpers import add_active, retract
from tests.exchange.live import serve
from tests.fixtures.world import build_world
from vigil.cli import app
from vigil.translog.sth import TreeHeadSigner

MD5 = "5d41402abc4b2a76b9719d911017c592"


def _hits(runner: CliRunner, folder: Path, *extra: str) -> list[dict[str, object]]:
    r = runner.invoke(app, ["match", "--list", str(folder), *extra, f"md5:{MD5}"])
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def test_sync_then_match_the_folder_then_a_withdrawal_stops_the_match(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(factory)
    ind = add_active(factory, world, "md5", MD5, label="A1")
    monkeypatch.setenv("VIGIL_RESOLVER_OVERRIDES", json.dumps({"centre.test": "127.0.0.1"}))
    monkeypatch.setenv("VIGIL_SYNC_KEY", world.tokens["provider"])
    runner = CliRunner()
    folder = tmp_path / "known"
    with serve(client.app, lifespan=False) as port:  # type: ignore[arg-type]
        args = ["sync", "--server", f"http://centre.test:{port}", "--list", "known-material",
                "--dir", str(folder)]
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout.splitlines()[-1])["snapshot"] is True
        (hit,) = _hits(runner, folder)
        assert (hit["trust"], hit["verdict"], hit["id"], hit["label"]) == (
            "verified", "verified_match", str(ind), "A1")
        # --dihedral and --robust read the same folder (the one reader).
        assert _hits(runner, folder, "--dihedral") and _hits(runner, folder, "--robust")

        retract(factory, world, ind)
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout.splitlines()[-1])["withdrawn"] == 1
        assert _hits(runner, folder) == []

        # A pinned log key that is not the server's: refused (exit 3), the folder kept.
        other = tmp_path / "other.pem"
        other.write_bytes(TreeHeadSigner.generate().public_key.public_bytes(
            *_pem()))
        r = runner.invoke(app, [*args[:-1], str(tmp_path / "fresh"), "--log-key", str(other)])
        assert r.exit_code == 3, r.output
        assert "none of the server's log keys is the pinned log key" in r.output
        # A wrong API key: exit 1, saying so.
        monkeypatch.setenv("VIGIL_SYNC_KEY", "wrong")
        r = runner.invoke(app, args)
        assert r.exit_code == 1 and "refused the key (401)" in r.output

    # The server is gone; a sync fails (exit 1) and the folder still answers.
    monkeypatch.setenv("VIGIL_SYNC_KEY", world.tokens["provider"])
    r = runner.invoke(app, args)
    assert r.exit_code == 1, r.output
    status = json.loads((folder / "vigil-sync-status.json").read_text())
    assert status["failures"] == 1 and status["last_success"] is not None
    r = runner.invoke(app, ["match", "--list", str(folder), f"md5:{MD5}"])
    assert r.exit_code == 0 and "signed file(s) verified" in r.output


def test_a_synced_folder_with_an_altered_page_is_refused_by_match(
        client: TestClient, factory: sessionmaker[Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(factory)
    ind = add_active(factory, world, "md5", MD5)
    monkeypatch.setenv("VIGIL_RESOLVER_OVERRIDES", json.dumps({"centre.test": "127.0.0.1"}))
    runner = CliRunner()
    folder = tmp_path / "known"
    with serve(client.app, lifespan=False) as port:  # type: ignore[arg-type]
        args = ["sync", "--server", f"http://centre.test:{port}", "--key",
                world.tokens["provider"], "--list", "known-material", "--dir", str(folder)]
        assert runner.invoke(app, args).exit_code == 0
        retract(factory, world, ind)
        assert runner.invoke(app, args).exit_code == 0
    (page,) = folder.glob("changes-*.json")
    feed = json.loads(page.read_text())
    feed["changes"] = []  # someone on the machine undoes the withdrawal
    page.write_text(json.dumps(feed))
    r = runner.invoke(app, ["match", "--list", str(folder), f"md5:{MD5}"])
    assert r.exit_code == 2 and "signature is invalid" in r.output


def _pem() -> tuple[object, object]:
    from cryptography.hazmat.primitives import serialization
    return serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
