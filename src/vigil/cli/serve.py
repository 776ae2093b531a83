"""``vigil serve`` and ``vigil db upgrade``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from vigil.cli._console import err_console
from vigil.cli._db import load_settings
from vigil.cli.init import NOT_INITIALISED, check_keys, initialised

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
    from vigil.migrations import upgrade

    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its start-up chatter is no news
    private_dir(settings.data_dir)
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
            err_console.print(f"[red]{NOT_INITIALISED}[/red]", highlight=False)
            raise typer.Exit(2)
    err_console.print(f"vigil serving on http://{host}:{port} (workspace at /app/, OpenAPI at "
                      "/docs)")
    # The client's address (per-address limits, the sign-in throttle) is the socket's peer,
    # unless a reverse proxy the operator names passes it on: uvicorn's default would believe
    # X-Forwarded-For from any local process.
    proxy_headers = bool(settings.trusted_proxies)
    allow_ips = ",".join(settings.trusted_proxies) or None
    if workers <= 1:
        uvicorn.run("vigil.asgi:app", host=host, port=port, log_level="warning",
                    proxy_headers=proxy_headers, forwarded_allow_ips=allow_ips)
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
                            log_level="warning", proxy_headers=proxy_headers,
                            forwarded_allow_ips=allow_ips, timeout_worker_healthcheck=30)
    Multiprocess(config, sockets=[sock]).run()
