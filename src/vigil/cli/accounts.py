"""``vigil account add``: a workspace account for a person, with a generated password shown
once."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli._console import err_console

app = typer.Typer(help="Workspace accounts (people who sign in to the web pages).",
                  no_args_is_help=True)


@app.command("add")
def add(
    organisation: Annotated[str, typer.Option(help="The organisation's exact name.")],
    username: Annotated[str, typer.Option(help="Sign-in name (letters, digits, . _ -).")],
    role: Annotated[str, typer.Option(help="reviewer, analyst, officer, auditor or admin.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    locale: Annotated[str, typer.Option(help="Language of the pages: en or de.")] = "en",
) -> None:
    """Create an account; prints its password once (it is stored only as an argon2id hash)."""
    from sqlalchemy import select

    from vigil.cli._db import unit_of_work
    from vigil.orgs import accounts
    from vigil.orgs.models import Organisation

    with unit_of_work() as s:
        org = s.scalar(select(Organisation).where(Organisation.name == organisation))
        if org is None:
            err_console.print(f"[red]no organisation named {organisation!r}[/red]")
            raise typer.Exit(2)
        password = accounts.create_account(s, None, org.id, username, role, display_name=name,
                                           locale=locale).password
    err_console.print(f"account {username!r} created ({role}); its password, shown once:")
    typer.echo(password)
