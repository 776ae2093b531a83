"""``vigil exchange``: import from hash-sharing programmes into a list, export a list in the
formats they take (NCMEC, StopNCII, Meta ThreatExchange, threatexchange files, Project VIC
VICS 1.3). Credentials come from the settings or a file, never from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli._console import err_console, print_error, progress, stop_on_sigterm

app = typer.Typer(help="Hash-sharing programmes: import into a list (with checkpoints), export a "
                       "list in a programme's format.", no_args_is_help=True)


@app.command("import")
def import_command(
    programme: Annotated[str, typer.Option(help="ncmec, stopncii, threatexchange, file (a "
                                           "threatexchange '<type> <hash>' file) or vics "
                                           "(a Project VIC VICS 1.3 JSON file).")],
    list_name: Annotated[str, typer.Option("--list", help="The (verified) list the hashes are "
                                           "proposed to; a second organisation verifies them.")],
    file: Annotated[Path | None, typer.Option(help="The file to read (file and vics).")] = None,
    credentials_file: Annotated[Path | None, typer.Option(
        help="A file holding the programme's credentials in threatexchange's forms (NCMEC "
             "USER:PASSWORD, StopNCII FETCH_KEY,SUBSCRIPTION_KEY, ThreatExchange APP_ID|TOKEN) "
             "instead of the VIGIL_EXCHANGE_* settings.")] = None,
    legal_basis: Annotated[str | None, typer.Option(
        help="The legal basis recorded with each proposal (default: the programme's "
             "hash-sharing agreement).")] = None,
    max_pages: Annotated[int | None, typer.Option(min=1, help="Stop after this many pages (the "
                                                   "next run resumes there).")] = None,
) -> None:
    """Import a programme's hashes as proposed indicators, from where the last import of the
    same programme into the same list stopped. Skipped records are listed (and kept in the
    database: `vigil exchange status`). Exit 0: all read; 1: stopped at a page that could not
    be read (run again to retry it; a page that cannot be read at the same place in
    VIGIL_EXCHANGE_UNREADABLE_RUNS runs in a row is stepped past and written down); 2: nothing
    done (a bad list, setting or credential)."""
    from vigil.cli._db import load_settings, unit_of_work
    from vigil.db import make_engine, session_factory
    from vigil.errors import DomainError
    from vigil.exchange.programmes import programme_for
    from vigil.sharing.imports import ImportRun, run_import

    settings = load_settings()
    with unit_of_work():  # migrations applied, an initialised Centre
        pass
    try:
        source = programme_for(programme, settings, credentials_file=credentials_file, path=file)
    except DomainError as exc:
        print_error(f"{exc.message}")
        raise typer.Exit(2) from None
    basis = legal_basis or f"{programme} hash-sharing agreement"
    engine = make_engine(settings.effective_database_url)
    stop_on_sigterm()
    try:
        with progress() as bar:
            task = bar.add_task(f"{programme} → {list_name}", total=None)

            def show(run: ImportRun) -> None:
                t = run.tally
                bar.update(task, completed=t.pages, description=(
                    f"{programme} → {list_name}: {t.pages} page(s), {t.proposed} proposed, "
                    f"{t.already_listed} already listed, {t.skipped} skipped, "
                    f"{t.withdrawn} withdrawn"))

            run = run_import(session_factory(engine), source, list_name, legal_basis=basis,
                             max_pages=max_pages, progress=show,
                             unreadable_runs=settings.exchange_unreadable_runs,
                             skip_seconds=settings.exchange_skip_seconds)
    except DomainError as exc:
        print_error(f"{exc.message}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err_console.print("stopped; the next `vigil exchange import` resumes at the last page")
        raise typer.Exit(130) from None
    finally:
        engine.dispose()
    _report(run)
    print(json.dumps(run.to_json()))
    if run.stopped:
        raise typer.Exit(1)


def _report(run: object) -> None:
    """The run's report on standard error. Text that came from the programme (places, errors,
    a paging link, a file name) is shown as it is: the console reads no markup, and the two
    styled lines escape what they interpolate."""
    from rich.markup import escape
    from rich.table import Table

    from vigil.sharing.imports import ImportRun

    assert isinstance(run, ImportRun)
    t = run.tally
    err_console.print(f"{run.programme} ({run.collection}) → {run.list_name}: {t.proposed} "
                      f"proposed (pending until a second organisation verifies them), "
                      f"{t.already_listed} already listed, {t.skipped} skipped, {t.withdrawn} "
                      f"withdrawn, {t.pages} page(s)", highlight=False)
    skipped = [p for p in t.problems if not (run.stopped and p[1] == run.stopped)
               and not p[1].startswith("stepped past")]
    if skipped:
        table = Table("where", "why skipped", title=f"{t.skipped} record(s) skipped")
        for where, error in skipped[:50]:
            table.add_row(where, error)
        err_console.print(table)
        if len(skipped) > 50:
            err_console.print(f"... and {len(skipped) - 50} more (vigil exchange status)")
    if t.problems_not_kept:
        err_console.print(f"{t.problems_not_kept} more skipped record(s) were counted but not "
                          f"written down: a run keeps the first {len(skipped)}", highlight=False)
    for what in run.stepped_past:
        err_console.print(f"[yellow]stepped past an unreadable page: {escape(what)} were not "
                          "imported[/yellow] (written down: vigil exchange status)",
                          highlight=False, markup=True)
    if run.stopped:
        err_console.print(f"[red]stopped: {escape(run.stopped)}[/red]\nthe next import resumes "
                          "at the last page it read", highlight=False, markup=True)


@app.command("export")
def export_command(
    list_name: Annotated[str, typer.Option("--list", help="The list to export.")],
    fmt: Annotated[str, typer.Option("--format", help="threatexchange, ncmec, stopncii or "
                                     "vics.")],
    out: Annotated[Path | None, typer.Option(help="Write here (default: standard output).")] = None,
    status: Annotated[str, typer.Option(help="Which indicators: active (default: verified by "
                                        "two organisations) or pending.")] = "active",
) -> None:
    """Export a list's indicators in a programme's format."""
    import sys

    from vigil.cli._db import unit_of_work
    from vigil.sharing.exports import export_list

    with unit_of_work() as s:
        result = export_list(s, list_name, fmt, status=status)
    if out is None:
        sys.stdout.buffer.write(result.data)
        sys.stdout.flush()
    else:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(result.data)
        tmp.replace(out)
    left = ", ".join(f"{n} {st}" for st, n in sorted(result.left_out.items()))
    err_console.print(f"{result.exported} indicator(s) of {list_name} as {fmt}"
                      + (f"; left out (no place in the format): {left}" if left else ""),
                      highlight=False)


@app.command("status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of columns.")] = False,
) -> None:
    """Every import source: its list, totals, where it stands, its latest problems."""
    from vigil.cli._db import unit_of_work
    from vigil.cli._table import print_rows
    from vigil.sharing import service

    with unit_of_work() as s:
        rows = []
        for src, list_name in service.sources(s):
            problems = service.recent_problems(s, src.id, 5)
            rows.append({"programme": src.programme, "collection": src.name, "list": list_name,
                         "proposed": src.proposed, "already_listed": src.already_listed,
                         "skipped": src.skipped, "withdrawn": src.withdrawn, "pages": src.pages,
                         # runs in a row that could not read the page at the checkpoint
                         "unreadable_runs": src.unreadable_runs,
                         "updated": src.updated_at.isoformat(timespec="seconds"),
                         "problems": [f"{p.place}: {p.error}" for p in problems]})
    print_rows(rows, ["programme", "collection", "list", "proposed", "already_listed", "skipped",
                      "withdrawn", "pages", "unreadable_runs", "updated"], as_json=as_json)
