"""``vigil transparency-report``: the period's figures as HTML with charts, and JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli._console import err_console


def transparency_command(
    period: Annotated[str, typer.Option(help="2026-Q3, 2026-07 or 2026.")],
    out: Annotated[Path, typer.Option(help="Folder for index.html and report.json.")],
    lang: Annotated[str, typer.Option(help="The report's language: an EU language code "
                                      "(en, de, fr...).")] = "en",
) -> None:
    """Write the transparency report for a period (counts and medians only, no personal data)."""
    from vigil.cli._db import unit_of_work
    from vigil.web.i18n import LANGUAGES
    from vigil.web.transparency import write

    if lang not in LANGUAGES:
        err_console.print(f"--lang {lang!r}: not an official EU language code "
                          f"({', '.join(LANGUAGES)})", highlight=False)
        raise typer.Exit(2)
    with unit_of_work(initialised_only=False) as s:
        f = write(s, period, out, lang)
    err_console.print(f"{out / 'index.html'}: {f['reports']['received']} reports, "
                      f"{f['complaints']['received']} complaints, "
                      f"{f['takedown']['removed']} removals, {f['victims']['cases_opened']} "
                      "victim cases")
