"""``vigil key issue | list | revoke``: API keys of the organisations, issued by the operator
on the server. Only a key's SHA-256 is stored: the secret is printed once, at issue."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli._console import err_console

app = typer.Typer(help="API keys of organisations (the secret is shown once, at issue).",
                  no_args_is_help=True)


@app.command("issue")
def issue(
    org: Annotated[str, typer.Option("--org", help="The organisation's exact name.")],
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", help="A scope (repeat the option); default: every scope the organisation's "
                        "kind may hold.")] = None,
    holder: Annotated[str | None, typer.Option(help="Who holds it (a system or a person's "
                                                    "role); default: the organisation.")] = None,
) -> None:
    """Issue a key; prints the secret once on stdout (store it now: it is never shown again)."""
    from vigil.cli._db import unit_of_work
    from vigil.orgs import service as orgs
    from vigil.orgs.access import OrgKind, allowed_scopes, parse_scopes

    with unit_of_work() as s:
        organisation = orgs.organisation_named(s, org)
        scopes = parse_scopes(scope) if scope else set(allowed_scopes(OrgKind(organisation.kind)))
        issued = orgs.issue_key(s, None, organisation.id, (holder or organisation.name).strip(),
                                scopes)
        key_id, granted = issued.key.id, issued.key.scopes
    err_console.print(f"key {key_id} issued to {org!r} with: {granted}; its secret, shown once:",
                      highlight=False)
    typer.echo(issued.token)


@app.command("list")
def list_command(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of columns.")] = False,
) -> None:
    """Keys (never their secrets): id, organisation, holder, scopes, issued, revoked,
    approved."""
    from vigil.cli._db import unit_of_work
    from vigil.cli._table import print_rows
    from vigil.orgs import service as orgs

    with unit_of_work() as s:
        only = orgs.organisation_named(s, org).id if org is not None else None
        names = orgs.names(s)
        rows = [{"id": k.id, "organisation": names[k.organisation_id], "holder": k.holder,
                 "scopes": k.scopes.split(), "issued": k.created_at.isoformat(timespec="seconds"),
                 "revoked": k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else None,
                 "approved": k.approved_at is not None}
                for k in orgs.list_keys(s, only)]
    print_rows(rows, ["id", "organisation", "holder", "scopes", "issued", "revoked", "approved"],
               as_json=as_json)


@app.command("revoke")
def revoke(key_id: Annotated[int, typer.Argument(help="The key's id (vigil key list).",
                                                  min=1, max=2**31 - 1)]) -> None:
    """Revoke a key: every server worker refuses it within VIGIL_AUTH_CACHE_SECONDS."""
    from vigil.cli._db import unit_of_work
    from vigil.orgs import service as orgs
    from vigil.orgs.models import ApiKey

    with unit_of_work() as s:
        found = s.get(ApiKey, key_id)
        before = found.revoked_at if found is not None else None
        key = orgs.revoke_key(s, None, key_id)
        holder = key.holder
    if before is not None:
        err_console.print(f"key {key_id} ({holder}) was revoked already", highlight=False)
    else:
        err_console.print(f"key {key_id} ({holder}) revoked", highlight=False)
