"""``vigil hash``: hash files and directories, one JSON object per file on stdout."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli._console import err_console, print_error, progress, stop_on_sigterm
from vigil.matching.batch import hash_files, iter_files
from vigil.matching.hashing import DEFAULT_MAX_PIXELS, HashOptions


def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (recursive).")],
    dihedral: Annotated[bool, typer.Option(help="Also print the 8 dihedral PDQ hashes.")] = False,
    robust: Annotated[bool, typer.Option(help="Also print the robust variants' PDQ hashes "
                                         "(mirrors, turns, trimmed borders and captions, "
                                         "small crops and rotations), for /v1/match's "
                                         "robust mode.")] = False,
    max_pixels: Annotated[int, typer.Option(help="Refuse images larger than this.")] = DEFAULT_MAX_PIXELS,
    seconds_per_hash: Annotated[float, typer.Option(
        help="Video: seconds between hashed frames (0: every frame).")] = 1.0,
    jobs: Annotated[int, typer.Option(help="Worker processes (default: all cores).")] = 0,
) -> None:
    """Hash images (PDQ, MD5, SHA-256) and videos (vPDQ frames, MD5).

    Prints one JSON object per file. Files that cannot be hashed get an object with an "error";
    the exit status is 1 if any file failed.
    """
    stop_on_sigterm()  # a kill unwinds like Ctrl-C: the worker processes are stopped
    try:
        options = HashOptions(max_pixels=max_pixels, dihedral=dihedral, robust=robust,
                              seconds_per_hash=seconds_per_hash)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    files = list(iter_files(paths))
    failed = 0
    out = sys.stdout
    with progress() as bar:
        task = bar.add_task("hashing", total=len(files))
        for result in hash_files(files, options, jobs=jobs or os.cpu_count() or 1):
            if not result.ok:
                failed += 1
                print_error(f"{result.path}: {result.error}", "error")
            out.write(json.dumps(result.to_json()) + "\n")
            bar.advance(task)
    out.flush()
    if failed:
        err_console.print(f"{failed} of {len(files)} files could not be hashed")
        raise typer.Exit(1)
