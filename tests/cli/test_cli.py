"""The command line as a user runs it: real subprocesses, stdout parsed as JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.fixtures.images import broken_files, write_scene
from vigil.samples import encode, pattern_image


def vigil(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, check=False)


def test_hash_directory_with_bad_files(tmp_path: Path) -> None:
    write_scene(tmp_path / "a.jpg", 1)
    (tmp_path / "sub").mkdir()
    write_scene(tmp_path / "sub" / "b.png", 2, "PNG")
    (tmp_path / "sub" / "notes.txt").write_text("not an image")
    proc = vigil("hash", "--dihedral", str(tmp_path))
    assert proc.returncode == 1
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["a.jpg", "b.png", "notes.txt"]
    assert rows[0]["kind"] == "image" and len(rows[0]["pdq"]) == 64 and rows[0]["quality"] > 50
    assert len(rows[0]["dihedral"]) == 8
    assert rows[2]["error"] == "not a recognised image format"
    assert "notes.txt: not a recognised image format" in proc.stderr


def test_hash_all_good_exits_zero(tmp_path: Path) -> None:
    path = write_scene(tmp_path / "a.jpg", 1)
    proc = vigil("hash", str(path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["md5"]


def test_hash_reports_every_broken_file(tmp_path: Path) -> None:
    bad = broken_files(tmp_path)
    del bad["unreadable"]  # a directory on the command line is walked, not read
    proc = vigil("hash", "--max-pixels", "1000000", *[str(p) for p in bad.values()])
    assert proc.returncode == 1
    errors = [json.loads(line)["error"] for line in proc.stdout.splitlines()]
    assert len(errors) == len(bad)
    for reason, error in zip(bad, errors, strict=True):
        assert reason in error


def test_what_vigil_hash_writes_vigil_match_reads_as_a_list(tmp_path: Path) -> None:
    """`vigil hash img.png > h.jsonl; vigil match --list h.jsonl img.png` refused its own
    output ("missing field 'signal_type'"). Each record's hashes are entries, its path the id;
    a file that could not be hashed is no entry."""
    listed = write_scene(tmp_path / "listed.png", 21, "PNG")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    hashed = vigil("hash", str(listed), str(tmp_path / "broken.png"))
    assert hashed.returncode == 1  # one file could not be hashed
    lst = tmp_path / "h.jsonl"
    lst.write_text(hashed.stdout.replace("\n", "\r\n"))  # as an editor on Windows saves it
    proc = vigil("match", "--list", str(lst), str(listed))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    # One file's four hashes (PDQ, MD5, SHA-1, SHA-256) are one entry's id: one hit, by its exact hash.
    assert [(r["id"], r["signal_type"], r["distance"]) for r in rows] == [(str(listed), "md5", 0)]
    assert "4 entries" in proc.stderr
    # Its PDQ alone still finds the picture re-encoded.
    jpeg = tmp_path / "listed.jpg"
    jpeg.write_bytes(encode(pattern_image(21), "JPEG", quality=80))
    rows = [json.loads(line) for line in vigil("match", "--list", str(lst), str(jpeg)).stdout.splitlines()]
    assert [(r["id"], r["signal_type"]) for r in rows] == [(str(listed), "pdq")]


def test_match_files_and_hashes_against_csv_list(tmp_path: Path) -> None:
    img = pattern_image(7)
    listed = write_scene(tmp_path / "listed.png", 7, "PNG")
    listed_hash = json.loads(vigil("hash", str(listed)).stdout)
    other = json.loads(vigil("hash", str(write_scene(tmp_path / "other.png", 8, "PNG"))).stdout)
    lst = tmp_path / "list.csv"
    lst.write_text(f"pdq,{listed_hash['pdq']},ind-7,A1\nmd5,{other['md5']},ind-8,B2\n")
    query = tmp_path / "query.jpg"
    query.write_bytes(encode(img.resize((320, 240), Image.Resampling.LANCZOS), quality=70))
    mirrored = tmp_path / "mirrored.png"
    mirrored.write_bytes(encode(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "PNG"))

    proc = vigil("match", "--list", str(lst), str(query), str(mirrored), f"md5:{other['md5']}",
                 "pdq:" + "0" * 64)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    by_query = {Path(r["query"]).name if "/" in r["query"] else r["query"]: r for r in rows}
    assert by_query["query.jpg"]["id"] == "ind-7" and by_query["query.jpg"]["label"] == "A1"
    assert 0 <= by_query["query.jpg"]["distance"] <= 31
    assert by_query[f"md5:{other['md5']}"]["id"] == "ind-8"
    assert "mirrored.png" not in by_query  # PDQ alone does not see mirror images
    assert len(rows) == 2

    proc = vigil("match", "--dihedral", "--list", str(lst), str(mirrored))
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[0]["id"] == "ind-7" and rows[0]["transform"] != "original"


def test_match_threatexchange_list_and_threshold(tmp_path: Path) -> None:
    lst = tmp_path / "list.txt"
    lst.write_text(f"pdq {'f' * 64}\n")
    near = "f" * 60 + "0000"  # 16 bits away
    assert json.loads(vigil("match", "--list", str(lst), near).stdout)["distance"] == 16
    assert vigil("match", "--list", str(lst), "--threshold", "15", near).stdout == ""


def test_match_bad_inputs(tmp_path: Path) -> None:
    lst = tmp_path / "list.csv"
    lst.write_text("pdq,123\n")
    proc = vigil("match", "--list", str(lst), "f" * 64)
    assert proc.returncode == 2
    assert "line 1: pdq: expected 64 hex characters" in proc.stderr
    lst.write_text(f"pdq,{'f' * 64}\n")
    proc = vigil("match", "--list", str(lst), "nothex", "md5:zz")
    assert proc.returncode == 1
    assert "nothex: not a file, and not a hash" in proc.stderr
    assert "md5:zz: md5: expected 32 hex characters" in proc.stderr
    proc = vigil("match", "--list", str(lst), "--threshold", "65", "f" * 64)
    assert proc.returncode == 2


def test_demo_runs(tmp_path: Path) -> None:
    proc = vigil("demo", "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "scene-0-recompressed" in proc.stdout
    assert (tmp_path / "demo" / "list.csv").read_text().count("pdq,") == 3


def test_bench_match_prints_json_last(tmp_path: Path) -> None:
    proc = vigil("bench", "match", "--size", "3000", "--queries", "40", "--repeats", "1",
                 "--dataset", "clustered", "--threshold", "31", "--record",
                 str(tmp_path / "bench.md"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    d = result["datasets"]["clustered"]
    assert d["vigil"]["median"]["recall_31"] == 1.0 and d["vigil"]["median"]["false_matches_31"] == 0
    assert d["true_matches"]["31"] >= 20  # the planted half
    recorded = (tmp_path / "bench.md").read_text()
    assert "### bench match — " in recorded and "near-duplicate families of 8" in recorded
    assert "| queries/s at 31, single, 1 thread |" in recorded


def test_bench_api_prints_json_last() -> None:
    proc = vigil("bench", "api", "--size", "2000", "--seconds", "1", "--clients", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["requests"] > 0 and result["hashes_per_s"] > 0
    assert result["latency_ms_p99"] >= result["latency_ms_p50"] > 0


def test_bench_intake_files_reports_and_counts_them_stored() -> None:
    proc = vigil("bench", "intake", "--seconds", "1", "--clients", "1", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["reports"] > 0 and result["stored"] == result["reports"]


def test_bench_record_appends_a_markdown_table(tmp_path: Path) -> None:
    from vigil.cli.bench import _append_http_run

    out = tmp_path / "benchmarks.md"
    result = {"latency_ms_p50": 1.25, "latency_ms_p99": 2.5, "latency_ms_max": 3.0, "clients": 4,
              "workers": 2, "database": "postgresql", "machine": "test box"}
    _append_http_run(out, "intake", result, "", {"reports/s": "516"}, {"stored": "10"})
    lines = out.read_text().splitlines()
    assert lines[1].startswith("### bench intake — ") and "4 clients, 2 worker(s)" in lines[1]
    assert lines[-3:] == ["| reports/s | p50 (ms) | p99 (ms) | max (ms) | stored |",
                          "|---:|---:|---:|---:|---:|", "| 516 | 1.2 | 2.5 | 3.0 | 10 |"]


def test_match_states_trust_and_applies_allow_lists(tmp_path: Path) -> None:
    """The same policy as the server: a plain list is unverified unless the user says the
    entries were verified; an allow list suppresses; each hit says its list, trust, verdict."""
    listed = write_scene(tmp_path / "listed.png", 7, "PNG")
    h = json.loads(vigil("hash", str(listed)).stdout)
    block = tmp_path / "block.csv"
    block.write_text(f"pdq,{h['pdq']},ind-7\n")
    allow = tmp_path / "benign.csv"
    allow.write_text(f"md5,{h['md5']},benign-1\n")

    proc = vigil("match", "--list", str(block), str(listed))
    assert proc.returncode == 0, proc.stderr
    (row,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert (row["list"], row["trust"], row["verdict"], row["id"]) == (
        str(block), "unverified", "unverified_match", "ind-7")
    proc = vigil("match", "--list", str(block), "--trust", "verified", str(listed))
    (row,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert (row["trust"], row["verdict"]) == ("verified", "verified_match")
    # The allow list matches the file's MD5: the PDQ hit is suppressed, the file does not match.
    proc = vigil("match", "--list", str(block), "--allow-list", str(allow), str(listed))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and "matches the allow list" in proc.stderr
    proc = vigil("match", "--list", str(block), "--trust", "allow", str(listed))
    assert proc.returncode == 2 and "--allow-list" in proc.stderr


def test_match_robust_finds_a_padded_and_mirrored_copy(tmp_path: Path) -> None:
    listed = write_scene(tmp_path / "listed.png", 33, "PNG")
    lst = tmp_path / "h.jsonl"
    lst.write_text(vigil("hash", str(listed)).stdout)
    scene = Image.open(listed).convert("RGB")
    padded = Image.new("RGB", (scene.width + 128, scene.height + 96), (255, 255, 255))
    padded.paste(scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (64, 48))
    query = tmp_path / "query.jpg"
    padded.save(query, quality=90)
    assert vigil("match", "--list", str(lst), str(query)).stdout == ""  # plain PDQ misses it
    proc = vigil("match", "--robust", "--list", str(lst), str(query))
    assert proc.returncode == 0, proc.stderr
    (row,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert row["signal_type"] == "pdq" and row["distance"] <= 31 and row["transform"] != "original"
    hashed = json.loads(vigil("hash", "--robust", str(query)).stdout)
    assert hashed["robust"]["original"] == hashed["pdq"] and len(hashed["robust"]) >= 14


def test_bench_quality_prints_recall_per_edit_as_json_last(tmp_path: Path) -> None:
    for seed in (51, 52):
        write_scene(tmp_path / f"photo-{seed}.png", seed, "PNG")
    proc = vigil("bench", "quality", "--images", str(tmp_path), "--min-pairs", "20",
                 "--record", str(tmp_path / "bench.md"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert set(result["plain"]) == set(result["robust"]) and "mirror" in result["plain"]
    assert result["robust"]["mirror"] == 1.0 and result["plain"]["jpeg_q30"] == 1.0
    assert result["pairs"] >= 20 and result["false_matches"] == {"plain": 0, "robust": 0}
    assert result["cost_ratio"] > 1
    recorded = (tmp_path / "bench.md").read_text()
    assert "| mirror | 0.0% | 100.0% |" in recorded and list(tmp_path.glob("bench-quality-*.svg"))


def test_match_robust_finds_a_video_re_encoded_sideways(tmp_path: Path) -> None:
    """Robust mode turns every sampled frame too: a copy stored sideways with nothing in the
    container to say so is found through the variant that turns it back."""
    from tests.fixtures.videos import write_video

    upright = write_video(tmp_path / "upright.mp4", 61, size=(640, 480))
    sideways = write_video(tmp_path / "sideways.mp4", 61, size=(640, 480), rotation=90,
                           display_matrix=False)
    lst = tmp_path / "h.jsonl"
    lst.write_text(vigil("hash", str(upright)).stdout)
    assert vigil("match", "--list", str(lst), str(upright)).stdout != ""  # frames good enough
    assert vigil("match", "--list", str(lst), str(sideways)).stdout == ""
    proc = vigil("match", "--robust", "--list", str(lst), str(sideways))
    assert proc.returncode == 0, proc.stderr
    (row,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert row["signal_type"] == "vpdq" and row["transform"] == "rotate90"


def test_a_snapshot_whose_signature_was_not_checked_is_not_trusted(tmp_path: Path) -> None:
    """Anyone can write "trust": "verified" into a file: without --public-key, a snapshot's
    hits are unverified (review first), never a verified match."""
    listed = write_scene(tmp_path / "listed.png", 71, "PNG")
    h = json.loads(vigil("hash", str(listed)).stdout)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"format": "vigil-list-v1", "type": "snapshot", "list": "x",
                                  "trust": "verified", "pdq_threshold": 31,
                                  "entries": [{"id": 1, "signal_type": "md5", "value": h["md5"],
                                               "label": None}]}))
    proc = vigil("match", "--list", str(forged), str(listed))
    (row,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert row["trust"] == "unverified" and row["verdict"] == "unverified_match", row
    assert "its trust is not taken" in proc.stderr


def test_bench_hash_side_by_side_same_files(tmp_path: Path) -> None:
    """Both hashers see the same files and agree on them; the figures come last as JSON, the
    table goes to the Markdown file, and no generated image is left behind."""
    import os

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "vigil", "bench", "hash", "--images", "4",
                           "--megapixels", "0.1", "--repeats", "2", "--record",
                           str(tmp_path / "bench.md")], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["images"] == 4 and result["same_pdq"] == 4
    assert all(len(v) == 2 for v in result["seconds"].values())
    assert result["vigil_images_per_s"] > 0 and result["ratio_vs_peer_single"] > 0
    assert "threatexchange `pdq_from_file`, 1 core" in (tmp_path / "bench.md").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["bench.md"]


def test_bench_hash_says_at_once_when_the_peer_is_missing(tmp_path: Path) -> None:
    # A stand-in package directory that hides threatexchange from the subprocess.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\nsys.modules['threatexchange'] = None\n")
    import os

    env = {**os.environ, "PYTHONPATH": str(hide)}
    proc = subprocess.run([sys.executable, "-m", "vigil", "bench", "hash"], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 2
    assert "threatexchange, which is not installed" in proc.stderr
    assert "making images" not in proc.stderr
