"""A scan's results: verdicts through the one match policy with every hit's trust, categories,
series and "victim identified" carried from the hash set, duplicates stacked, near-duplicate
unknown images grouped into series (single linkage, threshold stated), and the outputs —
results.jsonl/.csv, VICS 1.3, report.html — with nothing recognisable from the source in them
by default."""

from __future__ import annotations

import base64
import csv
import io
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from tests.fixtures.seized import in_process, scene, zip_bytes
from vigil.matching.codes import pack_hex
from vigil.matching.content import ContentHashes
from vigil.matching.hashing import hash_image_bytes
from vigil.matching.listfile import ListRef, list_from_text
from vigil.matching.policy import Trust
from vigil.matching.vics import CONTEXT_13, VicsMediaFile, read_vics
from vigil.scan import results
from vigil.scan.groups import group
from vigil.scan.results import finalize
from vigil.scan.run import JOURNAL, hash_sources
from vigil.scan.work import Hashed, WorkOptions


def flip(hex_value: str, bits: list[int]) -> str:
    n = int(hex_value, 16)
    for b in bits:
        n ^= 1 << (255 - b)
    return f"{n:064x}"


def write_journal(out: Path, records: list[Hashed]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / JOURNAL).write_text("".join(json.dumps(h.to_json()) + "\n" for h in records))


def image(path: str, pdq: str, md5: str | None = None) -> Hashed:
    md5 = md5 or f"{random.getrandbits(128):032x}"
    return Hashed(path, 1000, ContentHashes("ab" * 32, md5, "image", pdq, 90), "12" * 20)


def rows(out: Path) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


BASE = f"{random.Random(1).getrandbits(256):064x}"


def hash_set(text: str, name: str, trust: Trust = Trust.UNVERIFIED) -> Any:
    return list_from_text(text, name, trust=trust)


def test_verdicts_trust_and_what_the_hash_set_says(tmp_path: Path) -> None:
    out = tmp_path / "out"
    far = flip(BASE, list(range(0, 256, 2)))
    write_journal(out, [
        image("verified.jpg", BASE),
        image("near.jpg", flip(BASE, list(range(20)))),
        image("by-md5.jpg", flip(far, list(range(0, 150))), md5="cd" * 16),
        image("allowed.jpg", flip(far, list(range(100, 103)))),
        image("nothing.jpg", flip(far, list(range(60, 200)))),
        Hashed("broken.jpg", 10, ContentHashes("ab" * 32, "ef" * 16, "image",
                                               error="truncated image"), "34" * 20),
        Hashed("zip!/../x", error="unsafe name in archive (path traversal): '../x'"),
    ])
    verified = hash_set(json.dumps({"signal_type": "pdq", "value": BASE, "id": "v-1",
                                    "category": "1", "series": "Garden",
                                    "victim_identified": True}), "vics-like", Trust.VERIFIED)
    victims = hash_set("signal_type,value,id\nmd5," + "cd" * 16 + ",m-1\n", "victims")
    allow = hash_set(f"pdq {far}\n", "benign")
    allow.ref = ListRef("benign", Trust.ALLOW, 10)
    summary = finalize(out, [verified, victims, allow])
    r = rows(out)
    assert r["verified.jpg"]["verdict"] == "known"
    assert r["verified.jpg"]["match_verdict"] == "verified_match"
    (hit,) = r["verified.jpg"]["matches"]
    assert hit | {} == {"list": "vics-like", "trust": "verified", "signal_type": "pdq",
                        "distance": 0, "variant": None, "id": "v-1", "label": None,
                        "category": "1", "series": "Garden", "victim_identified": True}
    assert r["near.jpg"]["matches"][0]["distance"] == 20
    assert r["by-md5.jpg"]["match_verdict"] == "unverified_match"
    assert r["by-md5.jpg"]["matches"][0]["trust"] == "unverified"
    assert r["allowed.jpg"]["verdict"] == "unknown"
    assert r["allowed.jpg"]["match_verdict"] == "allowed"
    assert r["nothing.jpg"]["verdict"] == "unknown" and r["nothing.jpg"]["matches"] == []
    assert r["broken.jpg"]["verdict"] == "error" and r["broken.jpg"]["error"] == "truncated image"
    assert r["zip!/../x"]["verdict"] == "error" and r["zip!/../x"]["md5"] is None
    assert (summary["known"], summary["known_verified"], summary["known_unverified"],
            summary["unknown"], summary["errors"], summary["allowed"]) == (3, 2, 1, 2, 2, 1)
    assert summary["hash_sets"][0] == {"name": "vics-like", "trust": "verified",
                                       "pdq_threshold": 31, "entries": 1}


