"""``vigil bench e2ee``: the detection options for end-to-end encrypted services, measured side by
side on benign pictures (docs/e2ee-options.md explains the options and the threat models).

Method
* **Pictures.** Listed: the benign photographs of Debian's ``opencv-doc`` (or a folder) and
  ``scenes`` generated scenes (:func:`vigil.samples.pattern_image`). Queries: every listed
  picture after each edit of :data:`EDITS` (JPEG re-encoding, resizing, small crops), and
  ``unrelated`` other generated scenes that are on no list.
* **The list** holds the listed pictures' hashes (PDQ, and the SHA-256 of the file) and random
  PDQ hashes up to ``size`` entries.
* **Recall**: the share of edited copies an option flags (the server: a PDQ hit within 31;
  exact options: the same hash; perceptual PSI: a candidate). **False-positive rate**: the
  share of unrelated pictures flagged.
* **Bytes**: setup = what a device downloads once; query = what crosses the network per picture
  (both directions). **query_ms**: the wall time of one picture's whole exchange on one core,
  hashing excluded for the device options (the device hashes anyway); **server_cpu_ms**: the
  server's CPU time per picture. Medians.
* **Size.** The cryptographic setups are built at ``min(size, build_limit)`` entries; when that
  is less than ``size``, setup bytes are scaled linearly to ``size`` (the setups are linear:
  the GCS, the table) and the perceptual false-positive rate at ``size`` is computed on the
  plaintext equivalent of the PSI (the same set membership, numpy), both said in the tables.
  Per-query figures of the threshold option do not depend on the list's size (one table slot
  per hash function); a PSI query's device time does, mildly (the GCS is decoded per query:
  ~0.04 µs per element, the review of issue 19 measured it), and the per-query figures here are
  measured at the built size. **setup_s**: the server's time to build the setup at the built
  size, scaled linearly to ``size``.
* **Device list** (:func:`device_list_study`): the document a device downloads besides the
  setup (:mod:`vigil.e2ee.devicelist`) is built by the Centre's real export over a temporary
  SQLite database with ``device_list_entries`` indicators; its bytes and the device's accept
  time are measured there and scaled linearly to ``size`` (proofs grow with log n, so a little
  more in truth), and compared with :data:`vigil.e2ee.devicelist.MAX_DOCUMENT_BYTES`.
* **Reveal** (threshold, :func:`account_study`): the server's time to try to decode an account
  at each study row, and for a flood of synthetic vouchers at the account's cap
  (:data:`vigil.e2ee.threshold.DEFAULT_MAX_CONSIDERED`).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from vigil.bench.quality import EDITS as QUALITY_EDITS
from vigil.bench.quality import _crop, default_photos
from vigil.db import transaction
from vigil.e2ee import encoding, threshold
from vigil.e2ee.devicelist import MAX_DOCUMENT_BYTES, DeviceList, DeviceState, accept
from vigil.e2ee.perceptual import ChunkScheme, PerceptualDevice, perceptual_server
from vigil.e2ee.psi import PsiDevice, PsiServer
from vigil.indicators import device_list
from vigil.indicators import service as indicators
from vigil.matching.codes import pack_hex, random_codes, unpack_hex
from vigil.matching.errors import HashingError
from vigil.matching.hashing import decode_rgb, hash_image_bytes
from vigil.matching.index import PdqIndex
from vigil.matching.policy import Candidate, ListRef, Trust, Verdict, decide
from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD, SignalType
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind
from vigil.samples import pattern_image
from vigil.translog.sth import TreeHeadSigner

#: Everyday edits under which a listed picture should still be found.
EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg_q30": QUALITY_EDITS["jpeg_q30"],
    "jpeg_q10": QUALITY_EDITS["jpeg_q10"],
    "resize_half": QUALITY_EDITS["resize_half"],
    "resize_quarter": QUALITY_EDITS["resize_quarter"],
    "crop_1": _crop(0.01),
    "crop_2.5": QUALITY_EDITS["crop_2.5"],
}
OPTIONS = ("server", "psi", "threshold", "psi_perceptual")
FIGURES = ("setup_bytes", "setup_s", "query_bytes", "query_ms", "server_cpu_ms", "recall",
           "false_positive_rate", "server_learns", "device_learns", "network_observer_learns")
_OBSERVER = "that a picture was sent, when, and its size; nothing about matches"
#: Perceptual schemes compared in the sweep (chunks, radius, positions needed).
SWEEP = ((8, 0, 1), (8, 1, 1), (8, 1, 2), (8, 2, 2), (8, 3, 1), (16, 1, 2), (4, 2, 1))
LIST = ListRef("e2ee-bench", Trust.VERIFIED)


@dataclass(frozen=True)
class Spec:
    size: int = 1_000_000
    build_limit: int = 100_000
    images: Sequence[Path] = ()
    scenes: int = 40
    unrelated: int = 200
    threshold: int = threshold.DEFAULT_THRESHOLD
    synthetic_rate: float = 0.01
    uploads: int = 1000
    scheme: ChunkScheme = field(default_factory=ChunkScheme)
    seed: int = 1
    #: Indicators of the device-list document measured (0: not measured).
    device_list_entries: int = 1000


@dataclass
class Picture:
    pdq: str
    sha256: str
    jpeg_bytes: int
    #: The index of the listed picture it is an edit of (None: unrelated or listed itself).
    source: int | None = None
    edit: str | None = None


def _encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 85} if fmt == "JPEG" else {"compress_level": 1}))
    return buf.getvalue()


def _picture(img: Image.Image, source: int | None = None, edit: str | None = None) -> Picture:
    data = _encode(img)
    return Picture(hash_image_bytes(data).pdq, hashlib.sha256(data).hexdigest(),
                   len(_encode(img, "JPEG")), source, edit)


class BenchInputError(ValueError):
    """A listed picture that cannot be read (named in the message)."""


def _load(path: Path) -> Image.Image:
    try:
        return Image.fromarray(decode_rgb(path.read_bytes(), 50_000_000)[0])
    except (OSError, HashingError) as exc:
        raise BenchInputError(f"{path}: not a picture this benchmark can read ({exc})") from None


def pictures(spec: Spec, tick: Callable[[str, int], None]) -> tuple[list[Picture], list[Picture],
                                                                      list[Picture], list[Image.Image]]:
    """(listed, edited copies, unrelated, the listed images); :class:`BenchInputError` for a
    file of ``spec.images`` that is not a readable picture."""
    images = [_load(p) for p in spec.images]
    images += [pattern_image(500 + s) for s in range(spec.scenes)]
    listed = []
    for img in images:
        listed.append(_picture(img))
        tick("hashing", 1)
    edited = []
    for i, img in enumerate(images):
        for name, edit in EDITS.items():
            edited.append(_picture(edit(img), i, name))
            tick("hashing", 1)
    unrelated = []
    for s in range(spec.unrelated):
        unrelated.append(_picture(pattern_image(50_000 + s)))
        tick("hashing", 1)
    return listed, edited, unrelated, images


def _median_ms(xs: list[float]) -> float:
    return round(statistics.median(xs) * 1000, 3) if xs else 0.0


def _rate(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def _scale(measured: int, built: int, size: int) -> int:
    return measured if built >= size else round(measured * size / built)


def _scale_s(seconds: float, built: int, size: int) -> float:
    return round(seconds if built >= size else seconds * size / max(built, 1), 3)


def run_server(spec: Spec, codes: np.ndarray, listed: list[Picture], edited: list[Picture],
               unrelated: list[Picture], images: list[Image.Image]) -> dict[str, Any]:
    """(a) The server hashes every picture and looks it up in the platform's PDQ index."""
    index = PdqIndex.build(codes, np.arange(codes.shape[0]))
    sample = [_encode(img, "JPEG") for img in images[:20]]
    times, cpu = [], []
    for data in sample:  # the server's whole work per picture: decode, hash, search
        w, c = time.perf_counter(), time.process_time()
        index.search(hash_image_bytes(data).pdq)
        times.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)

    def flagged(p: Picture) -> bool:
        hits = index.search(p.pdq, PDQ_DEFAULT_THRESHOLD)
        return decide([Candidate(h.id, LIST, SignalType.PDQ, h.distance) for h in hits]).verdict \
            is Verdict.VERIFIED

    return {"setup_bytes": 0, "setup_s": 0.0,
            "query_bytes": int(statistics.median(p.jpeg_bytes for p in listed)),
            "query_ms": _median_ms(times), "server_cpu_ms": _median_ms(cpu),
            "recall": _rate([flagged(p) for p in edited]),
            "false_positive_rate": _rate([flagged(p) for p in unrelated]),
            "server_learns": "every picture (it decodes it), its hashes, and which match",
            "device_learns": "nothing (the server decides)",
            "network_observer_learns": "without end-to-end encryption to the server: nothing "
                                       "more than with it (TLS): sizes and timing"}


