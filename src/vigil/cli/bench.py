"""``vigil bench``: benchmarks that print numbers (never timed unit tests)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vigil.cli._console import err_console, interruptible, staged_progress, stop_on_sigterm

app = typer.Typer(help="Benchmarks. The last line printed is one JSON object with all figures.",
                  no_args_is_help=True)


@app.callback()
def _interruptible() -> None:
    """Benchmarks run for minutes: stopped by Ctrl-C or SIGTERM, they remove their temporary
    files and stop their servers and worker processes."""
    stop_on_sigterm()


@app.command("match")
def bench_match(
    size: Annotated[int, typer.Option(min=1, help="Indexed hashes.")] = 1_000_000,
    queries: Annotated[int, typer.Option(min=2, help="Queries per threshold (half planted).")] = 1000,
    threshold: Annotated[list[int] | None, typer.Option(
        min=0, max=64, help="Thresholds to compare at (repeat the option); default 10, 31, 50.")
    ] = None,
    dataset: Annotated[str, typer.Option(
        help="uniform (random hashes), clustered (near-duplicate families) or both.")] = "both",
    family: Annotated[int, typer.Option(
        min=1, help="Hashes per near-duplicate family in the clustered data set.")] = 8,
    repeats: Annotated[int, typer.Option(
        min=1, help="Runs of each side, interleaved; medians are reported.")] = 3,
    seed: Annotated[int, typer.Option()] = 1,
    compare_threatexchange: Annotated[bool, typer.Option(
        "--compare-threatexchange", help="Also run HMA's PDQIndex on the same input.")] = False,
    record: Annotated[Path | None, typer.Option(
        help="Append the results to this Markdown file (e.g. docs/benchmarks.md).")] = None,
) -> None:
    """PDQ index like for like: build from hex, queries/s at each threshold, recall, memory."""
    from vigil.bench.match import DATASETS, THRESHOLDS, BenchSpec, peer_missing, run

    if dataset not in (*DATASETS, "both"):
        raise typer.BadParameter(f"choose from {', '.join(DATASETS)} or both", param_hint="--dataset")
    if compare_threatexchange:
        missing = peer_missing()  # before any work: not after a minute of building
        if missing:
            err_console.print(missing, soft_wrap=True, markup=False, highlight=False)
            raise typer.Exit(2)
    thresholds = tuple(sorted(set(threshold))) if threshold else THRESHOLDS
    datasets = DATASETS if dataset == "both" else (dataset,)
    spec = BenchSpec(size, queries, thresholds, seed, dataset=datasets[0], family=family,
                     repeats=repeats)
    err_console.print(f"bench match: {size:,} hashes, {queries:,} queries per threshold, "
                      f"thresholds {', '.join(map(str, thresholds))}, {', '.join(datasets)}, "
                      f"{repeats} run(s) per side")
    result = run(spec, compare_threatexchange, datasets, progress=err_console.print)
    for name in datasets:
        err_console.print(_match_table(result, name))
    if record is not None:
        _record(record, result)
    print(json.dumps(result))


@app.command("api")
def bench_api(
    size: Annotated[int, typer.Option(min=1, help="Active PDQ indicators loaded.")] = 1_000_000,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Hashes per request.")] = 100,
    seconds: Annotated[float, typer.Option(min=1, help="How long to send requests.")] = 20.0,
    clients: Annotated[int, typer.Option(min=1, help=(
        "Concurrent client connections. The default, 2, is the load one worker serves within "
        "the latency goal (p99 < 50 ms) on a 2-core machine that also runs the load "
        "generator; more clients than the server's cores measure queueing, not matching."))] = 2,
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 1,
    database_url: Annotated[str | None, typer.Option(
        help="Run against this (empty) database instead of a throwaway SQLite file.")] = None,
    record: Annotated[Path | None, typer.Option(help="Append the results to this Markdown file.")] = None,
) -> None:
    """Hashes/s and latency through POST /v1/match of a real `vigil serve` process."""
    from vigil.bench.api import ApiBenchSpec, run

    err_console.print(f"bench api: {size:,} indicators, {batch} hashes a request, {clients} "
                      f"clients, {workers} worker(s), {seconds:.0f} s")
    with interruptible("bench api"), staged_progress() as tell:
        result = run(ApiBenchSpec(size, batch, seconds, clients, workers, 1, database_url), tell)
    err_console.print(
        f"{result['hashes_per_s']:,.0f} hashes/s, {result['requests_per_s']:,.0f} requests/s; "
        f"latency p50 {result['latency_ms_p50']:.1f} ms, p99 {result['latency_ms_p99']:.1f} ms")
    if record is not None:
        _append_http_run(record, "api", result,
                         f"{result['size']:,} indicators, {result['batch']} hashes a request, ",
                         {"hashes/s": f"{result['hashes_per_s']:,.0f}",
                          "requests/s": f"{result['requests_per_s']:,.0f}"},
                         {"requests": f"{result['requests']:,}"})
    print(json.dumps(result))


def _append_http_run(path: Path, name: str, result: dict[str, Any], what: str,
                     first: dict[str, str], last: dict[str, str]) -> None:
    """Append one HTTP benchmark run to a Markdown file: heading, machine, one table row."""
    cells = {**first, "p50 (ms)": f"{result['latency_ms_p50']:.1f}",
             "p99 (ms)": f"{result['latency_ms_p99']:.1f}",
             "max (ms)": f"{result['latency_ms_max']:.1f}", **last}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(
            f"\n### bench {name} — {dt.date.today().isoformat()} — {what}{result['clients']} "
            f"clients, {result['workers']} worker(s), {result['database']}\n\n"
            f"Machine: {result['machine']} (server and load generator share it)\n\n"
            f"| {' | '.join(cells)} |\n|{'---:|' * len(cells)}\n"
            f"| {' | '.join(cells.values())} |\n")


@app.command("snapshot")
def bench_snapshot(
    entries: Annotated[int, typer.Option(min=1, help="Active PDQ indicators on the list.")] = 1_000_000,
    repeats: Annotated[int, typer.Option(min=1, help="Repeated downloads and 304 checks.")] = 3,
    database_url: Annotated[str | None, typer.Option(
        help="Run against this (empty) database instead of a throwaway SQLite file.")] = None,
    record: Annotated[Path | None, typer.Option(help="Append the results to this Markdown file.")] = None,
) -> None:
    """A list's signed snapshot from a real `vigil serve`: the first download (which builds the
    file of this list version), repeated downloads (streamed from it) and If-None-Match (304)."""
    from vigil.bench.snapshot import SnapshotBenchSpec, run

    err_console.print(f"bench snapshot: {entries:,} entries, {repeats} repeat(s)")
    result = run(SnapshotBenchSpec(entries, repeats, database_url=database_url))
    table = Table(title=f"snapshot of {entries:,} entries ({result['bytes'] / 1e6:,.0f} MB)")
    for column in ("download", "first byte (s)", "complete (s)"):
        table.add_column(column, justify="right" if column != "download" else "left")
    rows = _snapshot_rows(result)
    for row in rows:
        table.add_row(*row)
    err_console.print(table)
    memory = _snapshot_memory(result)
    if memory:
        err_console.print(memory)
    if record is not None:
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(
                f"\n### bench snapshot — {dt.date.today().isoformat()} — {entries:,} entries, "
                f"{result['bytes'] / 1e6:,.0f} MB, {result['database']}, median of {repeats}\n\n"
                f"Machine: {result['machine']} (server and client share it)\n\n"
                "| download | first byte (s) | complete (s) |\n|---|---:|---:|\n"
                + "".join(f"| {' | '.join(row)} |\n" for row in rows)
                + (f"\n{memory}\n" if memory else ""))
    print(json.dumps(result))


def _snapshot_memory(result: dict[str, Any]) -> str:
    before, after = result.get("server_peak_bytes_before"), result.get("server_peak_bytes_after")
    if before is None or after is None:
        return ""
    cpu = result.get("first_download_server_cpu_s")
    return (f"Server peak resident set: {before / 1e6:,.0f} MB before the first download, "
            f"{after / 1e6:,.0f} MB after it (the build)"
            + (f"; the build took {cpu:.1f} s of the server's CPU." if cpu is not None else "."))


def _snapshot_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        ("first (builds the file)", f"{result['first_download_first_byte_s']:.2f}",
         f"{result['first_download_total_s']:.2f}"),
        ("repeated (streams the file)", f"{result['repeat_first_byte_s']:.3f}",
         f"{result['repeat_total_s']:.2f}"),
        ("If-None-Match (304)", f"{result['not_modified_s']:.3f}",
         f"{result['not_modified_s']:.3f}"),
    ]


@app.command("intake")
def bench_intake(
    seconds: Annotated[float, typer.Option(min=1, help="How long to send reports.")] = 20.0,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent client connections.")] = 4,
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 2,
    database_url: Annotated[str | None, typer.Option(
        help="An empty PostgreSQL database to file into (default: a throwaway SQLite file).")] = None,
    record: Annotated[Path | None, typer.Option(help="Append the results to this Markdown file.")] = None,
) -> None:
    """Reports/s and latency through POST /v1/reports of a real `vigil serve` process."""
    from vigil.bench.intake import IntakeBenchSpec, run

    err_console.print(f"bench intake: {clients} clients, {workers} worker(s), {seconds:.0f} s")
    with interruptible("bench intake"), staged_progress() as tell:
        result = run(IntakeBenchSpec(seconds, clients, workers, database_url), tell)
    err_console.print(
        f"{result['reports_per_s']:,.0f} reports/s ({result['stored']:,} stored of "
        f"{result['reports']:,} acknowledged); latency p50 {result['latency_ms_p50']:.1f} ms, "
        f"p99 {result['latency_ms_p99']:.1f} ms")
    if record is not None:
        _append_http_run(record, "intake", result, "",
                         {"reports/s": f"{result['reports_per_s']:,.0f}"},
                         {"acknowledged": f"{result['reports']:,}",
                          "stored": f"{result['stored']:,}"})
    print(json.dumps(result))


@app.command("crawl")
def bench_crawl(
    images: Annotated[int, typer.Option(min=100, help="Images on the loopback site.")] = 10_000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes, for both sides.")] = 2,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each side (medians reported).")] = 3,
    directory: Annotated[Path | None, typer.Option(
        help="Keep the generated site here and reuse it next time.")] = None,
    width: Annotated[int, typer.Option(min=64, help="Image width (height is 3/4 of it).")] = 640,
    record: Annotated[Path | None, typer.Option(help="Append the results to this Markdown file.")] = None,
) -> None:
    """The crawler end to end (fetch, hash, match, record) against `vigil hash` on the same files."""
    from vigil.bench.crawl import CrawlBenchSpec, run

    err_console.print(f"bench crawl: {images:,} images, {workers} worker(s), {repeats} run(s) each")
    with interruptible("bench crawl"), staged_progress() as tell:
        result = run(CrawlBenchSpec(images, workers, repeats, size=(width, width * 3 // 4),
                                    directory=directory), progress=tell)
    err_console.print(f"crawl {result['crawl_images_per_s']:,.1f} images/s, hash "
                      f"{result['hash_images_per_s']:,.1f} images/s: ratio {result['ratio']:.2f}")
    if record is not None:
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(
                f"\n### bench crawl — {dt.date.today().isoformat()} — {result['images']:,} images "
                f"({result['image_size']}), {workers} worker(s), median of {repeats}\n\n"
                f"Machine: {result['machine']} (site, crawler and hasher share it)\n\n"
                "| figure | crawl (end to end) | `vigil hash` (same files) | ratio |\n"
                "|---|---:|---:|---:|\n"
                f"| images/s | {result['crawl_images_per_s']:,.1f} | "
                f"{result['hash_images_per_s']:,.1f} | {result['ratio']:.2f} |\n"
                f"| seconds per run | {', '.join(map(str, result['crawl_seconds']))} | "
                f"{', '.join(map(str, result['hash_seconds']))} | |\n")
    print(json.dumps(result))


@app.command("quality")
def bench_quality(
    images: Annotated[Path | None, typer.Option(
        help="A folder of photos (default: the benign photographs of Debian's opencv-doc, "
             "which the test install provides).")] = None,
    threshold: Annotated[int, typer.Option(min=0, max=64)] = 31,
    min_pairs: Annotated[int, typer.Option(
        min=1, help="Pairs of distinct pictures to look for false matches among (generated "
                    "scenes are added to reach it).")] = 100_000,
    record: Annotated[Path | None, typer.Option(
        help="Append the results and a chart to this Markdown file (e.g. docs/benchmarks.md); "
             "the chart is written beside it as an SVG file.")] = None,
) -> None:
    """Recall after everyday edits, plain PDQ against robust matching; false matches among
    every pair of distinct pictures; robust mode's cost per query image."""
    from vigil.bench.match import machine
    from vigil.bench.quality import EDITS, default_photos, run, steps
    from vigil.cli._console import progress
    from vigil.matching.batch import iter_files

    photos = sorted(iter_files([images])) if images is not None else default_photos()
    if not photos:
        raise typer.BadParameter("no photos found" + (f" in {images}" if images else
                                 ": install Debian's opencv-doc or give --images"))
    err_console.print(f"bench quality: {len(photos)} photos, {len(EDITS)} edits, "
                      f"threshold {threshold}")
    with interruptible("bench quality"), progress() as bar:
        tasks = {stage: bar.add_task(stage, total=n)
                 for stage, n in steps(len(photos), min_pairs)}
        result = run(photos, threshold=threshold, min_pairs=min_pairs,
                     progress=lambda stage, n: bar.advance(tasks[stage], n))
    result["machine"] = machine()
    table = Table(title=f"recall at distance <= {threshold}, {len(photos)} photos")
    for column in ("edit", "plain PDQ", "robust"):
        table.add_column(column)
    for edit in EDITS:
        table.add_row(edit, f"{result['plain'][edit]:.0%}", f"{result['robust'][edit]:.0%}")
    err_console.print(table)
    err_console.print(f"false matches among {result['pairs']:,} pairs: plain "
                      f"{result['false_matches']['plain']}, robust "
                      f"{result['false_matches']['robust']}; robust costs "
                      f"{result['cost_ratio']}x plain per query image")
    if record is not None:
        _record_quality(record, result)
    print(json.dumps(result))


