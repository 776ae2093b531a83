"""PDQ of a pixel array and the 8 dihedral transformations: the small core that the decoding
pipeline (:mod:`vigil.matching.hashing`), robust matching (:mod:`vigil.matching.robust`) and
video hashing share."""

from __future__ import annotations

import numpy as np

from vigil.matching._pdq_kernel import pdq_bits

#: Names of the dihedral transformations, in pdqhash's order: rotations counter-clockwise,
#: ``flip_x`` mirrors top to bottom, ``flip_y`` left to right, ``flip_plus`` across the main
#: diagonal (transpose), ``flip_minus`` across the other one.
DIHEDRAL_NAMES = ("original", "rotate90", "rotate180", "rotate270",
                  "flip_x", "flip_y", "flip_plus", "flip_minus")

def bits_to_hex(bits: np.ndarray) -> str:
    """pdqhash's 256 bits (first bit most significant) as 64 hex characters."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def dihedral_variants(rgb: np.ndarray) -> list[np.ndarray]:
    """The 8 transformed arrays of an H x W x C image, in :data:`DIHEDRAL_NAMES`' order."""
    t = rgb.transpose(1, 0, 2)
    return [rgb, np.rot90(rgb, 1), np.rot90(rgb, 2), np.rot90(rgb, 3),
            rgb[::-1], rgb[:, ::-1], t, t[::-1, ::-1]]


def pdq_of(rgb: np.ndarray) -> tuple[str, int]:
    """PDQ (64 hex) and quality of an H x W x 3 uint8 array (vigil's compiled PDQ, bit for
    bit the reference's: :mod:`vigil.matching._pdq_kernel`)."""
    bits, quality = pdq_bits(np.ascontiguousarray(rgb))
    return bits_to_hex(bits), quality
