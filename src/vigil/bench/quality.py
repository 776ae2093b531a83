"""``vigil bench quality``: how often a listed picture is still found after everyday edits,
with plain PDQ and with robust matching (:mod:`vigil.matching.robust`), and how often two
different pictures are taken for one another.

For every photo of a folder (default: the benign photographs Debian's ``opencv-doc`` ships,
which the test install provides): its PDQ is "listed"; each edit below is applied to it, the
edited file is hashed as a query would be (plain: its PDQ; robust: every variant), and a hit is
any hash within the threshold (31) of the listed one. False matches: every pair of distinct
pictures — the photos plus generated distractor scenes, at least 100,000 pairs — where a
query hash of one (unedited) is within the threshold of the other's listed PDQ.

Cost: the median, over the photos, of the time to hash one query file (decoding included)
with robust variants, divided by that of plain PDQ, measured in the same run.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from vigil.matching.codes import pack_hex
from vigil.matching.hashing import HashOptions, decode_rgb, hash_image_bytes
from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD
from vigil.samples import pattern_image

#: Debian's opencv-doc photographs of objects, fruit, animals, buildings and landscapes (an
#: explicit allow-list, as in the tests; one picture of each scene that is shown twice).
DEFAULT_DIR = Path("/usr/share/doc/opencv-doc/examples/data")
DEFAULT_NAMES = ("fruits.jpg", "baboon.jpg", "building.jpg", "orange.jpg", "apple.jpg",
                 "aero1.jpg", "home.jpg", "board.jpg", "starry_night.jpg", "smarties.png",
                 "butterfly.jpg", "graf1.png", "leuvenA.jpg", "HappyFish.jpg", "aloeL.jpg",
                 "blox.jpg", "cards.png", "chicky_512.png", "rubberwhale1.png", "stuff.jpg",
                 "squirrel_cls.jpg", "box.png")
MIN_PAIRS = 100_000

Edit = Callable[[Image.Image], Image.Image]


def _jpeg(quality: int) -> Edit:
    def edit(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return edit


def _resize(f: float) -> Edit:
    return lambda img: img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))),
                                  Image.Resampling.LANCZOS)


def _crop(r: float) -> Edit:
    def edit(img: Image.Image) -> Image.Image:
        dx, dy = round(img.width * r), round(img.height * r)
        return img.crop((dx, dy, img.width - dx, img.height - dy))
    return edit


def _pad(r: float, colour: tuple[int, int, int] = (0, 0, 0)) -> Edit:
    def edit(img: Image.Image) -> Image.Image:
        dx, dy = round(img.width * r), round(img.height * r)
        out = Image.new("RGB", (img.width + 2 * dx, img.height + 2 * dy), colour)
        out.paste(img, (dx, dy))
        return out
    return edit


def _caption(img: Image.Image) -> Image.Image:
    """A white bar above the picture, 18 % of its height, with two lines of black text."""
    bar = max(24, round(img.height * 0.18))
    out = Image.new("RGB", (img.width, img.height + bar), (255, 255, 255))
    out.paste(img, (0, bar))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(10, bar // 3))
    draw.text((bar // 4, bar // 8), "WHEN THE WEEKEND", fill=(0, 0, 0), font=font)
    draw.text((bar // 4, bar // 8 + bar // 3 + 2), "finally arrives", fill=(0, 0, 0), font=font)
    return out


def _screenshot(img: Image.Image) -> Image.Image:
    """Shown smaller in an app (dark frame, a title bar), captured and saved as JPEG."""
    inner = _resize(0.8)(img)
    w, h = inner.width + 40, inner.height + 140
    out = Image.new("RGB", (w, h), (24, 24, 28))
    out.paste(inner, (20, 90))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, 0, w, 60), fill=(40, 44, 52))
    draw.text((20, 20), "12:41  Photos", fill=(230, 230, 230),
              font=ImageFont.load_default(size=20))
    return _jpeg(75)(out)


#: The edits, by name: each takes the picture as displayed and returns the edited one.
EDITS: dict[str, Edit] = {
    "jpeg_q30": _jpeg(30),
    "jpeg_q10": _jpeg(10),
    "resize_half": _resize(0.5),
    "resize_quarter": _resize(0.25),
    "greyscale": lambda img: img.convert("L").convert("RGB"),
    "blur": lambda img: img.filter(ImageFilter.GaussianBlur(2)),
    "brightness": lambda img: ImageEnhance.Brightness(img).enhance(1.3),
    "caption": _caption,
    "mirror": lambda img: img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "rotate_90": lambda img: img.transpose(Image.Transpose.ROTATE_90),
    "crop_2.5": _crop(0.025),
    "crop_5": _crop(0.05),
    "rotate_2": lambda img: img.rotate(2, Image.Resampling.BICUBIC),
    "rotate_5": lambda img: img.rotate(5, Image.Resampling.BICUBIC),
    "pad_10": _pad(0.10),
    "screenshot": _screenshot,
}


def default_photos() -> list[Path]:
    return [DEFAULT_DIR / n for n in DEFAULT_NAMES if (DEFAULT_DIR / n).is_file()]


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _distances(queries: list[str], targets: np.ndarray) -> np.ndarray:
    """Hamming distances, len(queries) x len(targets) (targets: packed N x 4 uint64)."""
    q = pack_hex(queries)
    x = q[:, None, :] ^ targets[None, :, :]
    return np.asarray(np.unpackbits(x.view(np.uint8), axis=-1).sum(axis=-1), dtype=np.int32)


def _hashes(data: bytes, robust: bool) -> list[str]:
    """The PDQ hashes a query file is matched by: its own, or every robust variant's — the
    same call ``vigil match`` makes."""
    h = hash_image_bytes(data, HashOptions(robust=robust))
    return list(h.robust.values()) if h.robust is not None else [h.pdq]


def _corpus_size(photos: int, min_pairs: int) -> int:
    return max(photos, int(np.ceil((1 + np.sqrt(1 + 8 * min_pairs)) / 2)))


def run(photos: list[Path], *, threshold: int = PDQ_DEFAULT_THRESHOLD,
        min_pairs: int = MIN_PAIRS,
        progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """The measurement (see the module docstring). ``progress(stage, steps done)``."""
    tick = progress or (lambda stage, n: None)
    if not photos:
        raise ValueError("no photos to measure with")
    pictures = []
    for p in photos:
        rgb, _ = decode_rgb(p.read_bytes(), 50_000_000)
        pictures.append(Image.fromarray(rgb))
    listed = [hash_image_bytes(_png(img)).pdq for img in pictures]
    listed_packed = pack_hex(listed)
    recall: dict[str, dict[str, float]] = {"plain": {}, "robust": {}}
    costs: list[float] = []
    for name, edit in EDITS.items():
        found = {"plain": 0, "robust": 0}
        for i, img in enumerate(pictures):
            data = _png(edit(img))
            for mode in ("plain", "robust"):
                started = time.perf_counter()
                hashes = _hashes(data, mode == "robust")
                spent = time.perf_counter() - started
                if mode == "plain":
                    plain_time = spent
                elif name == "jpeg_q30":
                    costs.append(spent / max(plain_time, 1e-9))
                d = _distances(hashes, listed_packed[i:i + 1])
                found[mode] += int(d.min() <= threshold)
            tick("edits", 1)
        for mode in ("plain", "robust"):
            recall[mode][name] = round(found[mode] / len(pictures), 4)
    # False matches: the photos and generated scenes, every pair of distinct pictures.
    n_needed = _corpus_size(len(pictures), min_pairs)
    corpus = [_png(img) for img in pictures]
    corpus += [_png(pattern_image(10_000 + s)) for s in range(max(0, n_needed - len(corpus)))]
    all_listed = pack_hex([hash_image_bytes(d).pdq for d in corpus])
    false = {"plain": 0, "robust": 0}
    n = len(corpus)
    for mode in ("plain", "robust"):
        matched = np.zeros((n, n), dtype=bool)
        for i, data in enumerate(corpus):
            d = _distances(_hashes(data, mode == "robust"), all_listed).min(axis=0)
            matched[i] = d <= threshold
            tick("pairs", 1)
        matched |= matched.T
        np.fill_diagonal(matched, False)
        false[mode] = int(np.triu(matched).sum())
    return {"plain": recall["plain"], "robust": recall["robust"], "false_matches": false,
            "pairs": n * (n - 1) // 2, "photos": len(pictures), "distractors": n - len(pictures),
            "threshold": threshold, "cost_ratio": round(statistics.median(costs), 2)}


def steps(photos: int, min_pairs: int = MIN_PAIRS) -> Iterator[tuple[str, int]]:
    """The progress stages and their sizes, for a progress bar."""
    n = _corpus_size(photos, min_pairs)
    yield "edits", len(EDITS) * photos
    yield "pairs", 2 * n