def _record_quality(path: Path, result: dict[str, Any]) -> None:
    from vigil.charts import grouped_bars_svg

    chart = path.with_name(f"bench-quality-{dt.date.today().isoformat()}.svg")
    edits = list(result["plain"])
    chart.write_text(grouped_bars_svg(
        "Recall after each edit (share of photos still found)", edits,
        {"plain PDQ": [result["plain"][e] for e in edits],
         "robust": [result["robust"][e] for e in edits]}), encoding="utf-8")
    lines = [
        f"\n### bench quality — {dt.date.today().isoformat()} — {result['photos']} photos, "
        f"threshold {result['threshold']}\n",
        f"Machine: {result['machine']}\n",
        f"![recall per edit, plain PDQ and robust]({chart.name})\n",
        "| edit | plain PDQ | robust |",
        "|---|---:|---:|",
        *[f"| {e} | {result['plain'][e]:.1%} | {result['robust'][e]:.1%} |" for e in edits],
        "",
        f"False matches among {result['pairs']:,} pairs of distinct pictures ({result['photos']} "
        f"photos, {result['distractors']} generated scenes): plain "
        f"{result['false_matches']['plain']}, robust {result['false_matches']['robust']}. "
        f"Robust mode costs {result['cost_ratio']}x plain PDQ per query image (median, "
        "decoding included).",
    ]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _match_rows(result: dict[str, Any], name: str) -> list[tuple[str, str, str, str]]:
    """(figure, vigil, HMA PDQIndex, ratio) rows of one data set's medians."""
    d = result["datasets"][name]
    v, p = d["vigil"]["median"], d.get("threatexchange_pdqindex", {}).get("median", {})
    r = d.get("ratios", {})

    def cell(side: dict[str, Any], key: str, fmt: str) -> str:
        if key not in side:
            return "—"
        return f"{side[key] / 1e6:,.0f}" if fmt == "mb" else fmt.format(side[key])

    def row(label: str, key: str, fmt: str, ratio: str | None = None) -> tuple[str, str, str, str]:
        return (label, cell(v, key, fmt), cell(p, key, fmt),
                f"{r[ratio]:.1f}x" if ratio and ratio in r else "")

    rows = [row("build from hex (s)", "build_s", "{:.2f}", "build_speedup")]
    for t in result["thresholds"]:
        rows += [row(f"queries/s at {t}, single, 1 thread", f"single_qps_{t}", "{:,.0f}",
                     f"single_qps_{t}"),
                 row(f"queries/s at {t}, batch, 1 thread", f"batch_qps_{t}", "{:,.0f}",
                     f"batch_qps_{t}"),
                 row(f"recall / false matches at {t} (worst run)", f"recall_{t}", "{:.4f}")]
        rows[-1] = (rows[-1][0], f"{rows[-1][1]} / {cell(v, f'false_matches_{t}', '{:.0f}')}",
                    f"{rows[-1][2]} / {cell(p, f'false_matches_{t}', '{:.0f}')}"
                    if p else "—", "")
    rows += [row("memory growth while building (MB)", "memory_bytes", "mb", "memory"),
             row("peak memory growth while building (MB)", "peak_bytes", "mb")]
    if "add_us_p50" in v:
        rows += [("add, one hash (µs): p50 / p99 / max",
                  f"{v['add_us_p50']:.1f} / {v['add_us_p99']:.1f} / {v['add_us_max']:.0f}", "—", ""),
                 ("remove, one hash (µs): p50 / p99 / max",
                  f"{v['remove_us_p50']:.1f} / {v['remove_us_p99']:.1f} / "
                  f"{v['remove_us_max']:.0f}", "—", ""),
                 ("save / load the index file (s)", f"{v['save_s']:.2f} / {v['load_s']:.2f}",
                  "—", "")]
    return rows


