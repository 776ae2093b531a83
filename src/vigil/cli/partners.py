"""``vigil partner add | list | remove | quarantine | pull``: partner centres — other vigil
instances whose signed lists this Centre imports (:mod:`vigil.federation`). Set up by the
operator on the server; ``vigil worker`` pulls them every ``VIGIL_FEDERATION_SYNC_SECONDS``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli._console import err_console

app = typer.Typer(help="Partner centres (vigil instances whose lists are imported here).",
                  no_args_is_help=True)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The partner centre's name: its organisation here "
                                             "(made, as a founding partner centre, if absent).")],
    url: Annotated[str, typer.Option(help="Its vigil server (https://...); its host must be "
                                          "public or pinned in the egress settings.")],
    log_key: Annotated[str, typer.Option(help="Its log key: a PEM file (GET /v1/log/key), or "
                                              "the raw key as 64 hex digits or base64.")],
    remote_list: Annotated[str, typer.Option("--list", help="Its list to import.")],
    into: Annotated[str | None, typer.Option(help="The local list to import into (default: "
                                                  "the one named like the remote list).")] = None,
    origin_verification_counts: Annotated[bool, typer.Option(
        "--origin-verification-counts", help="The agreement: indicators of its verified list "
        "enter active here (two organisations confirmed them there). Without it every import "
        "is pending until a local reviewer verifies it.")] = False,
) -> None:
    """Register a partner centre; prints its id. Its API key goes in VIGIL_PARTNER_KEYS, under
    the partner's URL."""
    from vigil.cli._db import unit_of_work
    from vigil.federation import service

    text = log_key
    path = Path(log_key)
    if path.is_file():
        text = path.read_text(errors="replace")
    with unit_of_work() as s:
        p = service.register(s, None, name, url=url, log_key=service.parse_log_key(text),
                             remote_list=remote_list, local_list=into,
                             origin_verification_counts=origin_verification_counts)
        partner_id = p.id
    err_console.print(f"partner {name.strip()!r} registered; give its API key in "
                      f"VIGIL_PARTNER_KEYS under its URL ({url.strip().rstrip('/')}), then "
                      "`vigil partner pull` or wait for the worker",
                      highlight=False)
    typer.echo(partner_id)


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of columns.")] = False,
) -> None:
    """Every partner: its list, agreement, feed position, trusted head, imports, last error."""
    from vigil.cli._db import unit_of_work
    from vigil.cli._table import print_rows
    from vigil.federation import service

    with unit_of_work() as s:
        rows = [{"id": p.id, "name": p.name, "url": p.url, "list": p.remote_list,
                 "origin_counts": p.origin_verification_counts, "seq": p.seq,
                 "head": head, "imported": n, "failures": p.failures,
                 "last_error": p.last_error} for p, n, head in service.overview(s)]
    print_rows(rows, ["id", "name", "url", "list", "origin_counts", "seq", "head", "imported",
                      "failures", "last_error"], as_json=as_json)


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The partner's name.")]) -> None:
    """Stop pulling from a partner and revoke its import key (what it brought stays)."""
    from vigil.cli._db import unit_of_work
    from vigil.federation import service

    with unit_of_work() as s:
        service.remove(s, None, name)
    err_console.print(f"partner {name!r} removed", highlight=False)


@app.command("quarantine")
def quarantine(
    name: Annotated[str, typer.Argument(help="The partner's name.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of columns.")] = False,
) -> None:
    """A partner's records that were not imported: malformed, or in a refused answer."""
    from vigil.cli._db import unit_of_work
    from vigil.cli._table import print_rows
    from vigil.federation import repository

    with unit_of_work() as s:
        p = repository.partner_named(s, name)
        rows = [{"id": q.id, "seq": q.origin_seq, "origin_id": q.origin_id,
                 "reason": q.reason, "record": q.record[:200], "at": q.at.isoformat()}
                for q in repository.quarantined(s, p.id, limit=1000)]
    print_rows(rows, ["id", "seq", "origin_id", "reason", "record", "at"], as_json=as_json)


@app.command("pull")
def pull(name: Annotated[str | None, typer.Argument(help="One partner (default: all).")] = None
         ) -> None:
    """Pull now (what the worker does periodically); one line per partner. Exit 1 if any
    pull failed."""
    from vigil.cli._db import load_settings, unit_of_work
    from vigil.db import make_engine, session_factory
    from vigil.federation import repository, service

    settings = load_settings()
    with unit_of_work() as s:
        ids = [repository.partner_named(s, name).id] if name else service.active_partner_ids(s)
    engine = make_engine(settings.effective_database_url)
    failed = False
    try:
        for partner_id in ids:
            r = service.pull(session_factory(engine), settings, partner_id)
            failed = failed or r.error is not None
            err_console.print(f"{r.partner}: {'failed: ' + r.error if r.error else 'ok'} "
                              f"(+{r.imported} -{r.withdrawn}, {r.quarantined} quarantined, "
                              f"position {r.seq})", highlight=False)
    finally:
        engine.dispose()
    if failed:
        raise typer.Exit(1)