def test_duplicates_and_series_with_their_thresholds(tmp_path: Path) -> None:
    out = tmp_path / "out"
    a, b = BASE, flip(BASE, list(range(0, 256, 3)))
    write_journal(out, [
        image("a1.jpg", a, md5="01" * 16),
        image("a1-copy.jpg", a, md5="01" * 16),        # same MD5
        image("a1-small.jpg", flip(a, [1, 5, 9])),      # re-encoded: 3 bits
        image("a2.jpg", flip(a, list(range(40, 65)))),  # 25 bits: same scene
        image("a3.jpg", flip(a, list(range(40, 95)))),  # 30 from a2, 55 from a1: a chain
        image("b1.jpg", b),                             # unrelated
        image("known.jpg", flip(b, list(range(200, 220)))),
        Hashed("clip.mp4", 5, ContentHashes("ab" * 32, "01" * 16, "video"), "56" * 20),
    ])
    known = hash_set(f"pdq {flip(b, list(range(200, 220)))}\n", "set")
    summary = finalize(out, [known])
    r = rows(out)
    dup = r["a1.jpg"]["duplicate_group"]
    assert dup and r["a1-copy.jpg"]["duplicate_group"] == dup == r["a1-small.jpg"]["duplicate_group"]
    assert r["clip.mp4"]["duplicate_group"] == dup  # same MD5 as a1: the same bytes
    series = r["a1.jpg"]["series"]
    assert series and r["a2.jpg"]["series"] == series == r["a3.jpg"]["series"]
    assert r["b1.jpg"]["series"] is None and r["known.jpg"]["series"] is None
    assert r["clip.mp4"]["series"] is None
    assert summary["series"] == 1 and summary["series_threshold"] == 31
    assert "single-linkage" in summary["series_method"] and "31" in summary["series_method"]
    tight = finalize(out, [known], series_threshold=20)
    assert tight["series"] == 0
    r = rows(out)
    assert r["a2.jpg"]["series"] is None


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**32 - 1), st.integers(0, 40))
def test_groups_are_the_connected_components_of_their_links(n: int, seed: int, t: int) -> None:
    """Against brute force: duplicate stacks are the components of (same MD5 or PDQ within
    the duplicate threshold); series the components of unknown images' links within ``t``
    that join at least two stacks."""
    rng = np.random.default_rng(seed)
    base = [f"{int(x):016x}" * 4 for x in rng.integers(0, 2**63, 3)]
    pdqs = [flip(base[int(rng.integers(3))], sorted(rng.choice(256, int(rng.integers(0, 30)),
                                                               replace=False).tolist()))
            for _ in range(n)]
    md5 = rng.integers(0, 3, (n, 2)).astype(np.uint64) + 1
    unknown = rng.random(n) < 0.7
    g = group(md5, pack_hex(pdqs), np.ones(n, bool), unknown, 4, t)
    dist = np.array([[bin(int(p, 16) ^ int(q, 16)).count("1") for q in pdqs] for p in pdqs])
    dup_edge = (dist <= 4) | np.all(md5[:, None, :] == md5[None, :, :], axis=2)
    dup = _components(dup_edge)
    ser = _components(dup_edge | ((dist <= t) & unknown[:, None] & unknown[None, :]))
    for i in range(n):
        for j in range(n):
            assert (g.duplicate[i] == g.duplicate[j] != 0) == (dup[i] == dup[j] and
                                                            (dup == dup[i]).sum() > 1)
            if unknown[i] and unknown[j]:
                joined = ser[i] == ser[j]
                assert (g.series[i] == g.series[j] != 0) <= joined


