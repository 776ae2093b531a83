"""First start of a real instance: `vigil init` sets up the Centre once; `vigil serve` on an
uninitialised database, or without a production setting, says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from vigil.db import make_engine, session_factory
from vigil.orgs.models import Organisation, StaffAccount


def _vigil(data: Path, *args: str, stdin: str | None = None,
           **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True,
                          input=stdin, timeout=120, check=False,
                          env={**os.environ, "VIGIL_DATA_DIR": str(data), **env})


def test_init_sets_up_the_centre_once_and_serve_waits_for_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = _vigil(data, "serve", "--port", "1")
    assert proc.returncode == 2 and "run `vigil init --centre NAME --admin USERNAME`" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _vigil(data, "init", "--centre", "Test Centre", "--admin", "chief")
    assert proc.returncode == 0, proc.stderr
    password = proc.stdout.strip()
    assert len(password) >= 16 and "shown once" in proc.stderr
    engine = make_engine(f"sqlite:///{data / 'vigil.db'}")
    with session_factory(engine)() as s:
        centre = s.scalars(select(Organisation)).one()
        assert (centre.name, centre.kind) == ("Test Centre", "centre") and centre.approved_at
        assert s.scalars(select(StaffAccount)).one().role == "admin"
    engine.dispose()
    assert (data / "file-encryption.key").exists()
    again = _vigil(data, "init", "--centre", "Other", "--admin", "x")
    assert again.returncode == 2 and "runs once" in again.stderr


def test_init_reads_the_password_from_stdin_and_refuses_a_weak_one(tmp_path: Path) -> None:
    proc = _vigil(tmp_path / "a", "init", "--centre", "C", "--admin", "chief",
                  "--password-stdin", stdin="short\n")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.strip()
    proc = _vigil(tmp_path / "b", "init", "--centre", "C", "--admin", "chief",
                  "--password-stdin", stdin="a-long-Passphrase-123!\n")
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr  # nothing to show


def test_a_missing_production_setting_is_one_line(tmp_path: Path) -> None:
    for command in (("serve", "--port", "1"), ("worker", "--once"),
                    ("init", "--centre", "C", "--admin", "chief")):
        proc = _vigil(tmp_path / "data", *command, VIGIL_ENVIRONMENT="production")
        assert proc.returncode == 2, (command, proc.stderr)
        assert proc.stderr.strip() == ("VIGIL_FILE_KEY must be set in production (evidence "
                                       "files are encrypted with it)"), (command, proc.stderr)
    proc = _vigil(tmp_path / "data", "serve", VIGIL_TRUSTED_PROXIES="not-an-address")
    assert proc.returncode == 2 and proc.stderr.startswith("setting VIGIL_TRUSTED_PROXIES:")


def test_before_init_every_command_that_needs_the_centre_refuses_in_one_line(tmp_path: Path) -> None:
    """Partners, keys, accounts, jobs and the worker wait for `vigil init`, as the server does:
    an organisation added first would otherwise stand before the Centre."""
    for command in (("org", "add", "Early", "--kind", "provider"), ("org", "list"),
                    ("key", "list"), ("account", "list"), ("jobs", "list"),
                    ("worker", "--once")):
        proc = _vigil(tmp_path / "data", *command)
        assert proc.returncode == 2, (command, proc.stderr)
        assert proc.stderr.strip().startswith("this database has no Centre yet"), (command, proc.stderr)
    assert _vigil(tmp_path / "data", "init", "--centre", "C", "--admin", "chief").returncode == 0
    assert _vigil(tmp_path / "data", "org", "list").returncode == 0


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://vigil:s3cret-pw@127.0.0.1:9/vigil"  # nothing listens on port 9
    for command in (("org", "list"), ("serve", "--port", "1"), ("worker", "--once"),
                    ("init", "--centre", "C", "--admin", "chief"), ("keys", "status")):
        proc = _vigil(tmp_path / "data", *command, VIGIL_DATABASE_URL=url)
        assert proc.returncode == 2, (command, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("the database (VIGIL_DATABASE_URL) cannot "
                                                       "be used:"), (command, proc.stderr)
        assert "s3cret-pw" not in proc.stderr


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "vigil.db").write_bytes(bytes(range(256)) * 20)  # not SQLite: a damaged file
    for command in (("org", "list"), ("db", "upgrade")):
        proc = _vigil(data, *command)
        assert proc.returncode == 2, (command, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "file is not a database" in lines[0], (command, proc.stderr)


@pytest.mark.parametrize(("change", "message", "commands"), [
    ("UPDATE alembic_version SET version_num = '9999'",
     "at revision '9999', which this vigil does not know",
     (("org", "list"), ("serve", "--port", "1"), ("worker", "--once"), ("db", "upgrade"),
      ("keys", "status"))),
    ("DELETE FROM alembic_version", "hash_lists, indicators, audit_events) but no vigil schema version",
     (("org", "list"), ("db", "upgrade"))),
])
def test_a_schema_this_vigil_cannot_migrate_is_one_line_and_left_alone(
        tmp_path: Path, change: str, message: str, commands: tuple[tuple[str, ...], ...]) -> None:
    """An older release started on a database a newer one migrated (a rollback without the
    backup), or a schema whose version row was lost: every command that opens it says so in
    one line, exit 2, and changes nothing (it never re-runs migrations over existing tables)."""
    from sqlalchemy import text

    data = tmp_path / "data"
    assert _vigil(data, "init", "--centre", "C", "--admin", "chief").returncode == 0
    engine = make_engine(f"sqlite:///{data / 'vigil.db'}")
    with engine.begin() as conn:
        conn.execute(text(change))
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    for command in commands:
        proc = _vigil(data, *command)
        assert proc.returncode == 2, (command, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (command, proc.stderr)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() \
            == version
        assert conn.execute(text("SELECT count(*) FROM organisations")).scalar() == 1
    engine.dispose()
