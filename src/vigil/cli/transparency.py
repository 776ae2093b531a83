"""``vigil transparency-report``: the period's figures as HTML with charts, and JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli._console import err_console


def transparency_command(
    period: Annotated[str, typer.Option(help="2026-Q3, 2026-07 or 2026.")],
    out: Annotated[Path, typer.Option(help="Folder for index.html and report.json.")],
) -> None:
    """Write the transparency report for a period (counts and medians only, no personal data)."""
    from vigil.cli._db import unit_of_work
    from vigil.web.transparency import write

    with unit_of_work(initialised_only=False) as s:
        f = write(s, period, out)
    err_console.print(f"{out / 'index.html'}: {f['reports']['received']} reports, "
                      f"{f['complaints']['received']} complaints, "
                      f"{f['takedown']['removed']} removals, {f['victims']['cases_opened']} "
                      "victim cases")
