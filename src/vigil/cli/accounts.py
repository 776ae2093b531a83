"""``vigil account add | list | disable | enable | reset-password | reset-2fa``: workspace
accounts for people, managed by the operator on the server (the API's ``orgs:manage`` routes
call the same functions). Generated passwords are printed once on stdout."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from vigil.cli._console import err_console, print_error

app = typer.Typer(help="Workspace accounts (people who sign in to the web pages).",
                  no_args_is_help=True)


def _password_from_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print_error("no password on standard input")
        raise typer.Exit(2)
    return password


@app.command("add")
def add(
    organisation: Annotated[str, typer.Option("--organisation", "--org",
                                              help="The organisation's exact name.")],
    username: Annotated[str, typer.Option(help="Sign-in name (letters, digits, . _ -).")],
    role: Annotated[str, typer.Option(help="reviewer, analyst, officer, auditor or admin.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    locale: Annotated[str, typer.Option(help="Language of the pages: en or de.")] = "en",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (otherwise one is "
                                 "generated and shown once).")] = False,
) -> None:
    """Create an account; prints its password once (it is stored only as an argon2id hash).
    A role that sees reports or decides on indicators sets up its second factor at the first
    sign-in."""
    from vigil.cli._db import unit_of_work
    from vigil.orgs import accounts, second_factor
    from vigil.orgs import service as orgs

    password = _password_from_stdin() if password_stdin else None
    with unit_of_work() as s:
        org = orgs.organisation_named(s, organisation)
        made = accounts.create_account(s, None, org.id, username, role, display_name=name,
                                       locale=locale, password=password)
        needs = second_factor.requires_second_factor(made.account)
    factor = "; it sets up its second factor at the first sign-in" if needs else ""
    if password is None:
        err_console.print(f"account {made.account.username!r} created ({role}){factor}; its "
                          "password, shown once:", highlight=False)
        typer.echo(made.password)
    else:
        err_console.print(f"account {made.account.username!r} created ({role}){factor}",
                          highlight=False)


@app.command("list")
def list_command(
    organisation: Annotated[str | None, typer.Option(
        "--organisation", "--org", help="Only this organisation's accounts.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of columns.")] = False,
) -> None:
    """Accounts: username, name, organisation, role, second factor, disabled."""
    from vigil.cli._db import unit_of_work
    from vigil.cli._table import print_rows
    from vigil.orgs import second_factor, staff
    from vigil.orgs import service as orgs

    with unit_of_work() as s:
        only = orgs.organisation_named(s, organisation).id if organisation is not None else None
        rows = [{"username": a.username, "name": a.display_name,
                 "organisation": a.api_key.organisation.name, "role": a.role,
                 "second_factor": ("enrolled" if second_factor.enrolled(a) else
                                   "required" if second_factor.requires_second_factor(a)
                                   else "none"),
                 "disabled": a.disabled_at.isoformat(timespec="seconds") if a.disabled_at else None}
                for a in staff.list_accounts(s, only)]
    print_rows(rows, ["username", "name", "organisation", "role", "second_factor", "disabled"],
               as_json=as_json)


@app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="The account's sign-in name.")]) -> None:
    """Disable an account: it cannot sign in, and its open sessions end now."""
    from vigil.cli._db import unit_of_work
    from vigil.orgs import staff

    with unit_of_work() as s:
        staff.disable_account(s, None, staff.find_account(s, username, lock=True))
    err_console.print(f"account {username!r} disabled; its sessions have ended", highlight=False)


@app.command("enable")
def enable(username: Annotated[str, typer.Argument(help="The account's sign-in name.")]) -> None:
    """Enable a disabled account again (its password and second factor are as they were)."""
    from vigil.cli._db import unit_of_work
    from vigil.orgs import staff

    with unit_of_work() as s:
        staff.enable_account(s, None, staff.find_account(s, username, lock=True))
    err_console.print(f"account {username!r} enabled", highlight=False)


@app.command("reset-password")
def reset_password(
    username: Annotated[str, typer.Argument(help="The account's sign-in name.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the new password from standard input (otherwise one is "
                                 "generated and shown once).")] = False,
) -> None:
    """Give an account a new password; its open sessions end."""
    from vigil.cli._db import unit_of_work
    from vigil.orgs import staff

    password = _password_from_stdin() if password_stdin else None
    with unit_of_work() as s:
        made = staff.reset_password(s, None, staff.find_account(s, username, lock=True),
                                       password)
    if password is None:
        err_console.print(f"the new password of {username!r}, shown once:", highlight=False)
        typer.echo(made.password)
    else:
        err_console.print(f"the password of {username!r} is changed", highlight=False)


@app.command("reset-2fa")
def reset_second_factor(
    username: Annotated[str, typer.Argument(help="The account's sign-in name.")],
) -> None:
    """Forget an account's authenticator and recovery codes (a lost phone): it sets up a new
    one at its next sign-in. Its open sessions end."""
    from vigil.cli._db import unit_of_work
    from vigil.orgs import staff

    with unit_of_work() as s:
        staff.reset_second_factor(s, None, staff.find_account(s, username, lock=True))
    err_console.print(f"the second factor of {username!r} is reset: a new one is set up at "
                      "the next sign-in", highlight=False)
