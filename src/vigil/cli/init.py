"""``vigil init``: the first start of a real instance — the Centre, its first administrator
and the keys, on an empty database; and the checks ``vigil serve`` and ``vigil worker`` make
before they start."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli._console import err_console, print_error
from vigil.cli._db import initialised, load_settings

if TYPE_CHECKING:

    from vigil.config import Settings

def check_keys(settings: Settings, *, create: bool | None = None) -> None:
    """The file keys and the log key can be loaded; the log key is created if missing by
    ``vigil init`` (``create``) and outside production — in production a missing one means the
    instance was not initialised or its key was lost. A missing, placeholder or bad key is one
    line and exit status 2, never a traceback."""
    from vigil.reports.storage import load_file_keys
    from vigil.translog.sth import TreeHeadSigner

    if create is None:
        create = settings.environment != "production"
    path = settings.effective_log_key_path
    try:
        load_file_keys(settings)
        if not create and not path.exists():
            raise ValueError(f"the log signing key {path} is missing: run `vigil init` first, "
                             "or put back the key from your backup (VIGIL_LOG_KEY_PATH)")
        TreeHeadSigner.from_file(path, create=create)
    except (ValueError, OSError) as exc:
        print_error(f"{exc}")
        raise typer.Exit(2) from None


def init_command(
    centre: Annotated[str, typer.Option(help="The Centre organisation's name.")],
    admin: Annotated[str, typer.Option(help="Sign-in name of the first administrator.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the administrator's password from standard input "
        "(otherwise one is generated and shown once).")] = False,
) -> None:
    """Set up an empty database: the Centre organisation (a founding organisation, approved
    from the start), its first administrator, and the file and log keys. Refuses to run on a
    database that has a Centre already."""
    from vigil.cli._db import unit_of_work
    from vigil.orgs import accounts
    from vigil.orgs import service as orgs
    from vigil.orgs.access import OrgKind

    settings = load_settings()
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            print_error("no password on standard input")
            raise typer.Exit(2)
    check_keys(settings, create=True)
    with unit_of_work(initialised_only=False) as s:
        if initialised(s):
            print_error("this database has a Centre already: vigil init runs once")
            raise typer.Exit(2)
        org = orgs.create_organisation(s, None, centre, OrgKind.CENTRE)
        made = accounts.create_account(s, None, org.id, admin, "admin", password=password)
    err_console.print(f"the Centre {centre!r} and its administrator {made.account.username!r} "
                      "are set up; start the service with `vigil serve` and `vigil worker`")
    if password is None:
        err_console.print("the administrator's password, shown once:")
        typer.echo(made.password)
