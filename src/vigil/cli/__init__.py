"""The ``vigil`` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from vigil.cli import (
    accounts,
    apikeys,
    audit,
    backup,
    bench,
    crawl,
    demo,
    exchange,
    hashing,
    hotlines,
    i18n,
    init,
    jobs,
    keys,
    matching,
    orgs,
    partners,
    prevention,
    scan,
    serve,
    settings,
    sync,
    transparency,
    victim,
    worker,
)
from vigil.cli._console import err_console

app = typer.Typer(
    name="vigil",
    help="vigil: hashing, matching and indicator lists for child-protection work.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("hash")(hashing.hash_command)
app.command("match")(matching.match_command)
app.command("sync")(sync.sync_command)
app.command("scan")(scan.scan_command)
app.command("demo")(demo.demo_command)
app.add_typer(bench.app, name="bench")
app.command("init")(init.init_command)
app.command("backup")(backup.backup_command)
app.command("restore")(backup.restore_command)
app.command("serve")(serve.serve_command)
app.add_typer(serve.db_app, name="db")
app.command("settings")(settings.settings_command)
app.add_typer(audit.app, name="audit")
app.add_typer(orgs.app, name="org")
app.add_typer(partners.app, name="partner")
app.add_typer(apikeys.app, name="key")
app.add_typer(accounts.app, name="account")
app.add_typer(keys.app, name="keys")
app.add_typer(crawl.app, name="crawl")
app.add_typer(hotlines.app, name="hotline")
app.add_typer(victim.app, name="victim")
app.command("worker")(worker.worker_command)
app.add_typer(jobs.app, name="jobs")
app.add_typer(exchange.app, name="exchange")
app.command("transparency-report")(transparency.transparency_command)
app.add_typer(i18n.app, name="i18n")
app.add_typer(prevention.app, name="prevention")


def main() -> None:
    """The ``vigil`` command. A database that cannot be reached is one line naming the
    problem (exit 2), never a traceback: under systemd, exit 2 is not restarted in a loop."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    try:
        app()
    except (OperationalError, InterfaceError) as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        err_console.print(f"the database (VIGIL_DATABASE_URL) cannot be used: "
                          f"{cause[0] if cause else type(exc).__name__}", highlight=False)
        raise SystemExit(2) from None
