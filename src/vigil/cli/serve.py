"""``vigil serve`` and ``vigil db upgrade``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from vigil.cli._console import err_console, print_error
from vigil.cli._db import NOT_INITIALISED, initialised, load_settings
from vigil.cli.init import check_keys

if TYPE_CHECKING:
    from vigil.config import Settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to the database in VIGIL_DATABASE_URL (default: SQLite in the data
    directory)."""
    from vigil.db import private_dir
    from vigil.migrations import upgrade

    settings = load_settings()
    private_dir(settings.data_dir)
    upgrade(settings.effective_database_url)
    err_console.print("database is up to date")


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Seed demo organisations, keys, lists, reports and "
                                       "workspace accounts; keys and passwords go to "
                                       "<data dir>/demo-keys.json.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the Centre's API server (applies migrations first)."""
    import uvicorn

    from vigil.db import make_engine, private_dir, session_factory
    from vigil.logs import configure_logging, get_logger
    from vigil.migrations import upgrade

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    private_dir(settings.data_dir)
    limits = check_limits(settings, workers)
    upgrade(settings.effective_database_url)
    check_keys(settings)
    if demo:
        from vigil.seed import seed_demo

        engine = make_engine(settings.effective_database_url)
        path = seed_demo(session_factory(engine), settings.data_dir, settings)
        engine.dispose()
        err_console.print(f"demo keys and workspace passwords: {path}")
    else:
        engine = make_engine(settings.effective_database_url)
        with session_factory(engine)() as s:
            ready = initialised(s)
        engine.dispose()
        if not ready:
            print_error(f"{NOT_INITIALISED}")
            raise typer.Exit(2)
    err_console.print(f"vigil serving on http://{host}:{port} (workspace at /app/, OpenAPI at "
                      "/docs)")
    get_logger("vigil.serve").info("serving", host=host, port=port, workers=workers,
                                   limits=limits, environment=settings.environment)
    # The client's address (per-address limits, the sign-in throttle) is the socket's peer,
    # unless a reverse proxy the operator names passes it on: the app applies X-Forwarded-For
    # of VIGIL_TRUSTED_PROXIES itself (create_app); uvicorn's default would believe it from
    # any local process. Its logging goes through vigil's (vigil.logs), its access log is
    # replaced by vigil's request line.
    if workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir(settings)
    if workers <= 1:
        uvicorn.run("vigil.asgi:app", host=host, port=port, log_level="warning",
                    proxy_headers=False, log_config=None)
        return
    # Several workers share one listening socket. uvicorn creates it with protocol 0, which
    # asyncio takes for "not TCP" and so leaves Nagle's algorithm on: every keep-alive response
    # then waits ~40 ms for a delayed ACK (measured here). Creating it as TCP avoids that.
    import socket

    from uvicorn.supervisors import Multiprocess

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    # Each worker loads its index in a background thread and answers the supervisor's health
    # ping meanwhile; the longer ping timeout only spares a worker on a starved machine.
    config = uvicorn.Config("vigil.asgi:app", host=host, port=port, workers=workers,
                            log_level="warning", proxy_headers=False, log_config=None,
                            timeout_worker_healthcheck=30)
    Multiprocess(config, sockets=[sock]).run()


def check_limits(settings: Settings, workers: int) -> str:
    """The store of rate limits answers (one line and exit status 2 when ``VIGIL_REDIS_URL``
    does not: never a silent fall-back to per-worker counts); several workers without it
    count every limit once per worker: refused in production, said in one line elsewhere.
    Returns where the limits count (``memory`` or the Redis URL without its password)."""
    from vigil.ratelimit import LimitStore, LimitStoreUnreachable

    store = LimitStore(settings.redis_url, prefix=settings.redis_key_prefix)
    if settings.redis_url:
        try:
            store.ping()
        except LimitStoreUnreachable as exc:
            print_error(f"{exc}")
            raise typer.Exit(2) from None
        return store.where
    if workers > 1:
        message = (f"with {workers} workers and no VIGIL_REDIS_URL, each worker counts rate "
                   f"limits and quotas on its own (up to {workers} times each limit)")
        if settings.environment == "production":
            print_error(f"{message}: set VIGIL_REDIS_URL")
            raise typer.Exit(2)
        err_console.print(Text(message, style="yellow"), highlight=False)
    return store.where


def metrics_dir(settings: Settings) -> Path:
    """A fresh directory where several workers' Prometheus metrics meet
    (``PROMETHEUS_MULTIPROC_DIR``, read by the workers at start): the operator's, else
    ``<data dir>/metrics``, emptied of the last run's values."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.data_dir / "metrics")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path