def run_psi(spec: Spec, listed: list[Picture], filler: list[str], edited: list[Picture],
            unrelated: list[Picture]) -> dict[str, Any]:
    """(b) ECDH PSI on exact elements: the picture's PDQ and its file's SHA-256."""
    elements = [encoding.exact_element("pdq", p.pdq) for p in listed]
    elements += [encoding.exact_element("sha256", p.sha256) for p in listed]
    elements += [encoding.exact_element("pdq", h) for h in filler]
    start = time.perf_counter()
    server = PsiServer(elements, max_query=2)
    setup_s = time.perf_counter() - start
    times, cpu, sizes = [], [], []

    def flagged(p: Picture) -> bool:
        w = time.perf_counter()
        device = PsiDevice(server.setup)
        asked = [encoding.exact_element("pdq", p.pdq), encoding.exact_element("sha256", p.sha256)]
        request = device.ask(asked)
        c = time.process_time()
        response = server.answer(request)
        cpu.append(time.process_time() - c)
        found = device.matches(response)
        times.append(time.perf_counter() - w)
        sizes.append(len(request) + len(response))
        return bool(found)

    recall = _rate([flagged(p) for p in edited])
    fp = _rate([flagged(p) for p in unrelated])
    return {"setup_bytes": _scale(len(server.setup), len(elements), spec.size + len(listed)),
            "setup_s": _scale_s(setup_s, len(elements), spec.size + len(listed)),
            "query_bytes": int(statistics.median(sizes)), "query_ms": _median_ms(times),
            "server_cpu_ms": _median_ms(cpu), "recall": recall, "false_positive_rate": fp,
            "server_learns": "that a query happened and its size (2 elements); not the result",
            "device_learns": "whether each of its pictures' hashes is on the list (exactly)",
            "network_observer_learns": _OBSERVER + " (one query per picture)"}