def _components(edges: np.ndarray) -> np.ndarray:
    n = edges.shape[0]
    label = list(range(n))
    changed = True
    while changed:
        changed = False
        for i in range(n):
            for j in range(n):
                if edges[i, j] and label[i] != label[j]:
                    label[i] = label[j] = min(label[i], label[j])
                    changed = True
    return np.array(label)


def test_outputs_csv_vics_and_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_journal(out, [
        image("=HYPERLINK(1)!A0.jpg", BASE, md5="0a" * 16),
        image("dir/copy.jpg", BASE, md5="0a" * 16),
        image("<script>alert(1)</script>.jpg", flip(BASE, list(range(100)))),
    ])
    known = hash_set(json.dumps({"signal_type": "md5", "value": "0a" * 16, "id": "k",
                                 "category": "A1", "series": "S"}) + "\n"
                     + json.dumps({"signal_type": "pdq", "value": flip(BASE, list(range(100))),
                                   "category": 2}), "set")
    finalize(out, [known])
    with open(out / "results.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert table[0]["path"].startswith("'=") and table[0]["lists"] == "set"
    assert table[0]["category"] == "A1" and table[0]["trust"] == "unverified"
    vics = json.loads((out / "vics.json").read_text())
    assert vics["odata.metadata"] == CONTEXT_13
    media = {m["MD5"]: m for m in vics["value"]}
    m = media["0A" * 16]
    assert [f["FileName"] for f in m["MediaFiles"]] == ["=HYPERLINK(1)!A0.jpg", "copy.jpg"]
    assert m["Category"] is None and m["Tags"] == "A1" and m["Series"] == "S"
    assert m["SHA1"] == "12" * 20 and m["IsPrecategorized"] is True
    assert m["AlternativeHashes"] == [{"HashName": "PDQ", "HashValue": BASE}]
    assert len(vics["value"]) == 2 and [v["MediaID"] for v in vics["value"]] == [1, 2]
    assert vics["value"][1]["Category"] == 2  # a VICS number where the hash set gives one
    # The scan's VICS file is the one format: it reads back through the one reader whole.
    read = read_vics((out / "vics.json").read_bytes(), max_bytes=10**6, max_records=10)
    assert read.problems == []
    first, second = read.media
    assert (first.media_id, first.md5, first.sha1, first.pdq, first.media_size) == (
        1, "0a" * 16, "12" * 20, BASE, 1000)
    assert (first.category, first.tags, first.series, first.is_precategorized) == (
        None, "A1", "S", True)
    assert first.relative_file_path == "=HYPERLINK(1)!A0.jpg"
    assert first.media_files == (VicsMediaFile("=HYPERLINK(1)!A0.jpg", None, "0a" * 16, False),
                                 VicsMediaFile("copy.jpg", "dir", "0a" * 16, False))
    assert (second.category, second.tags) == (2, None)
    assert not (out / "vics.json.tmp").exists()  # written aside, then renamed over
    html = (out / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "Known media (3)" in html


def _scan(tmp_path: Path, thumbnails: str) -> str:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "a.jpg").write_bytes(scene(3))
    (src / "b.zip").write_bytes(zip_bytes({"c.png": scene(4, "PNG")}))
    out = tmp_path / thumbnails
    hash_sources([src], out, in_process(), options=WorkOptions(thumbnails=thumbnails))
    pdq = hash_image_bytes(scene(3)).pdq
    finalize(out, [hash_set(f"pdq {pdq}\n", "set")], thumbnails=thumbnails)
    return (out / "report.html").read_text()


def _pictures(html: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(b)))
            for b in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', html)]


