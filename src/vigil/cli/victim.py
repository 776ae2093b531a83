"""``vigil victim hash``: the victim's hashes, made offline on their own computer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vigil.cli._console import err_console, print_error

app = typer.Typer(help="For people who want images of themselves removed: hashes made on "
                       "this computer, never the images.", no_args_is_help=True)


@app.command("hash")
def victim_hash(
    paths: Annotated[list[Path], typer.Argument(help="Images or videos (files or folders).")],
) -> None:
    """Print the hashes of your images (PDQ and MD5, SHA-256) and videos (MD5, SHA-256) as the
    JSON body that opens a case: nothing is sent anywhere. Send it yourself with
    `curl -H 'Content-Type: application/json' -d @hashes.json https://<centre>/v1/public/victim-cases`."""
    import hashlib

    from vigil.matching.batch import iter_files
    from vigil.matching.errors import HashingError
    from vigil.matching.hashing import HashOptions, hash_image_bytes, read_limited
    from vigil.matching.video import looks_like_video

    opts = HashOptions()
    items: list[dict[str, Any]] = []
    failed = 0
    for path in iter_files(paths):
        try:
            data = read_limited(path, opts.max_file_bytes)
            if not data:
                raise HashingError("empty file (0 bytes)")
            item: dict[str, Any] = {"kind": "video" if looks_like_video(data[:256]) else "image",
                                    "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
                                    "sha256": hashlib.sha256(data).hexdigest()}
            if item["kind"] == "image":
                h = hash_image_bytes(data, opts)
                item["pdq"], item["quality"] = h.pdq, h.quality
            items.append(item)
            err_console.print(f"{path}: {item['kind']}")
        except HashingError as exc:
            failed += 1
            print_error(f"{path}: {exc.message}")
    print(json.dumps({"hashes": items}, indent=1))
    if failed or not items:
        raise typer.Exit(1)
