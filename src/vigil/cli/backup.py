"""``vigil backup`` and ``vigil restore``: one archive with the database, the evidence files,
the keys and a manifest of checksums (:mod:`vigil.backup`; docs/operations.md)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli._console import err_console, print_error, progress
from vigil.cli._db import load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar per step, fed by the library's (step, done, total) callback."""
    with progress() as bar:
        tasks: dict[str, object] = {}

        def step(name: str, done: int, total: int) -> None:
            task = tasks.get(name)
            if task is None:
                task = tasks[name] = bar.add_task(name, total=total or None)
            bar.update(task, completed=done, total=total or None)  # type: ignore[arg-type]

        yield step


def backup_command(
    out: Annotated[Path, typer.Option("--out", help="The archive to write: .tar, .tar.gz or "
                                      ".tar.xz (a new file; mode 0600).")],
    exclude_keys: Annotated[bool, typer.Option(
        "--exclude-keys", help="Leave the file key and the log key out (keep them safely "
        "elsewhere: without them the evidence cannot be read).")] = False,
) -> None:
    """Write a consistent archive of this instance while it runs. It holds the keys (unless
    --exclude-keys): whoever has it can read every evidence file — protect it like the keys."""
    from vigil.backup import BackupError, backup

    settings = load_settings()
    try:
        with _progress() as step:
            result = backup(settings, out, include_keys=not exclude_keys, progress=step)
    except BackupError as exc:
        print_error(f"{exc}")
        raise typer.Exit(2) from None
    for note in result.notes:
        err_console.print(f"note: {note}", highlight=False)
    err_console.print(f"backed up the {result.database} database, {result.files} evidence "
                      f"files ({result.bytes} bytes){' and the keys' if result.keys else ''} "
                      f"to {out}", highlight=False)


def restore_command(
    archive: Annotated[Path, typer.Argument(help="An archive written by `vigil backup`.")],
) -> None:
    """Restore an archive into an EMPTY data directory and database (VIGIL_DATA_DIR,
    VIGIL_DATABASE_URL). Every checksum is verified before anything is written."""
    from vigil.backup import BackupError, restore

    settings = load_settings()
    try:
        with _progress() as step:
            result = restore(settings, archive, progress=step)
    except BackupError as exc:
        print_error(f"{exc}")
        raise typer.Exit(2) from None
    for note in result.notes:
        err_console.print(f"note: {note}", highlight=False)
    err_console.print(f"restored the {result.database} database and {result.files} evidence "
                      f"files into {settings.data_dir}; run `vigil db upgrade`, then "
                      "`vigil audit verify`", highlight=False)
