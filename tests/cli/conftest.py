"""The command line in process, on an initialised instance (the Centre exists)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from vigil.cli import app
from vigil.db import transaction
from vigil.orgs import service as orgs
from vigil.orgs.access import OrgKind


@pytest.fixture
def vigil_cli(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
              factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    """``run(*args, stdin=None) -> Result``: ``vigil ARGS`` against the test database and data
    directory, after the Centre organisation was created (as ``vigil init`` would)."""
    monkeypatch.setenv("VIGIL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VIGIL_DATABASE_URL", db_url)
    monkeypatch.setenv("VIGIL_ENVIRONMENT", "test")
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=stdin)

    with transaction(factory) as s:
        orgs.create_organisation(s, None, "Test Centre", OrgKind.CENTRE)
    return run
