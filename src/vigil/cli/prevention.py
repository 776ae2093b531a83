"""``vigil prevention``: the prevention hub from the server's command line — load the seed
of public sources, and check it."""

from __future__ import annotations

import typer

from vigil.cli._console import err_console

app = typer.Typer(help="The prevention hub: its seed of public sources.", no_args_is_help=True)


@app.command("seed")
def seed_command() -> None:
    """Publish the seed file's programmes, resources and working groups that are new or
    changed (each a version in the entry's history; the audit trail says so)."""
    from vigil.cli._db import unit_of_work
    from vigil.prevention import service

    with unit_of_work() as s:
        added, updated = service.seed(s)
    err_console.print(f"prevention hub: {added} entries added, {updated} updated",
                      highlight=False)


@app.command("check")
def check_command() -> None:
    """Check the seed file (every entry in the format, with its public source); exit 1
    naming the first problem."""
    from vigil.errors import DomainError
    from vigil.prevention import service

    try:
        entries = service.read_seed()
    except DomainError as exc:
        err_console.print(exc.message, highlight=False, markup=False)
        raise typer.Exit(1) from None
    typer.echo(f"{len(entries)} entries, each with its source")
