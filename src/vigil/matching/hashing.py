"""Image hashing: PDQ (with its quality), MD5 and SHA-256, and on request the 8 dihedral PDQs.

The preprocessing pipeline is fixed, because a list and a scanner that preprocess differently
disagree by several bits (decoding at reduced size alone moves PDQ by a median 6-7 bits):

1. Read the file's bytes (at most ``max_file_bytes``); MD5 and SHA-256 are of these bytes.
2. Identify the format with Pillow from the bytes (never from the file name).
3. Refuse images with more than ``max_pixels`` pixels *before* decoding (decompression bombs).
4. Decode the first frame at full resolution. No EXIF rotation is applied: other hash sources
   (threatexchange, HMA) hash the stored pixels, and the dihedral hashes cover rotations.
5. Convert to 8-bit RGB with Pillow's ``convert("RGB")``; an alpha channel is dropped, a palette
   is expanded. For RGB and greyscale images this is exactly what threatexchange does.
6. Hash with the reference PDQ implementation (``pdqhash``, Meta's C++ code): the library
   downsamples with its Jarosz filters; vigil never resizes first.

Errors never escape as exceptions of the imaging library: every failure is a
:class:`HashingError` whose message says what was wrong with the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, UnidentifiedImageError

from vigil.matching.errors import HashingError

#: Default refusal limit for decoded size: 50 megapixels (e.g. 8660 x 5773).
DEFAULT_MAX_PIXELS = 50_000_000
#: Default limit for a file's size.
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
# Pillow's own bomb guard raises at twice its MAX_IMAGE_PIXELS; vigil's limit must stay below.
_PILLOW_HARD_LIMIT = 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485)

#: The error of bytes that are no image format Pillow knows.
UNRECOGNISED = "not a recognised image format"

#: Names of the dihedral transformations, in pdqhash's order.
DIHEDRAL_NAMES = ("original", "rotate90", "rotate180", "rotate270",
                  "flip_x", "flip_y", "flip_plus", "flip_minus")


@dataclass(frozen=True)
class HashOptions:
    """Limits and switches of the hashing pipeline."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    dihedral: bool = False
    #: Video: one frame every this many seconds (0: every frame); vPDQ's default is 1.
    seconds_per_hash: float = 1.0
    #: Video: stop after this many hashed frames.
    max_frames: int = 100_000
    #: Video: give up (a per-file error) after this many seconds of decoding.
    max_decode_seconds: float = 600.0

    def __post_init__(self) -> None:
        if not 0 < self.max_pixels <= _PILLOW_HARD_LIMIT:
            raise ValueError(f"max_pixels must be between 1 and {_PILLOW_HARD_LIMIT}")
        if self.max_file_bytes <= 0:
            raise ValueError("max_file_bytes must be positive")
        if self.seconds_per_hash < 0:
            raise ValueError("seconds_per_hash must be >= 0")


@dataclass(frozen=True)
class ImageHashes:
    md5: str
    sha256: str
    pdq: str
    quality: int
    width: int
    height: int
    format: str
    dihedral: dict[str, str] | None = field(default=None)

    kind = "image"


def bits_to_hex(bits: np.ndarray) -> str:
    """pdqhash's 256 bits (first bit most significant) as 64 hex characters."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def read_limited(path: Path, max_bytes: int) -> bytes:
    """A file's bytes, refusing files over ``max_bytes`` and naming OS errors plainly."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise HashingError("unreadable: is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise HashingError("unreadable: not a regular file (a pipe, socket or device)")
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except IsADirectoryError:
        raise HashingError("unreadable: is a directory") from None
    except FileNotFoundError:
        raise HashingError("unreadable: no such file") from None
    except PermissionError:
        raise HashingError("unreadable: permission denied") from None
    except OSError as exc:
        raise HashingError(f"unreadable: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise HashingError(f"file too large: more than {max_bytes} bytes")
    return data


def hash_image_bytes(data: bytes, options: HashOptions | None = None) -> ImageHashes:
    """Hash an image given as bytes (see the module docstring for the pipeline)."""
    opts = options or HashOptions()
    if not data:
        raise HashingError("empty file (0 bytes)")
    if len(data) > opts.max_file_bytes:
        raise HashingError(f"file too large: more than {opts.max_file_bytes} bytes")
    rgb, fmt = decode_rgb(data, opts.max_pixels)
    bits, quality = pdqhash.compute(rgb)
    dihedral = None
    if opts.dihedral:
        all_bits, _ = pdqhash.compute_dihedral(rgb)
        dihedral = {name: bits_to_hex(b) for name, b in zip(DIHEDRAL_NAMES, all_bits, strict=True)}
    return ImageHashes(
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        pdq=bits_to_hex(bits),
        quality=int(quality),
        width=rgb.shape[1],
        height=rgb.shape[0],
        format=fmt,
        dihedral=dihedral,
    )


def hash_image_file(path: Path | str, options: HashOptions | None = None) -> ImageHashes:
    opts = options or HashOptions()
    return hash_image_bytes(read_limited(Path(path), opts.max_file_bytes), opts)


def decode_rgb(data: bytes, max_pixels: int) -> tuple[np.ndarray, str]:
    """Steps 2-5 of the pipeline: bytes -> (H x W x 3 uint8 array, format name)."""
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise HashingError(UNRECOGNISED) from None
    except Image.DecompressionBombError:
        # Pillow refuses sizes over twice its own limit before vigil sees the header.
        raise HashingError(
            f"image too large: more than {_PILLOW_HARD_LIMIT} pixels exceeds the limit of "
            f"{max_pixels} (possible decompression bomb)"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise HashingError(f"corrupt image header: {exc}") from None
    except Exception as exc:  # a decoder's own failure on hostile input, whatever its type
        raise HashingError(f"cannot read image header: {type(exc).__name__}: {exc}"[:300]) from None
    fmt = img.format or "unknown"
    width, height = img.size
    if width <= 0 or height <= 0:
        raise HashingError(f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise HashingError(
            f"image too large: {width}x{height} = {width * height} pixels exceeds the limit "
            f"of {max_pixels} (possible decompression bomb)"
        )
    try:
        with warnings.catch_warnings():
            # Size was checked above against vigil's own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.seek(0)
            img.load()
            rgb = img.convert("RGB")
    except Image.DecompressionBombError as exc:
        raise HashingError(f"image too large: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        text = str(exc)
        if "truncated" in text or isinstance(exc, EOFError):
            raise HashingError(f"truncated image ({fmt}): {text or 'unexpected end of data'}") from None
        raise HashingError(f"cannot decode image ({fmt}): {text}") from None
    except MemoryError:
        raise HashingError("image too large to decode in memory") from None
    except Exception as exc:  # a decoder's own failure on hostile input, whatever its type
        raise HashingError(f"cannot decode image ({fmt}): {type(exc).__name__}: {exc}"[:300]) from None
    return np.asarray(rgb), fmt
