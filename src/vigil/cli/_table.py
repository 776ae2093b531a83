"""How the management commands print lists: tab-separated columns under a header on stdout
(for people, ``cut`` and ``awk``), or JSON with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(list(rows), indent=2, default=str))
        return
    typer.echo("\t".join(columns))
    for row in rows:
        typer.echo("\t".join("-" if row[c] is None or row[c] == "" else
                             " ".join(row[c]) if isinstance(row[c], list) else str(row[c])
                             for c in columns))
