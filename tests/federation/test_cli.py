"""`vigil partner` as the operator runs it on the Centre's server, against a partner centre on
loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.exchange.helpers import add_active, retract
from tests.federation.conftest import HOST, Origin
from tests.fixtures.world import World
from vigil.cli import app

MD5 = "5d41402abc4b2a76b9719d911017c592"


def test_add_pull_list_quarantine_and_remove_a_partner(
        db_url: str, data_dir: Path, factory: sessionmaker[Session], centre: World,
        origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = add_active(origin.factory, origin.world, "md5", MD5)
    monkeypatch.setenv("VIGIL_DATABASE_URL", db_url)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VIGIL_RESOLVER_OVERRIDES", json.dumps({HOST: "127.0.0.1"}))
    runner = CliRunner()
    key = tmp_path / "partner-log.pem"
    key.write_bytes(origin.signer.public_key.public_bytes(*_pem()))
    r = runner.invoke(app, ["partner", "add", "Far Centre", "--url", origin.url, "--log-key",
                            str(key), "--list", "known-material"])
    assert r.exit_code == 0, r.output
    # No key at the partner yet: the pull fails and says what is missing.
    r = runner.invoke(app, ["partner", "pull"])
    assert r.exit_code == 1 and "VIGIL_PARTNER_KEYS" in r.output
    monkeypatch.setenv("VIGIL_PARTNER_KEYS", json.dumps({origin.url: origin.world.tokens["partner"]}))
    r = runner.invoke(app, ["partner", "pull", "Far Centre"])
    assert r.exit_code == 0 and "+1 -0" in r.output, r.output
    retract(origin.factory, origin.world, a)
    r = runner.invoke(app, ["partner", "pull"])
    assert r.exit_code == 0 and "+0 -1" in r.output, r.output
    r = runner.invoke(app, ["partner", "list", "--json"])
    (row,) = json.loads(r.stdout)
    assert (row["name"], row["imported"], row["failures"]) == ("Far Centre", 1, 0)
    assert row["head"] >= 1
    r = runner.invoke(app, ["partner", "quarantine", "Far Centre", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    # Bad input: a key that is not one, an unknown list.
    r = runner.invoke(app, ["partner", "add", "Other", "--url", origin.url, "--log-key", "zz",
                            "--list", "known-material"])
    assert r.exit_code == 2 and "not a log key" in r.output
    r = runner.invoke(app, ["partner", "add", "Other", "--url", origin.url, "--log-key",
                            origin.signer.public_bytes.hex(), "--list", "nope"])
    assert r.exit_code == 2 and "no list named 'nope'" in r.output
    r = runner.invoke(app, ["partner", "remove", "Far Centre"])
    assert r.exit_code == 0
    assert json.loads(runner.invoke(app, ["partner", "list", "--json"]).stdout) == []


def _pem() -> tuple[object, object]:
    from cryptography.hazmat.primitives import serialization
    return serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
