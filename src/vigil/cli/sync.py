"""``vigil sync``: keep a folder holding one list of a vigil server, verified (the provider's
side; :mod:`vigil.exchange.sync`). ``vigil match --list DIR`` reads the folder."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vigil.cli._console import err_console, print_error, staged_progress, stop_on_sigterm

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

#: Exit status of a sync refused because the server's data failed a check.
EXIT_REFUSED = 3


def sync_command(
    server: Annotated[str, typer.Option(
        envvar="VIGIL_SYNC_SERVER", help="The vigil server's URL (https://...). Its host must "
        "be public, or pinned in VIGIL_RESOLVER_OVERRIDES / VIGIL_EGRESS_ALLOW.")],
    key: Annotated[str, typer.Option(
        envvar="VIGIL_SYNC_KEY", help="Your API key (lists:download and log:read). Prefer the "
        "environment variable: a command line is visible to other users of the machine.")],
    list_name: Annotated[str, typer.Option("--list", help="The list's name on the server.")],
    directory: Annotated[Path, typer.Option(
        "--dir", help="The folder that holds the list (created; one list per folder).")],
    log_key: Annotated[Path | None, typer.Option(
        help="The server's log key to pin on the first sync: PEM (GET /v1/log/key) or the "
        "key list (GET /v1/log/keys). Without it the server's keys are trusted on first use, "
        "and pinned in the folder from then on.")] = None,
    follow: Annotated[bool, typer.Option(
        help="Keep syncing as a service: every --interval seconds, backing off after "
        "failures; prints a status line per round (and writes vigil-sync-status.json).")] = False,
    interval: Annotated[float, typer.Option(min=1, help="Seconds between syncs with --follow.")
                        ] = 300.0,
    max_backoff: Annotated[float, typer.Option(
        min=1, help="Longest wait after repeated failures with --follow (seconds).")] = 3600.0,
) -> None:
    """Download the list's signed snapshot, then follow its change feed; verify every
    signature, and that a signed tree head consistent with the last one seen covers each;
    apply withdrawals at once. Prints one JSON line: the feed position, what changed, the
    trusted head's size.

    Exit status: 0 synced; 1 the server could not be reached or answered an error (try again);
    2 an option is invalid; 3 the server's data was refused (a bad signature, an inconsistent
    tree head, a malformed answer): nothing of it was kept.
    """
    from vigil.config import Settings
    from vigil.exchange.client import SyncError
    from vigil.exchange.sync import ListSync

    stop_on_sigterm()
    pinned = _pinned_keys(log_key) if log_key is not None else None
    with staged_progress(disable=follow) as tell:
        client = ListSync(server, key, list_name, directory, policy=Settings().egress(),
                          log_keys=pinned, progress=tell)
        if follow:
            _follow(client, interval, max_backoff)
            return
        try:
            result = client.sync()
        except SyncError as exc:
            kind = "refused" if exc.refused else "failed"
            print_error(f"{exc.message}", f"sync {kind}")
            raise typer.Exit(EXIT_REFUSED if exc.refused else 1) from None
    _print({"list": result.list, "seq": result.seq, "snapshot": result.snapshot,
            "pages": result.pages, "added": result.added, "withdrawn": result.withdrawn,
            "head_size": result.head_size})
    err_console.print(f"{directory}: list {list_name!r} at feed position {result.seq} "
                      f"(+{result.added} -{result.withdrawn})", highlight=False)


def _follow(client: Any, interval: float, max_backoff: float) -> None:
    stop = threading.Event()

    def report(status: Any, result: Any) -> None:
        row = status.to_json()
        if result is not None:
            row.update(added=result.added, withdrawn=result.withdrawn)
        _print(row)
        if status.last_error:
            print_error(f"({status.failures} in a row) {status.last_error}", "sync failed")

    try:
        client.follow(interval, stop=stop, report=report, max_backoff=max_backoff)
    except KeyboardInterrupt:
        stop.set()
        err_console.print("sync: stopped")


def _print(row: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()


def _pinned_keys(path: Path) -> list[Ed25519PublicKey]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from vigil.translog.keys import parse_published

    try:
        text = path.read_bytes()
        if text.lstrip().startswith(b"{"):
            return [k for k, _ in parse_published(json.loads(text))]
        key = load_pem_public_key(text)
    except (OSError, ValueError) as exc:
        print_error(f"{path}: not a PEM public key or a log key list ({exc})", "error")
        raise typer.Exit(2) from None
    if not isinstance(key, Ed25519PublicKey):
        print_error(f"{path}: not an Ed25519 public key", "error")
        raise typer.Exit(2)
    return [key]
