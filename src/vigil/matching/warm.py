"""Compile the matching core's numba kernels before their first real use.

numba compiles a kernel at its first call for the argument types of that call and keeps the
machine code beside the source (``cache=True``: ``__pycache__/*.nbi``, ``*.nbc``), where
every later process finds it. Without this, the first ``vigil match``, the first start of
``vigil serve`` and the first test of each process that hashes or searches spends about 40 s
of CPU compiling on a small server. ``scripts/install`` runs ``python -m vigil.matching.warm``
once after installing.

The calls below are the real code paths on tiny generated inputs (a random-pixel picture,
random hashes), so the types compiled are those the paths use: pixels decoded by the pipeline
(read-only) and arrays of vigil's own (writeable), an index built in memory and one mapped
from its file (read-only), batch and single searches.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vigil.matching.content import hash_content_and_pixels
from vigil.matching.index import PdqIndex
from vigil.matching.indexfile import map_arrays, save_arrays
from vigil.matching.pdq import pdq_of
from vigil.matching.previews import greyscale_from_pixels


def compile_kernels() -> float:
    """Run every kernel once on tiny inputs; returns the seconds it took (about 40 on a small
    server when nothing was compiled yet, well under 1 when everything was)."""
    began = time.monotonic()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, "PNG")
    hashes, decoded = hash_content_and_pixels(png.getvalue())
    if decoded is None or hashes.pdq is None:
        raise RuntimeError(f"the warm-up picture did not hash: {hashes.error}")
    for rgb in (decoded, pixels):  # as the pipeline decodes them, and an array of one's own
        pdq_of(rgb)
        greyscale_from_pixels(rgb, 32, blur=True)

    codes = rng.integers(0, 2**63, (512, 4), dtype=np.uint64)
    index = PdqIndex.build(codes, np.arange(1, 513, dtype=np.int64))
    with tempfile.TemporaryDirectory(prefix="vigil-warm-") as tmp:
        path = Path(tmp) / "index.vmx"
        save_arrays(path, index.arrays(), 0)
        _, mapped = map_arrays(path)
        for each in (index, PdqIndex.from_arrays(mapped)):
            for threshold in (0, 31):
                each.search_batch(codes[:8], threshold)
                each.search(codes[0], threshold)
        del mapped
    return time.monotonic() - began


if __name__ == "__main__":
    print(f"vigil: matching kernels ready ({compile_kernels():.1f} s)")
