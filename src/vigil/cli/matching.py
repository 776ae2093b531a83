"""``vigil match``: match files or hashes against a hash-list file."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vigil.cli._console import err_console, progress
from vigil.matching.batch import hash_files, iter_files
from vigil.matching.errors import InvalidSignal, ListFileError
from vigil.matching.hashing import HashOptions, ImageHashes
from vigil.matching.index import MAX_THRESHOLD
from vigil.matching.listfile import HashList, ListMatch, load_snapshot_object, read_list
from vigil.matching.signals import (
    PDQ_DEFAULT_THRESHOLD,
    PDQ_MIN_QUALITY,
    SignalType,
    parse_signal,
)
from vigil.matching.video import VideoHashes

_TYPED = re.compile(r"^([a-z_0-9]+):(.+)$", re.IGNORECASE)


def match_command(
    queries: Annotated[list[str], typer.Argument(help="Files, directories, or hashes "
                                                 "(pdq:HEX, md5:HEX, sha256:HEX, or bare hex).")],
    list_file: Annotated[Path, typer.Option("--list", help="List file: CSV, JSONL or "
                                            "threatexchange's 'pdq <hex>' lines.")],
    threshold: Annotated[int, typer.Option(min=0, max=MAX_THRESHOLD,
                                           help="PDQ distance threshold.")] = PDQ_DEFAULT_THRESHOLD,
    dihedral: Annotated[bool, typer.Option(help="Also match rotated and mirrored images.")] = False,
    public_key: Annotated[Path | None, typer.Option(
        help="For a snapshot downloaded from a vigil server: the server's public key (PEM, "
             "from /v1/log/key). The snapshot's signature is checked; a bad one is refused.")] = None,
    min_quality: Annotated[int, typer.Option(
        min=0, max=100, help="Images whose PDQ quality is below this are matched by MD5/SHA-256 "
        "only: flat images give PDQ hashes that collide (Meta's guidance: 50).")] = PDQ_MIN_QUALITY,
) -> None:
    """Print one JSON line per match: the query, the signal type, the distance and the list
    entry's id and label.

    Exit status: 0 when every query was read (whether or not anything matched), 1 when some
    query could not be read or hashed, 2 when the list file or an option is invalid.
    """
    try:
        _check_signature(list_file, public_key)
        hash_list = HashList(read_list(list_file))
    except ListFileError as exc:
        err_console.print(f"[red]error[/red] {exc.message}", highlight=False)
        raise typer.Exit(2) from None
    failed = 0
    matched = 0
    files: list[Path] = []
    for q in queries:
        if os.path.exists(q) or os.path.sep in q:
            files.extend(iter_files([q]))
            continue
        try:
            rows = _match_hash(hash_list, q, threshold)
        except InvalidSignal as exc:
            failed += 1
            err_console.print(f"[red]error[/red] {q}: {exc.message}", highlight=False)
            continue
        matched += _emit(rows)
    options = HashOptions(dihedral=dihedral)
    with progress() as bar:
        task = bar.add_task("matching", total=len(files))
        for result in hash_files(files, options, jobs=os.cpu_count() or 1):
            bar.advance(task)
            if result.hashes is None:
                failed += 1
                err_console.print(f"[red]error[/red] {result.path}: {result.error}", highlight=False)
                continue
            h = result.hashes
            if isinstance(h, ImageHashes) and h.quality < min_quality:
                err_console.print(f"note: {result.path}: PDQ quality {h.quality} is below "
                                  f"{min_quality}; matched by MD5/SHA-256 only", highlight=False)
            matched += _emit(_match_file(hash_list, result.path, h, threshold,
                                         pdq=not (isinstance(h, ImageHashes)
                                                  and h.quality < min_quality)))
    err_console.print(f"{matched} match(es); list has {len(hash_list.entries)} entries")
    if failed:
        raise typer.Exit(1)


def _check_signature(list_file: Path, public_key: Path | None) -> None:
    try:
        text = list_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # read_list reports it
    snapshot = load_snapshot_object(text)
    if snapshot is None:
        if public_key is not None:
            raise ListFileError(f"{list_file}: --public-key given, but this is not a signed "
                                "vigil snapshot")
        return
    if public_key is None:
        err_console.print(f"warning: {list_file} is a vigil snapshot; give --public-key to "
                          "check its signature", highlight=False)
        return
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from vigil.indicators.feeds import verify

    try:
        key = load_pem_public_key(public_key.read_bytes())
    except (OSError, ValueError) as exc:
        raise ListFileError(f"{public_key}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ListFileError(f"{public_key}: not an Ed25519 public key")
    try:
        verify(snapshot, key)
    except ValueError as exc:
        raise ListFileError(f"{list_file}: {exc}") from None
    err_console.print(f"{list_file}: signature verified", highlight=False)


def _row(query: str, m: ListMatch, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"query": query, "signal_type": m.signal_type.value,
                           "distance": m.distance, "id": m.entry.id, "label": m.entry.label}
    if m.query_match_percent is not None:
        row["query_match_percent"] = m.query_match_percent
        row["target_match_percent"] = m.target_match_percent
    row.update(extra)
    return row


def _emit(rows: list[dict[str, Any]]) -> int:
    for row in rows:
        sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()
    return len(rows)


def _match_hash(hash_list: HashList, text: str, threshold: int) -> list[dict[str, Any]]:
    typed = _TYPED.match(text)
    if typed:
        candidates = [SignalType.parse(typed.group(1))]
        value = typed.group(2)
    else:
        value = text.strip()
        by_length = {32: [SignalType.MD5], 64: [SignalType.PDQ, SignalType.SHA256]}
        if len(value) not in by_length:
            raise InvalidSignal("not a file, and not a hash: give pdq:HEX, md5:HEX or sha256:HEX")
        candidates = by_length[len(value)]
    rows: list[dict[str, Any]] = []
    for st in candidates:
        signal = parse_signal(st, value)
        if st is SignalType.PDQ:
            rows += [_row(text, m) for m in hash_list.match_pdq([signal.hex], threshold)[0]]  # type: ignore[union-attr]
        elif st is SignalType.VPDQ:
            rows += [_row(text, m) for m in hash_list.match_vpdq(signal, threshold)]  # type: ignore[arg-type]
        else:
            rows += [_row(text, m) for m in hash_list.match_digest(st, signal.hex)]  # type: ignore[union-attr]
    return rows


def _match_file(hash_list: HashList, path: str, h: ImageHashes | VideoHashes,
                threshold: int, pdq: bool = True) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rows += [_row(path, m) for m in hash_list.match_digest(SignalType.MD5, h.md5)]
    rows += [_row(path, m) for m in hash_list.match_digest(SignalType.SHA256, h.sha256)]
    if isinstance(h, VideoHashes):
        rows += [_row(path, m) for m in hash_list.match_vpdq(h.vpdq, threshold)]
        return rows
    if not pdq:
        return rows
    variants = h.dihedral or {"original": h.pdq}
    best: dict[int, tuple[ListMatch, str]] = {}
    names = list(variants)
    for name, matches in zip(names, hash_list.match_pdq([variants[n] for n in names], threshold),
                             strict=True):
        for m in matches:
            key = m.entry.line
            if key not in best or (m.distance or 0) < (best[key][0].distance or 0):
                best[key] = (m, name)
    for m, name in sorted(best.values(), key=lambda x: (x[0].distance or 0, x[0].entry.line)):
        extra = {"transform": name} if h.dihedral else {}
        rows.append(_row(path, m, quality=h.quality, **extra))
    return rows