def _match_title(result: dict[str, Any], name: str) -> str:
    what = (f"near-duplicate families of {result['family']}" if name == "clustered"
            else "random hashes")
    return (f"{result['size']:,} hashes ({name}: {what}), {result['queries']:,} queries per "
            f"threshold, median of {result['repeats']} interleaved runs")


def _match_table(result: dict[str, Any], name: str) -> Table:
    table = Table(title=_match_title(result, name))
    for column in ("figure", "vigil", "HMA PDQIndex", "ratio"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in _match_rows(result, name):
        table.add_row(*row)
    return table


def _record(path: Path, result: dict[str, Any]) -> None:
    """Append one section per data set: heading, machine, the medians' table."""
    lines = []
    for name in result["datasets"]:
        lines += [f"\n### bench match — {dt.date.today().isoformat()} — "
                  f"{_match_title(result, name)}\n",
                  f"Machine: {result['machine']}. Input: {result['input']}.\n",
                  "| figure | vigil | HMA PDQIndex | ratio |", "|---|---:|---:|---:|",
                  *[f"| {' | '.join(row)} |" for row in _match_rows(result, name)]]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


@app.command("hash")
def bench_hash(
    images: Annotated[int, typer.Option(min=2, help="Generated JPEGs to hash.")] = 300,
    megapixels: Annotated[float, typer.Option(min=0.01, max=50, help="Size of each.")] = 1.0,
    jobs: Annotated[int, typer.Option(min=1, help="Processes for vigil (and the pooled peer).")] = 2,
    repeats: Annotated[int, typer.Option(min=1, help="Rounds; medians reported.")] = 3,
    record: Annotated[Path | None, typer.Option(help="Append the results to this Markdown file.")] = None,
) -> None:
    """Image hashing, side by side: vigil's batch hasher against threatexchange's PDQ hasher
    (on one core, as HMA runs it, and on the same number of processes)."""
    from vigil.bench.hashing import HashBenchSpec, peer_available, run
    from vigil.cli._console import progress

    missing = peer_available()
    if missing:  # before any work: say so at once
        err_console.print(missing)
        raise typer.Exit(2)
    spec = HashBenchSpec(images, megapixels, jobs, repeats)
    err_console.print(f"bench hash: {images} images of {megapixels:g} MP, {jobs} process(es), "
                      f"{repeats} round(s)")
    with progress() as bar:
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        result = run(spec, advance)
    table = Table(title=f"{result['images']} images, {result['image_size']}")
    for column in ("side", "images/s (median)", "seconds per round"):
        table.add_column(column)
    for side, label in (("vigil", f"vigil, {jobs} process(es)"),
                        ("peer_single", "threatexchange, 1 core"),
                        ("peer_pool", f"threatexchange, {jobs} process(es)")):
        table.add_row(label, f"{result[side + '_images_per_s']:,.1f}",
                      ", ".join(map(str, result["seconds"][side])))
    err_console.print(table)
    err_console.print(f"vigil / threatexchange on one core: {result['ratio_vs_peer_single']:.2f}x;"
                      f" like for like ({jobs} processes each): "
                      f"{result['ratio_vs_peer_pool']:.2f}x; same PDQ for "
                      f"{result['same_pdq']} of {result['images']} files")
    if record is not None:
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(
                f"\n### bench hash — {dt.date.today().isoformat()} — {result['images']} images "
                f"({result['image_size']}), {jobs} process(es), median of {repeats}\n\n"
                f"Machine: {result['machine']}\n\n"
                "| side | images/s | seconds per round |\n|---|---:|---|\n"
                f"| vigil (`vigil hash`'s batch hasher, {jobs} processes) | "
                f"{result['vigil_images_per_s']:,.1f} | "
                f"{', '.join(map(str, result['seconds']['vigil']))} |\n"
                f"| threatexchange `pdq_from_file`, 1 core | "
                f"{result['peer_single_images_per_s']:,.1f} | "
                f"{', '.join(map(str, result['seconds']['peer_single']))} |\n"
                f"| threatexchange `pdq_from_file`, {jobs} processes | "
                f"{result['peer_pool_images_per_s']:,.1f} | "
                f"{', '.join(map(str, result['seconds']['peer_pool']))} |\n\n"
                f"Ratios of the medians: {result['ratio_vs_peer_single']:.2f}x the one-core peer, "
                f"{result['ratio_vs_peer_pool']:.2f}x the pooled peer; the same PDQ for "
                f"{result['same_pdq']} of {result['images']} files.\n")
    print(json.dumps(result))


@app.command("e2ee")
def bench_e2ee(
    size: Annotated[int, typer.Option(min=100, help="List size (entries).")] = 1_000_000,
    build_limit: Annotated[int, typer.Option(
        min=100, help="Entries the cryptographic setups are built with; above it, setup bytes "
                      "are scaled to --size and said so.")] = 100_000,
    images: Annotated[Path | None, typer.Option(
        help="A folder of benign photos to list (default: Debian's opencv-doc photographs).")
    ] = None,
    scenes: Annotated[int, typer.Option(min=0, help="Generated scenes listed too.")] = 40,
    unrelated: Annotated[int, typer.Option(
        min=1, help="Generated scenes on no list (false positives).")] = 200,
    threshold: Annotated[int, typer.Option(min=2, help="Matches before the server learns "
                                                       "anything (option c).")] = 30,
    synthetic_rate: Annotated[float, typer.Option(
        min=0.0, max=0.5, help="Share of synthetic vouchers (option c).")] = 0.01,
    uploads: Annotated[int, typer.Option(min=10, help="Pictures of the account study (c).")] = 1000,
    chunks: Annotated[int, typer.Option(help="Perceptual PSI: chunks of the 256 bits.")] = 8,
    radius: Annotated[int, typer.Option(min=0, max=4, help="Perceptual PSI: bits flipped per "
                                                           "chunk on the query side.")] = 1,
    min_positions: Annotated[int, typer.Option(min=1, help="Perceptual PSI: chunk positions "
                                                           "that must hit.")] = 2,
    device_list_entries: Annotated[int, typer.Option(
        min=0, help="Indicators of the device-list document measured in a temporary database "
                    "(scaled to --size; 0: not measured).")] = 1000,
    record: Annotated[Path | None, typer.Option(
        help="Append the results to this Markdown file (e.g. docs/benchmarks.md).")] = None,
) -> None:
    """Detection options for end-to-end encrypted services, side by side: server-side matching,
    PSI, threshold vouchers, perceptual PSI (docs/e2ee-options.md)."""
    import tempfile

    from vigil.bench.e2ee import (
        FIGURES,
        OPTIONS,
        BenchInputError,
        Spec,
        default_images,
        device_list_study,
        run,
        stages,
    )
    from vigil.bench.match import machine
    from vigil.cli._console import progress
    from vigil.db import make_engine, session_factory
    from vigil.e2ee.perceptual import ChunkScheme
    from vigil.matching.batch import iter_files
    from vigil.migrations import upgrade

    if images is not None and not images.is_dir():
        raise typer.BadParameter(f"{images} is not a folder", param_hint="--images")
    photos = sorted(iter_files([images])) if images is not None else default_images()
    try:
        scheme = ChunkScheme(chunks, radius, min_positions)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--chunks/--radius/--min-positions") from None
    if not photos and not scenes:
        raise typer.BadParameter("no pictures to list: give --images or --scenes")
    if threshold + 5 > size:
        raise typer.BadParameter("the list must hold more entries than --threshold + 5")
    spec = Spec(size, build_limit, photos, scenes, unrelated, threshold, synthetic_rate, uploads,
                scheme, device_list_entries=device_list_entries)
    err_console.print(f"bench e2ee: a list of {size:,} entries (setups built with "
                      f"{min(size, build_limit):,}), {len(photos)} photos + {scenes} scenes "
                      f"listed, {unrelated} unrelated scenes")
    built = min(size, build_limit)
    note = (f" (setups built with about {built:,} entries, bytes scaled to {size:,}; "
            f"perceptual false positives at {size:,} on the plaintext equivalent)"
            ) if built < size else ""

    def show(name: str, figures: dict[str, Any]) -> None:
        table = Table(title=f"{name}{note}")
        table.add_column("figure")
        table.add_column("value")
        for key in FIGURES:
            v = figures[key]
            table.add_row(key, f"{v:,}" if isinstance(v, int) else str(v))
        err_console.print(table)

    with interruptible("bench e2ee"), progress() as bar:
        tasks = {stage: bar.add_task(stage, total=n) for stage, n in stages(spec)}
        tick = lambda stage, n: bar.advance(tasks[stage], n)  # noqa: E731
        try:
            result = run(spec, progress=tick, finished=show)
        except BenchInputError as exc:
            raise typer.BadParameter(str(exc), param_hint="--images") from None
        result["device_list"] = None
        if device_list_entries:
            with tempfile.TemporaryDirectory() as folder:
                url = f"sqlite:///{folder}/device-list.db"
                upgrade(url)
                engine = make_engine(url)
                try:
                    result["device_list"] = device_list_study(session_factory(engine), spec, tick)
                finally:
                    engine.dispose()
    result["machine"] = machine()
    options = result["options"]
    sweep = Table(title=f"perceptual PSI schemes at {size:,} entries (plaintext equivalent)")
    for column in ("chunks", "radius", "positions", "query elements", "pigeonhole at 31",
                   "recall", "false positives"):
        sweep.add_column(column)
    for row in result["sweep"]:
        sweep.add_row(str(row["chunks"]), str(row["radius"]), str(row["min_positions"]),
                      f"{row['query_elements']:,}", "yes" if row["guaranteed_at_31"] else "no",
                      f"{row['recall']:.1%}", f"{row['false_positive_rate']:.1%}")
    err_console.print(sweep)
    acc = result["account"]
    err_console.print(f"threshold study: {acc['uploads']} uploads, synthetic rate "
                      f"{acc['synthetic_rate']}, t={acc['threshold']}: " + "; ".join(
                          f"{r['matches']} matches → {r['opened']} opened, {r['revealed']} "
                          f"revealed ({r['reveal_ms']:,} ms)" for r in acc["rows"])
                      + f"; count leak (total variation) {acc['count_leak']}; a flood of "
                      f"{acc['flood_opened']} synthetic vouchers: reveal at the cap of "
                      f"{acc['flood_considered']} in {acc['flood_reveal_ms']:,} ms")
    dl = result["device_list"]
    if dl is not None:
        err_console.print(
            f"device list: {dl['entries']:,} entries → {dl['document_bytes']:,} bytes "
            f"({dl['per_entry_bytes']:,} per entry), export {dl['export_s']} s, accept "
            f"{dl['accept_s']} s; scaled to {dl['size']:,} entries: "
            f"{dl['scaled_document_bytes']:,} bytes, accept {dl['scaled_accept_s']:,} s "
            f"(a device refuses more than {dl['max_document_bytes']:,} bytes: "
            f"{dl['max_entries']:,} entries)")
    if record is not None:
        _record_e2ee(record, result, note)
    print(json.dumps({name: {k: options[name][k] for k in FIGURES} for name in OPTIONS}))


def _record_e2ee(path: Path, result: dict[str, Any], note: str) -> None:
    from vigil.bench.e2ee import FIGURES, OPTIONS

    o = result["options"]
    lines = [f"\n### bench e2ee — {dt.date.today().isoformat()} — a list of "
             f"{result['size']:,} entries{note}\n",
             f"Machine: {result['machine']}\n",
             f"{result['listed']} listed pictures, {result['edited']} edited copies "
             f"({', '.join(result['edits'])}; {result['within_31']:.0%} within PDQ distance 31 "
             f"of their original, median {result['median_distance']} bits), "
             f"{result['unrelated']} unrelated pictures. Perceptual scheme: "
             f"{result['scheme']}.\n",
             "| figure | " + " | ".join(OPTIONS) + " |",
             "|---|" + "---:|" * len(OPTIONS)]
    for key in FIGURES:
        lines.append(f"| {key} | " + " | ".join(
            f"{o[n][key]:,}" if isinstance(o[n][key], int) else str(o[n][key]) for n in OPTIONS)
            + " |")
    lines += ["", "| perceptual scheme (chunks, radius, positions) | query elements | "
              "pigeonhole at 31 | recall | false positives |", "|---|---:|---|---:|---:|"]
    for r in result["sweep"]:
        lines.append(f"| {r['chunks']}, {r['radius']}, {r['min_positions']} | "
                     f"{r['query_elements']:,} | {'yes' if r['guaranteed_at_31'] else 'no'} | "
                     f"{r['recall']:.1%} | {r['false_positive_rate']:.1%} |")
    acc = result["account"]
    lines += ["", f"Threshold account study ({acc['uploads']} uploads, synthetic rate "
              f"{acc['synthetic_rate']}, t = {acc['threshold']}): " + "; ".join(
                  f"{r['matches']} matches → {r['opened']} vouchers opened, {r['revealed']} "
                  "revealed" for r in acc["rows"])
              + f". What the count of opened vouchers tells the server (total-variation "
              f"distance): {acc['count_leak']}. Reveal times: "
              + ", ".join(f"{r['reveal_ms']:,} ms at {r['matches']} matches"
                          for r in acc["rows"])
              + f"; {acc['flood_reveal_ms']:,} ms for a flood of {acc['flood_opened']} "
              f"synthetic vouchers (decoding capped at {acc['flood_considered']})."]
    dl = result.get("device_list")
    if dl is not None:
        lines += ["", f"Device list (the real export, option psi): {dl['entries']:,} entries, "
                  f"{dl['document_bytes']:,} bytes ({dl['per_entry_bytes']:,} per entry), "
                  f"export {dl['export_s']} s, the device's parse and accept {dl['accept_s']} s. "
                  f"Scaled to {dl['size']:,} entries: {dl['scaled_document_bytes']:,} bytes, "
                  f"accept {dl['scaled_accept_s']:,} s; a device refuses documents over "
                  f"{dl['max_document_bytes']:,} bytes ({dl['max_entries']:,} entries)."]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


@app.command("scan")
def bench_scan(
    images: Annotated[int, typer.Option(
        min=10, help="Files to scan (the issue's size: 10000).")] = 500,
    hashes: Annotated[int, typer.Option(
        min=1, help="Random PDQs in the hash set (the issue's size: 1000000).")] = 100_000,
    jobs: Annotated[int, typer.Option(min=1, help="vigil's worker processes.")] = 2,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each side; medians reported.")] = 1,
    width: Annotated[int, typer.Option(min=64, help="Generated images' width (3:4).")] = 640,
    dask_workers: Annotated[list[int] | None, typer.Option(
        "--dask-workers", min=1, help="Also scan on a local Dask cluster of this many worker "
        "processes (repeat the option: 1, 2, ...).")] = None,
    record: Annotated[Path | None, typer.Option(help="Append the results to this Markdown file.")] = None,
) -> None:
    """`vigil scan` end to end (hash, match against the set, group, write every output) against
    threatexchange's PDQ hashing of the same files on one core, in the same run."""
    from vigil.bench.scan import ScanBenchSpec, peer_missing, run

    missing = peer_missing()
    if missing:
        err_console.print(missing)
        raise typer.Exit(2)
    spec = ScanBenchSpec(images, hashes, jobs, repeats, width, tuple(dask_workers or ()))
    err_console.print(f"bench scan: {images:,} images against {hashes:,} hashes, {jobs} "
                      f"process(es), {repeats} run(s) each")
    with interruptible("bench scan"), staged_progress() as tell:
        result = run(spec, tell)
    err_console.print(f"vigil scan {result['vigil_files_per_s']:,.1f} files/s end to end, "
                      f"threatexchange hashing on one core {result['peer_files_per_s']:,.1f} "
                      f"files/s: {result['ratio']:.2f}x")
    if record is not None:
        dask = "".join(f"| Dask, {n} worker process(es) | {v:,.1f} | |\n"
                       for n, v in result["dask_files_per_s"].items())
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(
                f"\n### bench scan — {dt.date.today().isoformat()} — {result['images']:,} files "
                f"({result['image_size']}, {result['photos']} of them photos), "
                f"{result['hashes']:,} hashes, median of {repeats}\n\n"
                f"Machine: {result['machine']}\n\n"
                "| side | files/s | seconds per run |\n|---|---:|---|\n"
                f"| `vigil scan` end to end, {jobs} processes | "
                f"{result['vigil_files_per_s']:,.1f} | "
                f"{', '.join(map(str, result['seconds']['vigil']))} |\n"
                f"| threatexchange `pdq_from_file`, 1 core (hashing only) | "
                f"{result['peer_files_per_s']:,.1f} | "
                f"{', '.join(map(str, result['seconds']['peer']))} |\n{dask}\n"
                f"Ratio of the medians: {result['ratio']:.2f}x; {result['known']} known files "
                f"found; the hash set loaded in {result['hash_set_load_s']} s (once per scan, "
                "not in the figures).\n")
    print(json.dumps(result))
