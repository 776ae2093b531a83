"""``vigil hotline add | list | remove``: the registry of partner hotlines (one per country),
kept by the Centre's operator on the server. The secret is asked for without echo (or read
from standard input when it is not a terminal), never taken from the command line, where it
would stay in the shell's history and in the process list."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from vigil.cli._console import err_console, print_error

app = typer.Typer(help="Partner hotlines: where URLs hosted in their country are referred.",
                  no_args_is_help=True)


def _keys() -> None:
    """Load the file keys, from which the column key that seals hotline secrets comes."""
    from vigil.cli._db import load_settings
    from vigil.reports.storage import load_file_keys

    try:
        load_file_keys(load_settings())
    except ValueError as exc:
        print_error(f"{exc}")
        raise typer.Exit(2) from None


def _secret() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("Secret (the partner's API key, or the webhook secret)",
                                hide_input=True))
    return sys.stdin.readline().rstrip("\r\n")


@app.command("add")
def add(
    country: Annotated[str, typer.Argument(help="Two-letter code of the country it serves.")],
    name: Annotated[str, typer.Argument(help="The hotline's name.")],
    kind: Annotated[str, typer.Option(help="vigil (a partner vigil's API) or webhook (signed "
                                           "webhooks).")],
    url: Annotated[str, typer.Option(help="The partner vigil's base URL, or the webhook URL. "
                                          "It must be public or pinned in the settings.")],
) -> None:
    """Register a country's partner hotline; the secret is asked for (or read from stdin)."""
    from vigil.cli._db import unit_of_work
    from vigil.takedown.referrals import hotlines

    secret = _secret()
    _keys()
    with unit_of_work() as s:
        h = hotlines.add(s, None, hotlines.HotlineIn(country, name, kind, url, secret))
        shown = f"{h.country}: {h.name} ({h.kind}, {h.url})"
    err_console.print(f"partner hotline added — {shown}", highlight=False)


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of columns.")] = False,
) -> None:
    """Every partner hotline (never its secret)."""
    from vigil.cli._db import unit_of_work
    from vigil.cli._table import print_rows
    from vigil.takedown.referrals import hotlines

    _keys()
    with unit_of_work() as s:
        rows = [{k: v for k, v in hotlines.as_json(h).items() if k != "created_at"}
                for h in hotlines.listing(s, None)]
    print_rows(rows, ["id", "country", "name", "kind", "url"], as_json=as_json)


@app.command("remove")
def remove(
    country: Annotated[str, typer.Argument(help="Two-letter code of the country.")],
) -> None:
    """Remove a country's partner hotline: its referrals are no longer delivered or followed."""
    from vigil.cli._db import unit_of_work
    from vigil.takedown.referrals import hotlines

    _keys()
    with unit_of_work() as s:
        name = hotlines.remove(s, None, country).name
    err_console.print(f"partner hotline {name!r} removed", highlight=False)
