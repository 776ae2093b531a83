"""``vigil demo``: a short tour of the matching core on generated benign images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from PIL import Image
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vigil.cli._console import stop_on_sigterm
from vigil.matching.batch import hash_files
from vigil.matching.hashing import HashOptions
from vigil.matching.listfile import HashList, parse_list
from vigil.samples import (
    DEMO_LISTED_SCENES,
    DEMO_UNLISTED_SCENES,
    demo_original,
    encode,
    pattern_image,
)


def demo_command(
    data_dir: Annotated[Path, typer.Option(envvar="VIGIL_DATA_DIR",
                                           help="Where the demo writes its files.")] = Path("data"),
) -> None:
    """Generate benign images, build a hash list from half of them, then match edited copies
    (re-encoded, resized, greyscale, mirrored) and unrelated images against it."""
    stop_on_sigterm()  # a kill unwinds like Ctrl-C: the worker processes are stopped
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    root = data_dir / "demo"
    originals, queries = root / "originals", root / "queries"
    for d in (originals, queries):
        d.mkdir(parents=True, exist_ok=True)
    listed = []
    for seed in (*DEMO_LISTED_SCENES, *DEMO_UNLISTED_SCENES):
        img = pattern_image(seed)
        path = originals / f"scene-{seed}.png"
        path.write_bytes(demo_original(seed))
        if seed in DEMO_LISTED_SCENES:
            listed.append(path)
            queries.joinpath(f"scene-{seed}-recompressed.jpg").write_bytes(encode(img, quality=60))
            queries.joinpath(f"scene-{seed}-half-size.jpg").write_bytes(
                encode(img.resize((320, 240), Image.Resampling.LANCZOS)))
            queries.joinpath(f"scene-{seed}-greyscale.png").write_bytes(
                encode(img.convert("L"), "PNG"))
            queries.joinpath(f"scene-{seed}-mirrored.png").write_bytes(
                encode(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "PNG"))
        else:
            queries.joinpath(f"scene-{seed}-unlisted.jpg").write_bytes(encode(img))
    queries.joinpath("not-an-image.jpg").write_bytes(b"this is text, not a picture")

    rows = ["signal_type,value,id,label"]
    for r in hash_files(listed):
        assert r.hashes is not None
        rows.append(f"pdq,{r.hashes.pdq},{Path(r.path).stem},demo-list")  # type: ignore[union-attr]
    list_path = root / "list.csv"
    list_path.write_text("\n".join(rows) + "\n")
    hash_list = HashList(parse_list(list_path.read_text(), str(list_path)))

    table = Table(title=f"Matching {queries} against {list_path} (PDQ, threshold 31)")
    for col in ("query", "quality", "match", "distance", "dihedral match (distance)"):
        table.add_column(col, overflow="fold")
    files = sorted(queries.iterdir())
    for r in hash_files(files, HashOptions(dihedral=True), jobs=os.cpu_count() or 1):
        name = Path(r.path).name
        if r.hashes is None:
            table.add_row(Text(name), "", Text(f"error: {r.error}", style="red"), "", "")
            continue
        h = r.hashes
        direct = hash_list.match_pdq([h.pdq])[0]  # type: ignore[union-attr]
        variants = list((h.dihedral or {}).items())  # type: ignore[union-attr]
        found = hash_list.match_pdq([v for _, v in variants])
        dihedral = sorted((m.distance or 0, m.entry.id, n)
                          for (n, _), ms in zip(variants, found, strict=True) for m in ms)
        table.add_row(
            name, str(h.quality),  # type: ignore[union-attr]
            direct[0].entry.id if direct else "—",
            str(direct[0].distance) if direct else "",
            f"{dihedral[0][1]} {dihedral[0][2]} ({dihedral[0][0]})" if dihedral else "—",
        )
    console.print(table)
    console.print("Edited copies of listed scenes match; unlisted scenes do not; the broken file "
                  "is reported and the batch goes on. Mirrored copies match only with --dihedral.")