def _detail(img: Image.Image) -> float:
    edges = np.asarray(img.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    return float(edges[2:-2, 2:-2].mean())


def test_report_pictures_are_blurred_greyscale_previews_by_default(tmp_path: Path) -> None:
    blurred = _pictures(_scan(tmp_path, "blurred"))
    assert len(blurred) == 1  # the known picture; nothing else is listed with a picture
    (b,) = blurred
    assert b.mode == "L" and max(b.size) <= 128
    reveal_html = _scan(tmp_path, "reveal")
    (r,) = _pictures(reveal_html)
    assert r.mode == "L" and _detail(b) < _detail(r) / 3  # the detail is gone from the pixels
    assert 'class="preview concealed"' in reveal_html and 'class="reveal"' in reveal_html
    assert not _pictures(_scan(tmp_path, "none"))


def _video(path: str, frames: list[str], md5: str | None = None) -> Hashed:
    vpdq = json.dumps([f"{f},100,{k / 2:.3f}" for k, f in enumerate(frames)])
    md5 = md5 or f"{random.getrandbits(128):032x}"
    return Hashed(path, 5000, ContentHashes("cd" * 32, md5, "video", vpdq=vpdq), "78" * 20)


def test_videos_are_stacked_and_linked_into_series_by_vpdq(tmp_path: Path) -> None:
    """Two encodings of one video (every frame a few bits off) are duplicates; a clip of it
    (half its frames, 20 bits off) joins its series but not its stack; an unrelated video and
    a known one join neither; images and videos never link to each other."""
    rng = random.Random(5)
    frames = [f"{rng.getrandbits(256):064x}" for _ in range(12)]
    out = tmp_path / "out"
    write_journal(out, [
        _video("v1.mp4", frames),
        _video("v1-reencoded.mp4", [flip(f, [3, 70, 140]) for f in frames]),
        _video("clip.mp4", [flip(f, list(range(100, 120))) for f in frames[:6]]),
        _video("other.mp4", [f"{rng.getrandbits(256):064x}" for _ in range(12)]),
        _video("known.mp4", [flip(f, list(range(200, 222))) for f in frames[6:]]),
        image("still.jpg", frames[0]),  # a frame of v1 as a picture: not linked to videos
    ])
    known = hash_set(f"md5 {'ee' * 16}\n", "set")
    summary = finalize(out, [known])
    r = rows(out)
    dup = r["v1.mp4"]["duplicate_group"]
    assert dup and r["v1-reencoded.mp4"]["duplicate_group"] == dup
    assert r["clip.mp4"]["duplicate_group"] != dup
    series = r["v1.mp4"]["series"]
    assert series and r["clip.mp4"]["series"] == series == r["v1-reencoded.mp4"]["series"]
    assert r["other.mp4"]["series"] is None and r["other.mp4"]["duplicate_group"] is None
    assert r["still.jpg"]["duplicate_group"] is None and r["still.jpg"]["series"] is None
    assert summary["series"] == 1 and "vPDQ" in summary["series_method"]
    # Known media are identified already: the known video (half of v1's frames, 22 bits off)
    # would link into the series if it were unknown.
    write_journal(out, [_video("v1.mp4", frames), _video("clip.mp4", [flip(
        f, list(range(100, 120))) for f in frames[:6]]),
        _video("known.mp4", [flip(f, list(range(200, 222))) for f in frames[6:]], md5="ee" * 16)])
    finalize(out, [known])
    r = rows(out)
    assert r["known.mp4"]["verdict"] == "known" and r["known.mp4"]["series"] is None
    assert r["v1.mp4"]["series"] and r["v1.mp4"]["series"] == r["clip.mp4"]["series"]


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 8), st.integers(0, 2**32 - 1), st.integers(0, 40))
def test_video_links_are_vpdq_matches(n: int, seed: int, t: int) -> None:
    """Against vPDQ's brute-force comparison: two videos are duplicates exactly when each has
    80% of its frames in the other within the duplicate threshold (no MD5, no images here)."""
    from vigil.matching.signals import VpdqHash
    from vigil.matching.video import vpdq_compare

    rng = np.random.default_rng(seed)
    base = [f"{int(x):016x}" * 4 for x in rng.integers(0, 2**63, 6)]
    videos: list[list[str]] = []
    for _ in range(n):
        picks = rng.choice(6, int(rng.integers(1, 5)), replace=False).tolist()
        videos.append(sorted({flip(base[p], sorted(rng.choice(256, int(rng.integers(0, 12)),
                                                               replace=False).tolist()))
                              for p in picks}))
    frames = [f for v in videos for f in v]
    rows_ = np.array([i for i, v in enumerate(videos) for _ in v], dtype=np.int64)
    md5 = np.array([[i + 1, 0] for i in range(n)], dtype=np.uint64)
    g = group(md5, np.zeros((n, 4), np.uint64), np.zeros(n, bool), np.ones(n, bool), t, 40,
              frames=pack_hex(frames), frame_rows=rows_)
    hashes = [VpdqHash.parse(json.dumps([f"{f},100,0" for f in v])) for v in videos]
    edge = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(n):
            m = vpdq_compare(hashes[i], hashes[j], distance=t)
            edge[i, j] = i != j and m.query_match_percent >= 80 and m.target_match_percent >= 80
    comp = _components(edge)
    for i in range(n):
        for j in range(n):
            assert (g.duplicate[i] == g.duplicate[j] != 0) == (comp[i] == comp[j] and
                                                            (comp == comp[i]).sum() > 1)


