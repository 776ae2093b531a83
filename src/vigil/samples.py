"""Benign sample images, generated deterministically from a seed.

Used by the demo and the tests: colour gradients, geometric shapes and smooth noise, nothing
else. The same seed always gives the same pixels, so tests are repeatable.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def pattern_image(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A landscape-like picture: a sky-to-ground gradient, a sun and some hills and boxes."""
    rng = np.random.default_rng(seed)
    w, h = size
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    top = rng.uniform(60, 255, 3)
    bottom = rng.uniform(0, 200, 3)
    base = (top * (1 - y) + bottom * y) * np.ones((1, w, 1))
    # Low-frequency texture so that PDQ has structure to work with.
    noise = rng.normal(0, 1, (h // 16 + 2, w // 16 + 2, 3))
    tex = np.asarray(Image.fromarray(((noise - noise.min()) / np.ptp(noise) * 255).astype(np.uint8))
                     .resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64)
    pixels = np.clip(base * 0.75 + tex * 0.25, 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 7))):
        kind = int(rng.integers(0, 3))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 10, w // 2)), y0 + int(rng.integers(h // 10, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=colour)
    return img.filter(ImageFilter.GaussianBlur(1))


def encode(img: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    img.save(buf, fmt, **params)
    return buf.getvalue()


#: The scenes ``vigil demo`` lists and ``vigil serve --demo`` verifies on its ``known-material``
#: list: the one place both take them from, so that the README's tour matches the demo's edited
#: copies against the server's signed snapshot.
DEMO_LISTED_SCENES = (0, 1, 2)
#: Scenes ``vigil demo`` generates as unrelated queries: listed nowhere.
DEMO_UNLISTED_SCENES = (3, 4, 5)


def demo_original(seed: int) -> bytes:
    """The file a demo scene is listed from: PNG (lossless), so that the list's hash and the
    demo's originals are the same picture byte for byte."""
    return encode(pattern_image(seed), "PNG")
