"""``vigil match``: match files or hashes against a hash-list file."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vigil.cli._console import err_console, print_error, progress, stop_on_sigterm
from vigil.matching.batch import hash_files, iter_files
from vigil.matching.errors import InvalidSignal, ListFileError
from vigil.matching.hashing import HashOptions, ImageHashes
from vigil.matching.index import MAX_THRESHOLD
from vigil.matching.listfile import (
    FactsLookup,
    HashList,
    SyncedFolder,
    is_synced_folder,
    list_from_synced,
    list_from_text,
    load_snapshot_object,
    read_list_text,
    read_synced_folder,
)
from vigil.matching.policy import Item, ListRef, Outcome, Signal, Sources, Trust, Verdict, match_items
from vigil.matching.signals import PDQ_MIN_QUALITY, SignalType, VpdqHash, parse_signal
from vigil.matching.video import VideoHashes

_TYPED = re.compile(r"^([a-z_0-9]+):(.+)$", re.IGNORECASE)


def match_command(
    queries: Annotated[list[str], typer.Argument(help="Files, directories, or hashes "
                                                 "(pdq:HEX, md5:HEX, sha256:HEX, sha1:HEX, or bare hex).")],
    list_files: Annotated[list[Path], typer.Option(
        "--list", help="A list to match against (repeat for several): a signed snapshot from a "
        "vigil server (it carries its own trust level and threshold), a folder kept by "
        "'vigil sync', a Project VIC VICS JSON file, or a CSV, JSONL or threatexchange "
        "'pdq <hex>' file.")],
    allow_lists: Annotated[list[Path] | None, typer.Option(
        "--allow-list", help="A list of benign look-alikes (repeatable): a query that matches "
        "one is reported as no match.")] = None,
    trust: Annotated[str, typer.Option(
        help="Trust of plain (non-snapshot) --list files: 'verified' only if two organisations "
        "confirmed every entry, else 'unverified' (hits are for review, never for action).")
    ] = "unverified",
    threshold: Annotated[int | None, typer.Option(
        min=0, max=MAX_THRESHOLD, help="PDQ distance threshold for every list (default: each "
        "snapshot's own, 31 for plain files).")] = None,
    dihedral: Annotated[bool, typer.Option(help="Also match rotated and mirrored images.")] = False,
    robust: Annotated[bool, typer.Option(help=(
        "Robust mode: also match the picture mirrored, turned, without borders or a caption "
        "bar, uncropped a little and turned back 2 or 5 degrees; each hit says which variant "
        "found it (docs/benchmarks.md has its recall and cost)."))] = False,
    public_key: Annotated[Path | None, typer.Option(
        help="For snapshots downloaded from a vigil server: the server's public key (PEM, "
             "from /v1/log/key), or all its keys after a rotation (JSON, from /v1/log/keys). "
             "Every snapshot's signature is checked; a bad one is refused.")] = None,
    min_quality: Annotated[int, typer.Option(
        min=0, max=100, help="Images whose PDQ quality is below this are matched by MD5/SHA-256 "
        "only: flat images give PDQ hashes that collide (Meta's guidance: 50).")] = PDQ_MIN_QUALITY,
) -> None:
    """Print one JSON line per hit: the query, the list, its trust, the verdict, the signal
    type, the distance and the entry's id and label (and its category, series and victim
    identified where the list says: VICS, JSONL). The same match policy as the server:
    per-list thresholds, allow lists suppress, and only a ``verified_match`` may be acted on
    without a person's review.

    Exit status: 0 when every query was read (whether or not anything matched), 1 when some
    query could not be read or hashed, 2 when a list file or an option is invalid.
    """
    stop_on_sigterm()  # a kill unwinds like Ctrl-C: the worker processes are stopped
    sources = load_lists(list_files, allow_lists, trust, threshold, public_key)
    source = Sources(sources)
    facts = FactsLookup(sources)
    failed = 0
    matched = 0
    files: list[Path] = []
    for q in queries:
        if os.path.exists(q) or os.path.sep in q:
            files.extend(iter_files([q]))
            continue
        try:
            item = _hash_item(q)
        except InvalidSignal as exc:
            failed += 1
            print_error(f"{q}: {exc.message}", "error")
            continue
        matched += _emit(q, match_items(source, [item])[0], facts)
    options = HashOptions(dihedral=dihedral, robust=robust)
    with progress() as bar:
        task = bar.add_task("matching", total=len(files))
        for result in hash_files(files, options, jobs=os.cpu_count() or 1):
            bar.advance(task)
            if result.hashes is None:
                failed += 1
                print_error(f"{result.path}: {result.error}", "error")
                continue
            h = result.hashes
            usable = not (isinstance(h, ImageHashes) and h.quality < min_quality)
            if isinstance(h, ImageHashes) and not usable:
                err_console.print(f"note: {result.path}: PDQ quality {h.quality} is below "
                                  f"{min_quality}; matched by MD5/SHA-256 only", highlight=False)
            extra = {"quality": h.quality} if isinstance(h, ImageHashes) and usable else {}
            matched += _emit(result.path, match_items(source, [_file_item(h, usable)])[0],
                             facts, **extra)
    entries = sum(len(s.entries) for s in sources)
    err_console.print(f"{matched} match(es); {len(sources)} list(s) with {entries} entries")
    if failed:
        raise typer.Exit(1)


def load_lists(list_files: list[Path], allow_lists: list[Path] | None, trust: str,
               threshold: int | None, public_key: Path | None) -> list[HashList]:
    """The lists of ``--list`` and ``--allow-list`` (``vigil match``, ``vigil scan``), each read
    once by the one list reader (a file, or a folder kept by ``vigil sync``), signatures
    checked against ``public_key``; a bad list or option is one line on stderr and exit
    status 2."""
    try:
        level = Trust.parse(trust)
        if level is Trust.ALLOW:
            raise ListFileError("--trust allow: give allow lists with --allow-list")
        sources = [_load(path, level, threshold, public_key) for path in list_files]
        for path in allow_lists or []:
            hl = _load(path, Trust.ALLOW, threshold, public_key)
            hl.ref = ListRef(hl.ref.name, Trust.ALLOW, hl.ref.pdq_threshold)
            sources.append(hl)
    except (ListFileError, ValueError) as exc:
        print_error(f"{getattr(exc, 'message', exc)}", "error")
        raise typer.Exit(2) from None
    return sources


def _load(path: Path, trust: Trust, threshold: int | None, public_key: Path | None) -> HashList:
    """A list file or a synced folder, read by the one list reader, its signatures checked."""
    if is_synced_folder(path):
        folder = read_synced_folder(path)
        return list_from_synced(folder, trust=trust, threshold=threshold,
                                signed=_check_synced(path, folder, public_key))
    text = read_list_text(path)
    signed = _check_signature(path, load_snapshot_object(text), public_key)
    return list_from_text(text, str(path), trust=trust, threshold=threshold, signed=signed)


def _check_synced(path: Path, folder: SyncedFolder, public_key: Path | None) -> bool:
    """Check every artefact of a synced folder — the snapshot and each feed page, as the
    server signed them — with ``--public-key`` if given, else with the log keys the sync
    verified and pinned in the folder. A bad signature is an error; True once all verified."""
    from vigil.exchange.client import LogTrust
    from vigil.indicators.feeds import verify_any

    ranges: list[tuple[int, int | None]] | None = None
    if public_key is not None:
        keys = _public_keys(public_key)
    else:
        try:
            trust = LogTrust.from_json(folder.state.get("log"))
            keys, ranges = trust.verifying_keys(), trust.key_ranges()
        except ValueError as exc:
            raise ListFileError(f"{path}: the folder's log keys are unreadable ({exc})") from None
        if not keys:
            raise ListFileError(f"{path}: the folder names no log key to check it with")
    for name, obj in [(folder.state["snapshot"], folder.snapshot),
                      *zip(folder.state["pages"], folder.pages, strict=True)]:  # type: ignore[call-overload]
        try:
            verify_any(obj, keys, ranges)
        except ValueError as exc:
            raise ListFileError(f"{path}/{name}: {exc}") from None
    err_console.print(f"{path}: {1 + len(folder.pages)} signed file(s) verified", highlight=False)
    return True


def _check_signature(list_file: Path, snapshot: dict[str, object] | None,
                     public_key: Path | None) -> bool:
    """Whether ``snapshot`` (the list file's snapshot object, from the same text the list is
    read from: a byte-order mark once hid a snapshot from this check but not from the reader)
    carries a verified signature; a bad one is an error. Without a key, a snapshot's own
    trust is not taken."""
    if snapshot is None:
        if public_key is not None:
            raise ListFileError(f"{list_file}: --public-key given, but this is not a signed "
                                "vigil snapshot")
        return False
    if public_key is None:
        err_console.print(f"warning: {list_file} is a vigil snapshot; give --public-key to "
                          "check its signature (until then its trust is not taken: matched "
                          "as --trust says)", highlight=False)
        return False
    from vigil.indicators.feeds import verify_any

    keys = _public_keys(public_key)
    try:
        verify_any(snapshot, keys)
    except ValueError as exc:
        raise ListFileError(f"{list_file}: {exc}") from None
    err_console.print(f"{list_file}: signature verified", highlight=False)
    return True


def _public_keys(public_key: Path) -> list[tuple[Any, str | None]]:
    """(key, retired at) from ``--public-key``: a PEM key, or the key list of /v1/log/keys."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from vigil.translog.keys import parse_published

    try:
        text = public_key.read_bytes()
        if text.lstrip().startswith(b"{"):  # every key with its range (GET /v1/log/keys)
            return list(parse_published(json.loads(text)))
        key = load_pem_public_key(text)
    except (OSError, ValueError) as exc:
        raise ListFileError(f"{public_key}: not a PEM public key or a log key list "
                            f"({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ListFileError(f"{public_key}: not an Ed25519 public key")
    return [(key, None)]


def _emit(query: str, outcome: Outcome, facts: FactsLookup, **extra: Any) -> int:
    """One JSON line per hit that stands (with what the list says about its entry, if
    anything); a suppressed query is noted on stderr."""
    if outcome.verdict is Verdict.ALLOWED and outcome.suppressed:
        allow = ", ".join(sorted({c.list.name for c in outcome.allow_hits}))
        err_console.print(f"note: {query}: matches the allow list ({allow}): no match",
                          highlight=False)
    for c in outcome.hits:
        row: dict[str, Any] = {"query": query, "list": c.list.name, "trust": c.trust.value,
                               "verdict": outcome.verdict.value,
                               "signal_type": c.signal_type.value, "distance": c.distance,
                               "id": str(c.key), "label": c.label}
        if c.query_match_percent is not None:
            row["query_match_percent"] = c.query_match_percent
            row["target_match_percent"] = c.target_match_percent
        said = facts.of(c)
        if said is not None:
            row.update(category=said.category, series=said.series,
                       victim_identified=said.victim_identified)
        if c.variant is not None:
            # "variant", as /v1/match names it; "transform", as earlier versions did.
            row["variant"] = row["transform"] = c.variant
        row.update(extra)
        sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()
    return len(outcome.hits)


def _hash_item(text: str) -> Item:
    """A hash given on the command line: ``type:value``, or bare hex (a 64-character one is
    tried as PDQ and as SHA-256)."""
    typed = _TYPED.match(text)
    if typed:
        st = SignalType.parse(typed.group(1))
        signal = parse_signal(st, typed.group(2))
        return Item.of((st, signal if isinstance(signal, VpdqHash) else signal.hex))
    value = text.strip()
    by_length = {32: [SignalType.MD5], 40: [SignalType.SHA1], 64: [SignalType.PDQ, SignalType.SHA256]}
    if len(value) not in by_length:
        raise InvalidSignal("not a file, and not a hash: give pdq:HEX, md5:HEX, sha256:HEX or "
                            "sha1:HEX")
    signals = []
    for st in by_length[len(value)]:
        signal = parse_signal(st, value)
        assert not isinstance(signal, VpdqHash)
        signals.append(Signal(st, signal.hex))
    return Item(tuple(signals))


def _file_item(h: ImageHashes | VideoHashes, pdq: bool) -> Item:
    signals = [Signal(SignalType.MD5, h.md5), Signal(SignalType.SHA256, h.sha256),
               Signal(SignalType.SHA1, h.sha1)]
    if isinstance(h, VideoHashes):
        signals.append(Signal(SignalType.VPDQ, h.vpdq))
        signals += [Signal(SignalType.VPDQ, v, name) for name, v in (h.robust or {}).items()]
    elif pdq:
        variants = h.robust or h.dihedral or {}
        if variants:
            signals += [Signal(SignalType.PDQ, v, name) for name, v in variants.items()]
        else:
            signals.append(Signal(SignalType.PDQ, h.pdq))
    return Item(tuple(signals))
