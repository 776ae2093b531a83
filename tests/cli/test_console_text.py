"""What the CLI prints is shown as it is: a file named with brackets, an error or a hostile
server's message is never read as rich markup — it neither disappears, nor styles the
output, nor crashes the command after its work is done."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli import app
from vigil.cli._console import err_console, print_error
from vigil.sharing.imports import ImportRun
from vigil.sharing.service import Tally


def test_errors_and_plain_lines_keep_their_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("photos/[bold]x[/].jpg: cannot read", "error")
    err_console.print("a [red]server[/red] said [/] and [link=http://x]y[/link]")
    err = capsys.readouterr().err
    assert "error photos/[bold]x[/].jpg: cannot read" in err
    assert "a [red]server[/red] said [/] and [link=http://x]y[/link]" in err


def test_an_import_report_shows_a_hostile_paging_link_as_it_is(
        capsys: pytest.CaptureFixture[str]) -> None:
    from vigil.cli.exchange import _report

    tally = Tally(pages=1)
    tally.problems.append(("record [/]", "malformed [red]record[/red]"))
    tally.skipped = 1
    run = ImportRun("ncmec", "Industry [x]", "known-material", tally,
                    stopped="page 2: ValueError: bad [/] page",
                    stepped_past=["entries after the page at /v2/entries?start=3&x=[/]"])
    _report(run)
    err = capsys.readouterr().err
    assert "Industry [x]" in err and "record [/]" in err and "malformed [red]record[/red]" in err
    assert "/v2/entries?start=3&x=[/] were not imported" in err
    assert "stopped: page 2: ValueError: bad [/] page" in err


def test_a_file_named_with_brackets_is_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "[red]broken[bold].jpg"
    bad.write_bytes(b"not a picture")
    result = CliRunner().invoke(app, ["hash", str(bad)])
    assert "[red]broken[bold].jpg" in result.output
