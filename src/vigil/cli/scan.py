"""``vigil scan``: forensic triage of seized media against hash sets (docs/scan.md)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli._console import err_console, print_error, progress, stop_on_sigterm


def scan_command(
    sources: Annotated[list[Path], typer.Argument(
        help="Folders, files, archives (zip, tar, tar.gz) and disk images (raw, E01) to scan; "
             "archives and images are read in place, nothing is extracted.")],
    out: Annotated[Path, typer.Option(
        "--out", help="Where results go (results.jsonl, results.csv, vics.json, report.html, "
                      "summary.json) and the journal a stopped scan resumes from.")],
    against: Annotated[list[Path] | None, typer.Option(
        "--against", help="A hash set to match against (repeatable): a signed vigil snapshot, "
                          "a folder kept by 'vigil sync', a Project VIC VICS JSON file or "
                          "JSONL (their category, series and victim identified carried to "
                          "the results), CSV, or a threatexchange text file.")] = None,
    allow_lists: Annotated[list[Path] | None, typer.Option(
        "--allow-list", help="Benign look-alikes (repeatable): a file matching one is unknown, "
                             "and joins no series.")] = None,
    trust: Annotated[str, typer.Option(
        help="Trust of plain (non-snapshot) hash sets: 'verified' only if two organisations "
             "confirmed every entry, else 'unverified' (hits are for review).")] = "unverified",
    threshold: Annotated[int | None, typer.Option(
        min=0, max=64, help="PDQ match threshold of every hash set (default: a snapshot's own, "
                            "31 for plain files).")] = None,
    public_key: Annotated[Path | None, typer.Option(
        help="The vigil server's public key (PEM) or key list (JSON): snapshots' signatures "
             "are checked with it.")] = None,
    robust: Annotated[bool, typer.Option(
        help="Also match mirrored, turned, trimmed and slightly rotated pictures.")] = False,
    jobs: Annotated[int, typer.Option(min=0, help="Worker processes (0: one per core).")] = 0,
    dask_scheduler: Annotated[str | None, typer.Option(
        "--dask-scheduler", help="Run the hashing on this Dask cluster (tcp://host:8786; "
                                 "default VIGIL_SCAN_DASK_SCHEDULER); the egress policy must "
                                 "allow it. Workers receive the files' bytes.")] = None,
    duplicate_threshold: Annotated[int, typer.Option(
        min=0, max=64, help="Images within this PDQ distance are stacked as duplicates.")] = 10,
    series_threshold: Annotated[int, typer.Option(
        min=0, max=64, help="Unknown images chained within this PDQ distance form a "
                            "near-duplicate series (single linkage).")] = 31,
    thumbnails: Annotated[str, typer.Option(
        help="Pictures in report.html: 'blurred' (greyscale, blurred in the pixels: nothing "
             "recognisable in the file), 'reveal' (greyscale, blurred on screen, revealed one "
             "at a time) or 'none'.")] = "blurred",
    max_file_bytes: Annotated[int, typer.Option(
        min=1, help="Larger files and archive members are per-file errors.")] = 256 * 1024**2,
    max_depth: Annotated[int, typer.Option(
        min=1, max=16, help="Archives in archives, at most this many levels.")] = 3,
    max_ratio: Annotated[int, typer.Option(
        min=2, help="Compression ratio above which an archive is a bomb.")] = 200,
    disk_images: Annotated[bool, typer.Option(
        help="Open raw and E01 disk images (The Sleuth Kit); off: hash them as files.")] = True,
    restart: Annotated[bool, typer.Option(
        help="Start again in --out instead of resuming the scan there.")] = False,
) -> None:
    """Scan seized media: every file typed by its bytes, hashed (MD5, SHA-1, SHA-256, PDQ,
    vPDQ), matched through the match policy (each hit with its hash set's trust), duplicates
    stacked (videos by vPDQ), near-duplicate unknown media grouped into likely series. A stopped scan run
    again with the same arguments resumes without hashing again what it had.

    Exit status: 0 when the scan completed (files that could not be read are listed as
    errors in the results), 2 when a hash set or an option is invalid or --out holds another
    scan, 130 when interrupted (run it again to resume)."""
    from vigil.cli._db import load_settings
    from vigil.cli.matching import load_lists
    from vigil.egress import EgressRefused
    from vigil.executors import batch_executor
    from vigil.matching.hashing import HashOptions
    from vigil.scan.results import finalize
    from vigil.scan.run import Progress, ScanError, hash_sources
    from vigil.scan.sources import ScanLimits, source_bytes
    from vigil.scan.work import THUMBNAIL_MODES, WorkOptions

    stop_on_sigterm()
    if thumbnails not in THUMBNAIL_MODES:
        raise typer.BadParameter(f"choose from {', '.join(THUMBNAIL_MODES)}",
                                 param_hint="--thumbnails")
    lists = load_lists(against or [], allow_lists, trust, threshold, public_key)
    if not against:
        err_console.print("note: no --against hash set: every file is unknown; duplicates "
                          "and series are still found", highlight=False)
    settings = load_settings()
    scheduler = dask_scheduler or settings.scan_dask_scheduler
    workers = jobs or os.cpu_count() or 1
    limits = ScanLimits(max_member_bytes=max_file_bytes, max_depth=max_depth,
                        max_ratio=max_ratio, disk_images=disk_images)
    options = WorkOptions(HashOptions(max_file_bytes=max_file_bytes, robust=robust),
                          thumbnails)
    policy = settings.egress()
    if scheduler:
        try:
            policy.check_endpoint(scheduler)
        except EgressRefused as exc:
            print_error(f"--dask-scheduler: {exc.message}", "error")
            raise typer.Exit(2) from None
    names = [str(s) for s in sources]
    total = source_bytes(sources)
    started = time.monotonic()
    try:
        with progress() as bar:
            task = bar.add_task("scanning", total=total or None)

            def tell(p: Progress) -> None:
                rate = (p.files - p.resumed) / max(time.monotonic() - started, 1e-9)
                bar.update(task, completed=min(p.bytes, total),
                           description=f"scanning: {p.files:,} files, {rate:,.1f} files/s")

            run = hash_sources(
                sources, out, lambda: batch_executor(workers, scheduler, policy),
                limits=limits, options=options, window=16 * workers,
                ship_bytes=scheduler is not None, restart=restart, progress=tell)
    except ScanError as exc:
        print_error(f"{exc.message}", "error")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err_console.print(f"scan stopped; run the same command again to resume it from {out}",
                          highlight=False)
        raise typer.Exit(130) from None
    if run.resumed:
        err_console.print(f"resumed: {run.resumed:,} files were hashed before", highlight=False)
    err_console.print(f"hashed {run.files - run.resumed:,} files in {run.seconds:,.1f} s; "
                      "matching and grouping", highlight=False)
    summary = finalize(out, lists, sources=names, duplicate_threshold=duplicate_threshold,
                       series_threshold=series_threshold, thumbnails=thumbnails)
    err_console.print(
        f"{summary['files']:,} files: {summary['known']:,} known "
        f"({summary['known_verified']:,} verified, {summary['known_unverified']:,} unverified: "
        f"review before acting), {summary['unknown']:,} unknown, {summary['errors']:,} errors; "
        f"{summary['duplicate_groups']:,} duplicate groups, {summary['series']:,} series "
        f"(PDQ <= {series_threshold}); results in {out}", highlight=False)
