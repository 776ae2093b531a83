"""``vigil crawl``: proactive search from the command line, with a progress display."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from vigil.cli._console import LINE_EVERY, err_console, stop_on_sigterm
from vigil.cli._db import load_settings

app = typer.Typer(help="Proactive search: crawl allowed domains, match media against the "
                       "active lists, open notices for hits.", no_args_is_help=True)


def _run(crawl_id: int, workers: int, scheduler: str | None) -> None:
    from rich.live import Live

    from vigil.db import make_engine, session_factory
    from vigil.indicators.matcher import LiveMatcher
    from vigil.migrations import upgrade
    from vigil.takedown.crawler.crawl import CrawlStats, run_crawl
    from vigil.takedown.crawler.executors import crawl_executor

    settings = load_settings()
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    factory = session_factory(engine)
    matcher = LiveMatcher()
    matcher.sync(factory)

    def line(st: CrawlStats) -> str:
        return (f"crawl {crawl_id}: {st.pages:,} pages, {st.media:,} media "
                f"({st.bytes / 1e6:,.1f} MB), {st.hits} hit(s), {st.notices} notice(s), "
                f"{st.failed} failed, {st.skipped} skipped")

    said = [0.0]

    def show(live: Live, st: CrawlStats) -> None:
        if err_console.is_terminal:
            live.update(line(st))
        elif time.monotonic() - said[0] >= LINE_EVERY:  # a log or a pipe: a line now and then
            said[0] = time.monotonic()
            err_console.print(line(st), highlight=False)

    stop_on_sigterm()  # a kill stops the crawl like Ctrl-C: workers ended, resumable
    try:
        with Live(console=err_console, transient=True,
                  auto_refresh=err_console.is_terminal) as live, \
                crawl_executor(workers, scheduler or settings.dask_scheduler,
                               settings.egress()) as executor:
            stats = run_crawl(factory, crawl_id, executor=executor, matcher=matcher,
                              policy=settings.egress(),
                              progress=lambda st: show(live, st))
    except KeyboardInterrupt:
        err_console.print(f"stopped; `vigil crawl resume {crawl_id}` continues where it stopped")
        raise typer.Exit(130) from None
    finally:
        engine.dispose()
    err_console.print(line(stats) + f" in {stats.seconds:.1f} s")
    print(json.dumps(stats.to_json()))


@app.command("start")
def start(
    seeds: Annotated[list[str], typer.Argument(help="Start URLs.")],
    domain: Annotated[list[str], typer.Option(help="An allowed domain (repeatable); the crawl "
                                              "never leaves these.")],
    depth: Annotated[int, typer.Option(min=0, max=50, help="Link depth from the seeds.")] = 3,
    max_pages: Annotated[int, typer.Option(min=1)] = 10_000,
    delay: Annotated[float, typer.Option(min=0, help="Seconds between requests to one host.")] = 1.0,
    robots: Annotated[bool, typer.Option(help="Obey robots.txt.")] = True,
    workers: Annotated[int, typer.Option(min=1, help="Local worker processes.")] = 2,
    scheduler: Annotated[str | None, typer.Option(help="A Dask scheduler address (instead of "
                                                  "local processes; default VIGIL_DASK_SCHEDULER). "
                                                  "It must be public or pinned in "
                                                  "VIGIL_EGRESS_ALLOW.")] = None,
) -> None:
    """Create a crawl and run it in the foreground."""
    from vigil.cli._db import unit_of_work
    from vigil.takedown.crawler.crawl import CrawlOptions, create_crawl

    with unit_of_work(initialised_only=False) as s:
        crawl_id = create_crawl(s, None, seeds, domain, CrawlOptions(
            max_depth=depth, max_pages=max_pages, per_host_delay=delay, obey_robots=robots)).id
    _run(crawl_id, workers, scheduler)


@app.command("resume")
def resume(
    crawl_id: Annotated[int, typer.Argument(help="The crawl to continue.")],
    workers: Annotated[int, typer.Option(min=1)] = 2,
    scheduler: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Continue a crawl that stopped (crash, Ctrl-C): queued URLs are fetched, nothing twice."""
    _run(crawl_id, workers, scheduler)