def run_threshold(spec: Spec, listed: list[Picture], filler: list[str], edited: list[Picture],
                  unrelated: list[Picture]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(c) Threshold vouchers on the picture's PDQ element; the account study beside it."""
    items = [encoding.exact_element("pdq", p.pdq).encode() for p in listed]
    items += [encoding.exact_element("pdq", h).encode() for h in filler]
    start = time.perf_counter()
    server = threshold.ThresholdServer(items)
    setup_s = time.perf_counter() - start
    table_bytes = len(server.table.to_bytes())
    full = len(server.table.to_bytes()) - server.table.size * 32 + 32 * max(
        8, -(-(spec.size + len(listed)) * 13 // 10))
    device = threshold.Device(server.table, spec.threshold, 0.0)
    times, cpu = [], []

    def opens(p: Picture) -> bool:
        element = encoding.exact_element("pdq", p.pdq)
        w = time.perf_counter()
        voucher = device.voucher(element.encode(), element.encode())
        c = time.process_time()
        opened = server.open(voucher)
        cpu.append(time.process_time() - c)
        times.append(time.perf_counter() - w)
        return opened is not None

    recall = _rate([opens(p) for p in edited])
    fp = _rate([opens(p) for p in unrelated])
    study = account_study(spec, server, items)
    learns = (f"per account: the number of opened vouchers (matches + synthetic, rate "
              f"{spec.synthetic_rate}); at t={spec.threshold} matches the matched hashes")
    return ({"setup_bytes": table_bytes if len(items) >= spec.size else full,
             "setup_s": _scale_s(setup_s, len(items), spec.size + len(listed)),
             "query_bytes": threshold.VOUCHER_BYTES, "query_ms": _median_ms(times),
             "server_cpu_ms": _median_ms(cpu), "recall": recall, "false_positive_rate": fp,
             "server_learns": learns, "device_learns": "nothing (it cannot open a voucher)",
             "network_observer_learns": _OBSERVER + " (one fixed-size voucher per upload)"},
            study)


def account_study(spec: Spec, server: threshold.ThresholdServer,
                  items: list[bytes]) -> dict[str, Any]:
    """One account uploading ``uploads`` distinct pictures, r of them on the list, with
    synthetic vouchers: what the server sees at r = 0, t - 1 and t + 5 (real vouchers, real
    decoding). ``items``: the list's elements."""
    rng = random.Random(spec.seed)  # noqa: S311 - the study's order and synthetic draws, repeatable
    t, rows = spec.threshold, []
    others = [encoding.exact_element("pdq", h).encode()
              for h in unpack_hex(random_codes(spec.uploads, spec.seed + 7))]
    for r in (0, t - 1, t + 5):
        r = min(r, len(items), spec.uploads)
        device = threshold.Device(server.table, t, spec.synthetic_rate, rng)
        account = threshold.Account(t)
        uploads = items[:r] + others[:spec.uploads - r]
        rng.shuffle(uploads)
        for item in uploads:
            account.add(server.open(device.voucher(item, item[:threshold.PAYLOAD_BYTES])))
        start = time.perf_counter()
        revealed = account.reveal()
        rows.append({"matches": r, "opened": account.opened_count,
                     "revealed": len(revealed) if revealed else 0,
                     "reveal_ms": _median_ms([time.perf_counter() - start])})
    flood = threshold.Account(t)  # a modified client: every voucher synthetic, so every one opens
    device = threshold.Device(server.table, t, 0.0, rng)
    for _ in range(flood.max_considered + 10):
        flood.add(server.open(device.synthetic()))
    start = time.perf_counter()
    flood.reveal()
    flood_ms = _median_ms([time.perf_counter() - start])
    leak = {"0_vs_1": round(threshold.count_leak(spec.uploads, spec.synthetic_rate, 0, 1), 4),
            f"{t - 1}_vs_{t}": round(threshold.count_leak(spec.uploads, spec.synthetic_rate,
                                                          t - 1, t), 4)}
    leak[f"0_vs_{min(10, t - 1)}"] = round(threshold.count_leak(
        spec.uploads, spec.synthetic_rate, 0, min(10, t - 1)), 4)
    return {"uploads": spec.uploads, "synthetic_rate": spec.synthetic_rate, "threshold": t,
            "rows": rows, "count_leak": leak, "flood_opened": flood.opened_count,
            "flood_considered": flood.max_considered, "flood_reveal_ms": flood_ms}


def chunk_table(codes: np.ndarray, chunks: int) -> list[np.ndarray]:
    """Per chunk position, the sorted distinct chunk values of every listed hash."""
    bits = encoding.PDQ_BITS // chunks
    view = np.ascontiguousarray(codes).view(np.uint8).reshape(-1, 32)
    if bits == 8:
        values = view.astype(np.uint64)
    else:
        dtype = {16: ">u2", 32: ">u4", 64: ">u8"}[bits]
        values = view.copy().view(dtype).astype(np.uint64)
    return [np.unique(values[:, i]) for i in range(chunks)]


def positions_hit(scheme: ChunkScheme, table: list[np.ndarray], pdq_hex: str) -> int:
    """The plaintext equivalent of a perceptual PSI query: positions whose neighbourhood meets
    the list's chunk values."""
    hit = 0
    for i, value in enumerate(encoding.chunk_values(pdq_hex, scheme.chunks)):
        nb = np.fromiter(encoding.neighbours(value, scheme.bits, scheme.radius), dtype=np.uint64)
        at = np.searchsorted(table[i], nb)
        at[at == len(table[i])] = 0
        hit += bool((table[i][at] == nb).any())
    return hit


def run_perceptual(spec: Spec, listed: list[Picture], filler: list[str], full_codes: np.ndarray,
                   edited: list[Picture], unrelated: list[Picture]) -> tuple[dict[str, Any],
                                                                               list[dict[str, Any]]]:
    """Perceptual PSI through the real protocol at the built size; the false-positive rate at
    the full size and the sweep of schemes on the plaintext equivalent."""
    scheme = spec.scheme
    hexes = [p.pdq for p in listed] + filler
    start = time.perf_counter()
    server = perceptual_server(scheme, hexes)
    setup_s = time.perf_counter() - start
    times, cpu, sizes = [], [], []

    def candidate(p: Picture) -> bool:
        w = time.perf_counter()
        device = PerceptualDevice(scheme, server.setup)
        request = device.ask(p.pdq)
        c = time.process_time()
        response = server.answer(request)
        cpu.append(time.process_time() - c)
        result = device.result(response)
        times.append(time.perf_counter() - w)
        sizes.append(len(request) + len(response))
        return result.candidate

    recall = _rate([candidate(p) for p in edited])
    fp_built = _rate([candidate(p) for p in unrelated])
    tables = {c: chunk_table(full_codes, c) for c in {s[0] for s in SWEEP} | {scheme.chunks}}
    fp = fp_built
    if len(hexes) < full_codes.shape[0]:
        fp = _rate([positions_hit(scheme, tables[scheme.chunks], p.pdq) >= scheme.min_positions
                    for p in unrelated])
    sweep = []
    for chunks, radius, need in SWEEP:
        s = ChunkScheme(chunks, radius, need)
        sweep.append({
            "chunks": chunks, "radius": radius, "min_positions": need,
            "query_elements": s.query_size, "guaranteed_at_31": s.guaranteed(),
            "recall": _rate([positions_hit(s, tables[chunks], p.pdq) >= need for p in edited]),
            "false_positive_rate": _rate([positions_hit(s, tables[chunks], p.pdq) >= need
                                          for p in unrelated])})
    elements = len(hexes) * scheme.chunks
    return ({"setup_bytes": _scale(len(server.setup), elements, full_codes.shape[0] * scheme.chunks),
             "setup_s": _scale_s(setup_s, len(hexes), full_codes.shape[0]),
             "query_bytes": int(statistics.median(sizes)), "query_ms": _median_ms(times),
             "server_cpu_ms": _median_ms(cpu), "recall": recall, "false_positive_rate": fp,
             "server_learns": f"that a query happened and its size ({scheme.query_size} "
                              "elements, the same for every picture)",
             "device_learns": "which of its chunk values are on the list (a candidate, not a "
                              "distance); probes the list's chunk values",
             "network_observer_learns": _OBSERVER + " (a fixed-size query per picture)"},
            sweep)


def run(spec: Spec, progress: Callable[[str, int], None] | None = None,
        finished: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Everything the command prints; ``result['options']`` is the last line's object.
    ``finished(option, figures)`` is called as each option is measured (a run at 1M built
    entries takes tens of minutes: what is done is shown before the rest)."""
    tick = progress or (lambda stage, n: None)
    done = finished or (lambda name, figures: None)
    listed, edited, unrelated, images = pictures(spec, tick)
    n_fill = max(0, spec.size - len(listed))
    fill_codes = random_codes(n_fill, spec.seed)
    full_codes = np.concatenate([pack_hex([p.pdq for p in listed]), fill_codes]) \
        if n_fill else pack_hex([p.pdq for p in listed])
    built = max(0, min(spec.size, spec.build_limit) - len(listed))
    filler = unpack_hex(fill_codes[:built])
    options: dict[str, dict[str, Any]] = {}
    options["server"] = run_server(spec, full_codes, listed, edited, unrelated, images)
    tick("options", 1)
    done("server", options["server"])
    options["psi"] = run_psi(spec, listed, filler, edited, unrelated)
    tick("options", 1)
    done("psi", options["psi"])
    options["threshold"], study = run_threshold(spec, listed, filler, edited, unrelated)
    tick("options", 1)
    done("threshold", options["threshold"])
    options["psi_perceptual"], sweep = run_perceptual(spec, listed, filler, full_codes, edited,
                                                      unrelated)
    tick("options", 1)
    done("psi_perceptual", options["psi_perceptual"])
    by_edit = {name: [p for p in edited if p.edit == name] for name in EDITS}
    d = [(int(listed[p.source].pdq, 16) ^ int(p.pdq, 16)).bit_count() for p in edited
         if p.source is not None]
    return {"options": options, "size": spec.size,
            "built": min(spec.size, len(listed) + built), "listed": len(listed),
            "edited": len(edited), "unrelated": len(unrelated),
            "edits": list(EDITS), "edit_counts": {k: len(v) for k, v in by_edit.items()},
            "within_31": round(sum(x <= 31 for x in d) / len(d), 4) if d else 0.0,
            "median_distance": statistics.median(d) if d else 0,
            "scheme": {"chunks": spec.scheme.chunks, "radius": spec.scheme.radius,
                       "min_positions": spec.scheme.min_positions},
            "sweep": sweep, "account": study}


def stages(spec: Spec) -> list[tuple[str, int]]:
    n = len(spec.images) + spec.scenes
    return [("hashing", n * (1 + len(EDITS)) + spec.unrelated), ("options", len(OPTIONS)),
            ("device list", spec.device_list_entries)]


def default_images() -> list[Path]:
    return default_photos()


def device_list_study(factory: sessionmaker[Session], spec: Spec,
                      tick: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """The device-list document (:mod:`vigil.e2ee.devicelist`) of ``spec.device_list_entries``
    indicators, built by the Centre's real export (option ``psi``) in the empty, migrated
    database of ``factory``: its bytes and the device's time to parse and accept it, measured,
    and both scaled linearly to ``spec.size`` entries."""
    n = spec.device_list_entries
    step = tick or (lambda stage, k: None)
    rng = random.Random(spec.seed)  # noqa: S311 - benign random hashes, repeatable
    with transaction(factory) as s:
        actors = {}
        for name, state in (("Centre", "NL"), ("Hotline DE", "DE")):
            kind = OrgKind.CENTRE if name == "Centre" else OrgKind.PARTNER_CENTRE
            org = orgs.create_organisation(s, None, name, kind, state)
            issued = orgs.issue_key(s, None, org.id, name, set(KIND_SCOPES[kind]))
            actors[name] = orgs.authenticate(s, issued.token)
        indicators.create_list(s, None, "known-material", "verified", PDQ_DEFAULT_THRESHOLD)
    for start in range(0, n, 500):
        with transaction(factory) as s:
            batch = [indicators.Proposal("pdq", f"{rng.getrandbits(256):064x}", "known-material",
                                         "benchmark") for _ in range(min(500, n - start))]
            for ind in indicators.propose(s, actors["Centre"], batch):
                indicators.verify(s, actors["Hotline DE"], ind.id)
        step("device list", len(batch))
    signer = TreeHeadSigner.generate()
    with transaction(factory) as s:
        start_s = time.perf_counter()
        out = device_list.export(s, actors["Centre"], signer, "psi", os.urandom(32))
        export_s = time.perf_counter() - start_s
    data = out.document.to_bytes()
    start_s = time.perf_counter()
    accept(DeviceList.from_bytes(data), out.setup, signer.public_key, DeviceState(), option="psi")
    accept_s = time.perf_counter() - start_s
    per_entry = len(data) / max(1, len(out.document.entries))
    return {"entries": len(out.document.entries), "document_bytes": len(data),
            "per_entry_bytes": round(per_entry), "export_s": round(export_s, 3),
            "accept_s": round(accept_s, 3), "size": spec.size,
            "scaled_document_bytes": round(per_entry * spec.size),
            "scaled_accept_s": _scale_s(accept_s, len(out.document.entries), spec.size),
            "max_document_bytes": MAX_DOCUMENT_BYTES,
            "max_entries": int(MAX_DOCUMENT_BYTES // per_entry)}
