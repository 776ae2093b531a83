"""``vigil jobs``: the job queue from the server's command line — list jobs (the dead letters
above all) and re-queue a dead one (recorded in the audit trail as the operator's action)."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli._console import err_console

app = typer.Typer(help="The background job queue: list jobs, re-queue dead ones.",
                  no_args_is_help=True)


@app.command("list")
def list_command(
    state: Annotated[str | None, typer.Option(help="Only jobs in this state: queued, running, "
                                              "done or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
) -> None:
    """One line per job, latest change first: id, kind, state, attempts, last change, and the
    first line of its last error."""
    from vigil.cli._db import unit_of_work
    from vigil.jobs import queue

    with unit_of_work() as s:
        rows = queue.jobs(s, state=state, limit=limit)
        lines = [f"{j.id}\t{j.kind}\t{j.status}\t{j.attempts}\t{j.updated_at:%Y-%m-%d %H:%M:%S}\t"
                 f"{queue.error_summary(j.last_error)}" for j in rows]
    if not lines:
        err_console.print(f"no {state + ' ' if state else ''}jobs")
    for line in lines:
        typer.echo(line)


@app.command("retry")
def retry_command(job_id: Annotated[int, typer.Argument(min=1, help="The dead job's id.")]) -> None:
    """Put a dead job back on the queue with all its attempts."""
    from vigil.audit.operations import retry_job
    from vigil.cli._db import unit_of_work

    with unit_of_work() as s:
        job = retry_job(s, None, job_id)
        kind = job.kind
    err_console.print(f"job {job_id} ({kind}) is queued again")

