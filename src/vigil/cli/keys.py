"""``vigil keys``: rotate the file-encryption key and the log-signing key without downtime, and
see which keys are still in use (docs/operations.md, "Key rotation")."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli._console import err_console, print_error
from vigil.cli._db import load_settings, unit_of_work

app = typer.Typer(help="Rotate and inspect the file key and the log key.", no_args_is_help=True)


@app.command("rotate")
def rotate(
    file_key: Annotated[bool, typer.Option("--file-key", help="A new key for evidence files "
                                           "and personal data; the worker re-encrypts what "
                                           "the old one encrypted.")] = False,
    log_key: Annotated[bool, typer.Option("--log-key", help="A new key that signs tree heads "
                                          "and snapshots, announced in the log by the old "
                                          "one.")] = False,
) -> None:
    """Rotate one key. Running servers and workers take the new key without a restart when it
    is kept in the data directory; a key given in VIGIL_FILE_KEY is changed where it is set."""
    if file_key == log_key:
        print_error("give one of --file-key or --log-key")
        raise typer.Exit(2)
    if log_key:
        _rotate_log_key()
    else:
        _rotate_file_key()


def _fail(message: str) -> typer.Exit:
    print_error(f"{message}")
    return typer.Exit(2)


def _rotate_log_key() -> None:
    from vigil.translog import repository
    from vigil.translog.sth import LogKeyMissing, TreeHeadSigner

    settings = load_settings()
    path = settings.effective_log_key_path
    if not path.exists():
        raise _fail(f"no log key at {path}: run `vigil init` first")
    with unit_of_work() as s:
        if repository.finish_rotation(s, path):
            err_console.print(f"finished an interrupted rotation: {path} holds the announced key")
    try:
        signer = TreeHeadSigner.from_file(path)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        with unit_of_work() as s:
            index, _new = repository.rotate_log_key(s, signer)
    except (repository.RotationError, LogKeyMissing) as exc:
        raise _fail(str(exc)) from None
    with unit_of_work() as s:
        repository.finish_rotation(s, path)
    err_console.print(f"announced a new log key at entry {index}; heads from size {index + 1} "
                      f"are signed with it, those before still verify with the old one. "
                      f"{path} holds the new key: copy it to every host that runs "
                      "`vigil serve` or `vigil worker` (each takes it at its next signature).",
                      highlight=False)


def _rotate_file_key() -> None:
    import base64
    import os

    from vigil.jobs.queue import enqueue
    from vigil.reports.storage import key_id, load_file_keys, rotate_file_key
    from vigil.reports.tasks import REENCRYPT

    settings = load_settings()
    try:
        if settings.file_key:
            new = os.urandom(32)
            err_console.print(
                f"VIGIL_FILE_KEY is set, so vigil cannot change it. The new key (id "
                f"{key_id(new)}) is printed below, once. Without downtime: (1) add it to "
                "VIGIL_FILE_KEYS_OLD on every host and restart the services one by one; (2) make "
                "it VIGIL_FILE_KEY and put the old key in VIGIL_FILE_KEYS_OLD, restart one by "
                "one; (3) run `vigil keys reencrypt`; (4) when `vigil keys status` shows nothing "
                "on the old key, remove it from VIGIL_FILE_KEYS_OLD.", highlight=False)
            typer.echo(base64.b64encode(new).decode())
            return
        before = load_file_keys(settings).current_id
        ring = rotate_file_key(settings)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    with unit_of_work() as s:
        enqueue(s, REENCRYPT, {})
    err_console.print(f"file key {before} is now a previous key; new files are encrypted with "
                      f"{ring.current_id}. `vigil worker` re-encrypts the rest in the "
                      "background; `vigil keys status` shows how far it got.", highlight=False)


@app.command("reencrypt")
def reencrypt() -> None:
    """Queue the background re-encryption of every file (and personal data) not on the current
    file key (after changing VIGIL_FILE_KEY; `rotate --file-key` queues it itself)."""
    from vigil.jobs.queue import enqueue
    from vigil.reports.tasks import REENCRYPT

    with unit_of_work() as s:
        enqueue(s, REENCRYPT, {})
    err_console.print("queued: `vigil worker` re-encrypts in the background")


@app.command("retire")
def retire() -> None:
    """Remove the previous file keys that no file and no personal value uses any more from
    the data directory's file-encryption.old-keys (keys in VIGIL_FILE_KEYS_OLD: remove them
    there). Refused while files from before key ids remain or re-encryption is queued."""

    from vigil.reports.storage import key_id, load_file_keys, retire_file_keys
    from vigil.reports.tasks import key_usage

    settings = load_settings()
    try:
        ring = load_file_keys(settings)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    with unit_of_work() as s:
        usage = key_usage(s, ring)
    if not usage.settled:
        raise _fail("re-encryption is not finished (`vigil keys status`): no key retired")
    used = {key_id(k) for k in ring.previous if usage.uses(key_id(k))}
    dropped = retire_file_keys(settings, used)
    in_env = [key_id(k) for k in ring.previous if key_id(k) not in used and key_id(k) not in dropped]
    err_console.print(f"retired {len(dropped)} previous file key(s) {', '.join(dropped)}"
                      + (f"; unused in VIGIL_FILE_KEYS_OLD, remove them there: "
                         f"{', '.join(in_env)}" if in_env else ""), highlight=False)


@app.command("status")
def status() -> None:
    """Which file keys encrypt how many files and personal values, whether a previous key can
    be retired, and the log's signing keys with the head sizes each signs."""

    from vigil.reports.storage import key_id, load_file_keys
    from vigil.reports.tasks import key_usage
    from vigil.translog.repository import log_keys

    settings = load_settings()
    try:
        ring = load_file_keys(settings)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    with unit_of_work() as s:
        usage = key_usage(s, ring)
        chain = log_keys(s)
    files, values, pending = usage.files, usage.values, usage.pending
    typer.echo("file keys:")
    for key in (*ring.previous, ring.current):
        kid = key_id(key)
        role = "current" if key == ring.current else "previous"
        hint = (" (unused: may be retired)" if role == "previous" and usage.retirable(kid)
                else "")
        typer.echo(f"  {kid}  {role:8}  {files.get(kid, 0)} files, {values.get(kid, 0)} "
                   f"personal values{hint}")
    if files.get(None):
        typer.echo(f"  legacy    {files[None]} files from before key ids (re-encryption gives "
                   "them one)")
    for file_kid, n in sorted(files.items(), key=lambda kv: str(kv[0])):
        if file_kid is not None and file_kid not in {key_id(k) for k in (*ring.previous, ring.current)}:
            typer.echo(f"  {file_kid}  MISSING   {n} files on a key not in the ring")
    for name, n in sorted(values.items()):
        if name not in {key_id(k) for k in (*ring.previous, ring.current)}:
            typer.echo(f"  {name}: {n} personal values")
    typer.echo(f"re-encryption jobs queued or running: {pending}")
    typer.echo("log keys:")
    if not chain.keys:
        typer.echo("  one key, never rotated")
    for k in chain.keys:
        last = "now" if k.last_size is None else str(k.last_size)
        retired = f", retired {k.retired_at}" if k.retired_at else ""
        typer.echo(f"  {k.log_id.hex()[:16]}  heads of size {k.first_size} to {last}{retired}")
