"""The ``vigil`` command: one Typer app, one module per command group."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

from vigil.cli._console import err_console

if TYPE_CHECKING:
    # Typer (as pinned) carries its own copy of click; these are its types.
    from typer._click import Command, Context

#: Every command of ``vigil``, in the order ``vigil --help`` lists them: its name, the module of
#: ``vigil.cli`` that defines it and the name there (a function is one command, a Typer app a
#: group of them). A module is imported only when its command runs, so ``vigil org list`` does
#: not load the matching kernels, the video decoder or the web app (each command started in
#: ~1.3 s when every module was imported up front, most of it in modules it never used).
COMMANDS: dict[str, tuple[str, str]] = {
    # Single commands, then groups of them.
    "hash": ("hashing", "hash_command"),
    "match": ("matching", "match_command"),
    "sync": ("sync", "sync_command"),
    "scan": ("scan", "scan_command"),
    "demo": ("demo", "demo_command"),
    "init": ("init", "init_command"),
    "backup": ("backup", "backup_command"),
    "restore": ("backup", "restore_command"),
    "serve": ("serve", "serve_command"),
    "settings": ("settings", "settings_command"),
    "worker": ("worker", "worker_command"),
    "transparency-report": ("transparency", "transparency_command"),
    "bench": ("bench", "app"),
    "db": ("serve", "db_app"),
    "audit": ("audit", "app"),
    "org": ("orgs", "app"),
    "partner": ("partners", "app"),
    "key": ("apikeys", "app"),
    "account": ("accounts", "app"),
    "keys": ("keys", "app"),
    "crawl": ("crawl", "app"),
    "hotline": ("hotlines", "app"),
    "victim": ("victim", "app"),
    "jobs": ("jobs", "app"),
    "exchange": ("exchange", "app"),
    "i18n": ("i18n", "app"),
    "prevention": ("prevention", "app"),
}


def command(name: str) -> Command:
    """The click command ``vigil NAME`` runs, its module imported now.

    Raises:
        KeyError: ``name`` is not in :data:`COMMANDS`.
    """
    module, attr = COMMANDS[name]
    target = getattr(importlib.import_module(f"vigil.cli.{module}"), attr)
    if isinstance(target, typer.Typer):
        built: Command = typer.main.get_group(target)
    else:
        one = typer.Typer(add_completion=False)
        one.command(name)(target)
        built = typer.main.get_command(one)
    built.name = name
    return built


class _LazyGroup(TyperGroup):
    """The root group: lists :data:`COMMANDS` and builds only the one a command line names."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        return command(cmd_name) if cmd_name in COMMANDS else None


app = typer.Typer(
    name="vigil",
    cls=_LazyGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """vigil: hashing, matching and indicator lists for child-protection work."""


def main() -> None:
    """The ``vigil`` command. A database that cannot be reached, or whose schema this vigil
    cannot migrate (a newer vigil's, another application's, one without its version), is one
    line naming the problem (exit 2), never a traceback: under systemd, exit 2 is not
    restarted in a loop."""
    from vigil.migrations import SchemaError

    try:
        app()
    except SchemaError as exc:
        err_console.print(str(exc), highlight=False)
        raise SystemExit(2) from None
    except Exception as exc:
        # Imported here: SQLAlchemy costs ~0.4 s to import, and commands that need no
        # database (``vigil hash``, ``vigil --help``) should not pay it.
        import sqlite3

        from sqlalchemy.exc import DatabaseError, InterfaceError, OperationalError

        # (sqlite3.DatabaseError itself, not its subclasses: "file is not a database" — a
        # damaged or foreign file — is a database that cannot be used, a constraint is a bug)
        unusable_file = (isinstance(exc, DatabaseError)
                         and type(getattr(exc, "orig", None)) is sqlite3.DatabaseError)
        if not (isinstance(exc, OperationalError | InterfaceError) or unusable_file):
            raise
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        err_console.print(f"the database (VIGIL_DATABASE_URL) cannot be used: "
                          f"{cause[0] if cause else type(exc).__name__}", highlight=False)
        raise SystemExit(2) from None
