"""``vigil worker``: run background jobs and the periodic work from the database."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli._console import err_console, print_error
from vigil.cli._db import NOT_INITIALISED, initialised, load_settings
from vigil.cli.init import check_keys


def worker_command(
    once: Annotated[bool, typer.Option(help="Run the jobs that are due, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls when idle.")] = 0.5,
    queue: Annotated[str, typer.Option(help="Which jobs: 'short' (assessments, hand-offs, "
                                       "webhooks, and the periodic work), 'long' (crawls), or "
                                       "'all' (long ones on a thread of their own).")] = "all",
) -> None:
    """Take jobs from the database and run them (several workers may share the queues)."""
    if queue not in ("short", "long", "all"):
        raise typer.BadParameter("--queue is short, long or all")
    from vigil.db import make_engine, session_factory
    from vigil.logs import configure_logging
    from vigil.migrations import upgrade
    from vigil.worker import Worker

    settings = load_settings()
    check_keys(settings)
    configure_logging(settings.log_level, settings.log_format)
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    with session_factory(engine)() as s:
        if not initialised(s):  # as `vigil serve`: nothing to work for before `vigil init`
            print_error(f"{NOT_INITIALISED}")
            raise typer.Exit(2)
    read_engine = make_engine(settings.effective_database_url, read_only=True)
    from vigil.reports.storage import FileStore

    store = FileStore.for_settings(settings)
    handoff = None
    if settings.webhooks:
        from vigil.reports.handoff import WebhookHandoff
        from vigil.webhooks import WebhookSender

        missing = [r for r in settings.webhooks
                   if r not in settings.webhook_secrets and not settings.webhook_secret]
        if missing:
            raise typer.BadParameter(f"no webhook secret for {', '.join(missing)} (set "
                                     "VIGIL_WEBHOOK_SECRETS or VIGIL_WEBHOOK_SECRET)")
        handoff = WebhookHandoff(settings.webhooks, (settings.webhook_secret or "").encode(),
                                 sender=WebhookSender(settings.egress()),
                                 secrets={k: v.encode() for k, v in settings.webhook_secrets.items()})
    worker = Worker(session_factory(engine), session_factory(read_engine), handoff,
                    settings=settings, store=store)
    if once:
        # Short jobs and the periodic work that is due first: a crawl (which may run for
        # hours) never holds them back.
        ran = worker.run_once() if queue != "long" else 0
        done = worker.run_periodic() if queue != "long" else {}
        ran += worker.run_long_once() if queue != "short" else 0
        failed = [name for name, result in done.items() if isinstance(result, Exception)]
        err_console.print(f"ran {ran} job(s); periodic work: {', '.join(done) or 'none due'}"
                          + (f"; failed: {', '.join(failed)}" if failed else ""))
        if failed:
            raise typer.Exit(1)
        return
    err_console.print("vigil worker: waiting for jobs")
    worker.run_forever(interval, queues=("short", "long") if queue == "all" else (queue,))