def test_a_one_frame_title_card_does_not_chain_videos_into_a_series(tmp_path: Path) -> None:
    """Two unrelated videos that both open on the same card, and a video of that card alone:
    the card is 100% in both, but a video needs five frames to join a series by being in
    another, so nothing is linked."""
    rng = random.Random(9)
    card = f"{rng.getrandbits(256):064x}"
    out = tmp_path / "out"
    write_journal(out, [
        _video("b.mp4", [card, *(f"{rng.getrandbits(256):064x}" for _ in range(50))]),
        _video("c.mp4", [card, *(f"{rng.getrandbits(256):064x}" for _ in range(50))]),
        _video("card.mp4", [card]),
    ])
    summary = finalize(out, [])
    r = rows(out)
    assert summary["series"] == 0 and {v["series"] for v in r.values()} == {None}


def test_many_copies_of_one_picture_group_in_bounded_memory() -> None:
    """Byte-different copies with one PDQ (re-saved, EXIF changed) are joined directly and
    searched once: 20,000 of them are one stack, without 20,000 squared pairs in memory."""
    import tracemalloc

    n = 20_000
    md5 = np.zeros((n, 2), np.uint64)
    md5[:, 0] = np.arange(1, n + 1, dtype=np.uint64)
    pdqs = np.repeat(pack_hex([BASE]), n, axis=0)
    tracemalloc.start()
    g = group(md5, pdqs, np.ones(n, bool), np.ones(n, bool))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert g.duplicate_groups == 1 and int(g.duplicate.min()) == 1
    assert peak < 64 * 1024 * 1024, peak  # 20,000 squared pairs would be gigabytes


def test_matching_in_batches_on_threads_gives_the_results_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal is matched in batches on two threads: the results are those of one batch at
    a time, line for line (a batch must never come back out of order or with another's hits)."""
    rng = random.Random(9)
    listed = [f"{rng.getrandbits(256):064x}" for _ in range(40)]
    records = []
    for i in range(200):
        near = flip(listed[i % 40], [rng.randrange(256) for _ in range(rng.choice((3, 40)))])
        records.append(image(f"{i:03d}.jpg", near if i % 3 else
                             f"{rng.getrandbits(256):064x}"))
    sets = [hash_set("".join(f"pdq {h}\n" for h in listed), "set")]
    outputs = []
    for batch, threads in ((512, 1), (7, 2), (3, 4)):
        monkeypatch.setattr(results, "BATCH", batch)
        monkeypatch.setattr(results, "MATCH_THREADS", threads)
        out = tmp_path / f"{batch}-{threads}"
        write_journal(out, records)
        summary = finalize(out, sets)
        outputs.append(((out / "results.jsonl").read_text(), summary["known"]))
    assert outputs[0][1] > 50  # some known, some not
    assert all(o == outputs[0] for o in outputs[1:])
