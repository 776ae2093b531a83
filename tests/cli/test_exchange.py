"""`vigil exchange import / export / status` as an operator runs them: progress and the skipped
records on stderr, a JSON summary on stdout, the file written whole; bad input is one line
naming the problem (exit 2) and leaves the database as it was."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from tests.fixtures.world import build_world
from vigil.cli import app
from vigil.indicators.models import Indicator


@pytest.fixture
def vigil(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
          factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    for name in ("VIGIL_EXCHANGE_NCMEC_CREDENTIALS", "VIGIL_RESOLVER_OVERRIDES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VIGIL_DATABASE_URL", db_url)
    monkeypatch.setenv("VIGIL_ENVIRONMENT", "test")
    build_world(factory)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(Indicator)) or 0


def test_import_a_vics_file_then_export_it(vigil, factory: sessionmaker[Session], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
                                "value": [{"MediaID": 1, "Category": 1, "MD5": secrets.token_hex(16)},
                                          {"MediaID": 2, "SHA1": "zz"}]}))
    done = vigil("exchange", "import", "--programme", "vics", "--file", str(path), "--list", "known-material")
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["proposed"] == 1 and summary["skipped"] == 1 and summary["stopped"] is None
    assert "MediaID 2" in done.stderr and "1 record(s) skipped" in done.stderr
    assert "pending until a second organisation verifies them" in done.stderr
    status = vigil("exchange", "status", "--json")
    assert status.exit_code == 0, (status.stderr, status.exception)
    (row,) = json.loads(status.stdout)
    assert row["programme"] == "vics" and row["proposed"] == 1 and "MediaID 2" in row["problems"][0]
    out = tmp_path / "pending.txt"
    exported = vigil("exchange", "export", "--list", "known-material", "--format", "threatexchange",
                     "--status", "pending", "--out", str(out))
    assert exported.exit_code == 0, exported.stderr
    assert out.read_text().startswith("md5 ") and "1 indicator(s)" in exported.stderr


def test_a_file_of_bad_records_is_counted_but_only_the_first_thousand_are_kept(
        vigil, factory: sessionmaker[Session], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from vigil.sharing.models import ExchangeProblem
    from vigil.sharing.service import MAX_PROBLEMS_PER_RUN

    bad = MAX_PROBLEMS_PER_RUN + 50
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
                                "value": [{"MediaID": 0, "MD5": secrets.token_hex(16)}]
                                + [{"MediaID": i, "SHA1": "zz"} for i in range(1, bad + 1)]}))
    done = vigil("exchange", "import", "--programme", "vics", "--file", str(path), "--list", "known-material")
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["proposed"] == 1 and summary["skipped"] == bad
    assert len(summary["problems"]) == MAX_PROBLEMS_PER_RUN and summary["problems_not_kept"] == 50
    assert summary["problems"][-1]["where"].endswith(f"MediaID {MAX_PROBLEMS_PER_RUN}")
    assert f"{bad} record(s) skipped" in done.stderr
    assert "50 more skipped record(s) were counted but not written down" in done.stderr
    with factory() as s:
        rows = list(s.scalars(select(ExchangeProblem).order_by(ExchangeProblem.id)))
    assert len(rows) == MAX_PROBLEMS_PER_RUN + 1  # the first thousand, and one row for the rest
    assert rows[-1].error.startswith("50 more skipped record(s) counted but not written down")
    status = vigil("exchange", "status", "--json")
    (row,) = json.loads(status.stdout)
    assert row["skipped"] == bad and "50 more skipped" in row["problems"][0]
    # A second run of the same file keeps up to a thousand of its own.
    again = vigil("exchange", "import", "--programme", "vics", "--file", str(path), "--list", "known-material")
    assert again.exit_code == 0 and json.loads(again.stdout)["problems_not_kept"] == 50
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(ExchangeProblem)) == 2 * (MAX_PROBLEMS_PER_RUN + 1)


@pytest.mark.parametrize(("args", "message"), [
    (["--programme", "pigeon", "--list", "known-material"], "unknown programme 'pigeon'"),
    (["--programme", "ncmec", "--list", "known-material"], "set VIGIL_EXCHANGE_NCMEC_CREDENTIALS"),
    (["--programme", "vics", "--list", "known-material"], "needs --file"),
    (["--programme", "vics", "--list", "known-material", "--file", "/nonexistent.json"], "cannot read"),
    (["--programme", "file", "--list", "victim-submitted", "--file", "LIST"], "unverified list"),
    (["--programme", "file", "--list", "nope", "--file", "LIST"], "no list named 'nope'"),
])
def test_bad_input_is_one_line_and_changes_nothing(vigil, factory: sessionmaker[Session], tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   args: list[str], message: str) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text(f"pdq {secrets.token_hex(32)}\n")
    done = vigil("exchange", "import", *[str(listed) if a == "LIST" else a for a in args])
    assert done.exit_code == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr
    assert _count(factory) == 0


def test_credentials_come_from_a_file_never_the_command_line(vigil, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    creds = tmp_path / "ncmec"
    creds.write_text("no-colon-here\n")
    done = vigil("exchange", "import", "--programme", "ncmec", "--list", "known-material",
                 "--credentials-file", str(creds))
    assert done.exit_code == 2 and "USER:PASSWORD" in done.stderr
    assert "no-colon-here" not in done.stderr
    helptext = vigil("exchange", "import", "--help").stdout
    assert "--password" not in helptext and "--token" not in helptext
