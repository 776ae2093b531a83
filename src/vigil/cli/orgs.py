"""``vigil org add | list``: the organisations of this instance, set up by the operator on the
server. An organisation added here is a founding one (approved from the start, and shown so in
the log); one the Centre adds through the API may wait for a second party."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli._console import err_console

app = typer.Typer(help="Organisations (partners: providers, hotlines, authorities, ...).",
                  no_args_is_help=True)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The organisation's name (unique).")],
    kind: Annotated[str, typer.Option(help="centre, partner_centre, provider, hotline, "
                                           "authority, europol or auditor.")],
    country: Annotated[str | None, typer.Option(help="Two-letter country code (an authority's "
                                                     "member state: required for authorities).")] = None,
) -> None:
    """Add an organisation; prints its id."""
    from vigil.cli._db import unit_of_work
    from vigil.orgs import service as orgs
    from vigil.orgs.access import parse_kind

    with unit_of_work() as s:
        org = orgs.create_organisation(s, None, name.strip(), parse_kind(kind), country)
        org_id, state = org.id, org.member_state
    where = f", {state}" if state else ""
    err_console.print(f"organisation {name.strip()!r} added ({parse_kind(kind).value}{where})",
                      highlight=False)
    typer.echo(org_id)


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of columns.")] = False,
) -> None:
    """Every organisation: id, name, kind, country, approved, keys in use."""
    from vigil.cli._db import unit_of_work
    from vigil.cli._table import print_rows
    from vigil.orgs import service as orgs

    with unit_of_work() as s:
        keys = orgs.list_keys(s)
        rows = [{"id": o.id, "name": o.name, "kind": o.kind, "country": o.member_state,
                 "approved": o.approved_at is not None,
                 "keys": sum(1 for k in keys if k.organisation_id == o.id and not k.revoked_at)}
                for o in orgs.list_organisations(s)]
    print_rows(rows, ["id", "name", "kind", "country", "approved", "keys"], as_json=as_json)
