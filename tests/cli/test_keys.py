"""The operator's key commands end to end, as separate processes: after `vigil init`, both keys
are rotated, `vigil keys status` tells the state, `vigil audit verify` still passes, and a
backup made after the rotations restores elsewhere and verifies. Production refuses a
placeholder file key or a missing log key in one line."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _vigil(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True,
                          timeout=180, check=False,
                          env={**os.environ, "VIGIL_DATA_DIR": str(data), **env})


@pytest.mark.slow
def test_rotate_both_keys_then_back_up_restore_and_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _vigil(data, "init", "--centre", "Test Centre", "--admin", "chief").returncode == 0
    assert _vigil(data, "worker", "--once").returncode == 0  # seals and signs a first head
    old_log_key = (data / "log-signing.key").read_bytes()
    old_file_key = (data / "file-encryption.key").read_bytes()

    log = _vigil(data, "keys", "rotate", "--log-key")
    assert log.returncode == 0, log.stderr
    assert "announced a new log key" in log.stderr
    assert (data / "log-signing.key").read_bytes() != old_log_key
    assert not (data / "log-signing.key.new").exists()
    files = _vigil(data, "keys", "rotate", "--file-key")
    assert files.returncode == 0, files.stderr
    assert (data / "file-encryption.old-keys").read_bytes() == old_file_key + b"\n"
    assert oct((data / "file-encryption.old-keys").stat().st_mode & 0o777) == "0o600"
    assert _vigil(data, "worker", "--once").returncode == 0  # runs the re-encryption

    status = _vigil(data, "keys", "status")
    assert status.returncode == 0, status.stderr
    assert "re-encryption jobs queued or running: 0" in status.stdout
    assert "retired" in status.stdout  # the first log key
    verify = _vigil(data, "audit", "verify", "--no-state")
    assert verify.returncode == 0, verify.stderr

    archive = tmp_path / "backup.tar.gz"
    made = _vigil(data, "backup", "--out", str(archive))
    assert made.returncode == 0, made.stderr
    elsewhere = tmp_path / "elsewhere"
    restored = _vigil(elsewhere, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert (elsewhere / "file-encryption.old-keys").exists()
    again = _vigil(elsewhere, "audit", "verify", "--no-state")
    assert again.returncode == 0, again.stderr
    refused = _vigil(elsewhere, "restore", str(archive))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "not empty" in refused.stderr and "Traceback" not in refused.stderr


def test_production_refuses_a_placeholder_file_key_or_a_missing_log_key(tmp_path: Path) -> None:
    placeholder = base64.b64encode(bytes(32)).decode()
    proc = _vigil(tmp_path / "data", "serve", "--port", "1", VIGIL_ENVIRONMENT="production",
                  VIGIL_FILE_KEY=placeholder)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("VIGIL_FILE_KEY looks like a placeholder")
    real = base64.b64encode(os.urandom(32)).decode()
    for command in (("serve", "--port", "1"), ("worker", "--once")):
        proc = _vigil(tmp_path / "data", *command, VIGIL_ENVIRONMENT="production",
                      VIGIL_FILE_KEY=real)
        assert proc.returncode == 2, proc.stderr
        assert "log signing key" in proc.stderr and "run `vigil init` first" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "data" / "log-signing.key").exists()
