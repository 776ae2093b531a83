"""Image hashing: PDQ (with its quality), MD5 and SHA-256, and on request the 8 dihedral PDQs.

**The decoding pipeline** — one for every path (``vigil hash``, report intake, the crawler,
``vigil match``, victims' cases, the seed), mirrored exactly by the browser hasher
(``web/static/victim/hasher-worker.js``); a test requires the same pixels, and so the same
PDQ, from both for every kind of file in ``tests/matching/test_decoding.py``. A list and a
scanner that decode differently disagree by tens of bits, so it is fixed:

1. Read the file's bytes (at most ``max_file_bytes``); MD5 and SHA-256 are of these bytes.
2. Identify the format with Pillow from the bytes (never from the file name).
3. Refuse images with more than ``max_pixels`` pixels *before* decoding (decompression bombs).
4. Decode the first frame (of an animation: what a browser shows first) at full resolution.
5. **The displayed orientation**: the EXIF Orientation tag (2-8) is applied where browsers
   read it: a JPEG's EXIF, a PNG's ``eXIf`` chunk before the image data, a TIFF's own tag
   (decision 0014). WebP's EXIF, XMP and PNG text chunks are ignored, as Chromium ignores them.
6. **8 bits per sample, by the high byte**: 16-bit samples keep their high byte — what
   browsers do (libpng's ``strip_16``) and what Pillow does with 16-bit RGB; 32-bit integer
   samples likewise (the high byte of 0 to 2**32-1); floating-point samples are taken as 0.0-1.0
   and rounded to 0-255 (NaN is 0).
7. **Transparency composited on white** (:data:`BACKGROUND`), as a page shows it, with the
   browser's arithmetic: premultiplied (``round(c·a/255)``) plus ``255 - a``. This covers RGBA,
   LA, palette images with a transparent entry and greyscale or RGB with a transparent colour.
8. An embedded ICC profile is applied into sRGB, as colour-managed browsers show the picture
   (LittleCMS here, within one level of Chromium's engine); everything else becomes 8-bit RGB
   by Pillow's conversion: palette, bilevel (0/255), greyscale (R = G = B), CMYK
   (Adobe-inverted CMYK JPEGs included), YCbCr.
9. Hash with PDQ exactly as the reference implementation computes it (Meta's C++ code, which
   ``pdqhash`` wraps): vigil's compiled copy of its arithmetic (:mod:`vigil.matching._pdq_kernel`)
   gives the same bits and quality, a few times faster on large pictures, and a test holds it
   to the reference bit for bit. It downsamples with the Jarosz filters; vigil never resizes
   first. The dihedral hashes are the PDQs of the
   8 transformed pixel arrays (not the DCT's shortcut, which is off by up to 36 bits), so a
   lossless rotation or mirror of a picture is at distance 0.

Errors never escape as exceptions of the imaging library: every failure is a
:class:`HashingError` whose message says what was wrong with the file.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from vigil.matching.errors import HashingError
from vigil.matching.pdq import DIHEDRAL_NAMES, dihedral_variants, pdq_of
from vigil.matching.robust import robust_pdqs

#: Default refusal limit for decoded size: 50 megapixels (e.g. 8660 x 5773).
DEFAULT_MAX_PIXELS = 50_000_000
#: Default limit for a file's size.
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
# Pillow's own bomb guard raises at twice its MAX_IMAGE_PIXELS; vigil's limit must stay below.
_PILLOW_HARD_LIMIT = 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485)
# Between MAX_IMAGE_PIXELS and twice it Pillow only warns; vigil has already checked the size
# against its own limit (max_pixels) by then, so the warning says nothing vigil acts on. It is
# filtered once for the process: a ``warnings.catch_warnings()`` around each decode swapped the
# process-wide filter list from every hashing thread, which is not thread-safe before Python
# 3.14 and dropped filters other threads had just set (tests/test_api_edges.py).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

#: The error of bytes that are no image format Pillow knows.
UNRECOGNISED = "not a recognised image format"

#: The background transparent pixels are composited on (white, as a page shows them).
BACKGROUND = 255

#: Rows composited at a time: bounds the temporary arrays of a large image (a few MB each).
_ROWS = 256


@dataclass(frozen=True)
class HashOptions:
    """Limits and switches of the hashing pipeline."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    dihedral: bool = False
    #: Also the robust variants' PDQs (:mod:`vigil.matching.robust`; the dihedral ones among them).
    robust: bool = False
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
    #: Variant name -> PDQ, with ``original`` (:data:`vigil.matching.robust.VARIANT_NAMES`).
    robust: dict[str, str] | None = field(default=None)
    #: SHA-1 of the bytes (VICS and NCMEC lists carry it).
    sha1: str = ""

    kind = "image"


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
    return image_hashes_and_pixels(data, options)[0]


def image_hashes_and_pixels(data: bytes, options: HashOptions | None = None, *,
                            digests: tuple[str, str, str] | None = None
                            ) -> tuple[ImageHashes, np.ndarray]:
    """:func:`hash_image_bytes`, with the decoded picture as hashed (H x W x 3 uint8, as
    displayed) for a caller that makes a preview of it without decoding the file again.
    ``digests``: the bytes' (MD5, SHA-256, SHA-1) hex digests where the caller has taken them
    already. Raises :class:`HashingError` for a file that cannot be hashed."""
    opts = options or HashOptions()
    if not data:
        raise HashingError("empty file (0 bytes)")
    if len(data) > opts.max_file_bytes:
        raise HashingError(f"file too large: more than {opts.max_file_bytes} bytes")
    rgb, fmt = decode_rgb(data, opts.max_pixels)
    pdq, quality = pdq_of(rgb)
    dihedral = None
    if opts.dihedral:
        dihedral = {name: pdq_of(v)[0] if name != "original" else pdq
                    for name, v in zip(DIHEDRAL_NAMES, dihedral_variants(rgb), strict=True)}
    robust = None
    if opts.robust:
        robust = robust_pdqs(rgb, pdq)
    md5, sha256, sha1 = digests or (hashlib.md5(data, usedforsecurity=False).hexdigest(),
                                    hashlib.sha256(data).hexdigest(),
                                    hashlib.sha1(data, usedforsecurity=False).hexdigest())
    return ImageHashes(
        md5=md5,
        sha256=sha256,
        sha1=sha1,
        pdq=pdq,
        quality=quality,
        robust=robust,
        width=rgb.shape[1],
        height=rgb.shape[0],
        format=fmt,
        dihedral=dihedral,
    ), rgb


def hash_image_file(path: Path | str, options: HashOptions | None = None) -> ImageHashes:
    opts = options or HashOptions()
    return hash_image_bytes(read_limited(Path(path), opts.max_file_bytes), opts)


def decode_rgb(data: bytes, max_pixels: int) -> tuple[np.ndarray, str]:
    """Steps 2-8 of the pipeline: bytes -> (H x W x 3 uint8 array as displayed, format name)."""
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
        orientation = orientation_of(img)  # before loading: as browsers read it
        img.seek(_first_shown_frame(img))
        img.load()
        rgb = displayed_rgb(img, orientation)
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
    return rgb, fmt


def displayed_rgb(img: Image.Image, orientation: int | None = None) -> np.ndarray:
    """Steps 5-8 of the pipeline on a loaded image: H x W x 3 uint8, as a browser shows it
    (turned by ``orientation``, from :func:`orientation_of` before loading; 8 bits by the
    high byte; transparency on white)."""
    webp = img.format == "WEBP"
    if orientation in _TURNS:
        img = img.transpose(_TURNS[orientation])
    img = _in_srgb(img)
    mode = img.mode
    if mode.startswith("I;16"):
        raw = np.asarray(img).astype(np.uint16)
        grey = (raw >> 8).astype(np.uint8)
        key = img.info.get("transparency")
        if isinstance(key, int):  # a transparent grey level, as the 16-bit sample
            alpha = np.where(raw == key, 0, 255).astype(np.uint8)
            return _on_background(np.dstack([grey, grey, grey, alpha]))
    elif mode == "I":
        grey = ((np.asarray(img).astype(np.int64) & 0xFFFFFFFF) >> 24).astype(np.uint8)
    elif mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0)
        grey = np.clip(np.floor(values * 255 + 0.5), 0, 255).astype(np.uint8)
    elif _has_alpha(img):
        return _on_background(np.asarray(img.convert("RGBA")), webp=webp)
    else:
        return np.asarray(img.convert("RGB"))
    return np.repeat(grey[:, :, None], 3, axis=2)


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _in_srgb(img: Image.Image) -> Image.Image:
    """The picture through its embedded ICC profile into sRGB, as a colour-managed browser
    shows it (a profile can even invert the stored values); LittleCMS here and Chromium's
    engine agree within one level. Without a profile, with a broken one (browsers ignore it
    then too), or in a mode profiles are not applied to (16-bit, float), as stored."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "L", "LA", "P", "CMYK"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
        colour = img.convert({"RGBA": "RGB", "LA": "L"}.get(img.mode, img.mode))
        shown = ImageCms.profileToProfile(colour, source, _srgb(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img
    if shown is None:
        return img
    if alpha is not None:
        shown.putalpha(alpha)
    return shown


def _first_shown_frame(img: Image.Image) -> int:
    """The frame a browser shows first: 0, except in an animated PNG whose default image is
    not part of the animation (browsers show the animation's first frame; hashing the hidden
    default image would let anyone wrap a listed picture in a benign one)."""
    if img.format == "PNG" and getattr(img, "default_image", False) \
            and getattr(img, "n_frames", 1) > 1:
        return 1
    return 0


#: How each EXIF Orientation value is undone (as Pillow's ``ImageOps.exif_transpose``).
_TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
          6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_90}


def orientation_of(img: Image.Image) -> int | None:
    """The EXIF Orientation (2-8) where browsers read it, taken *before* the image data is
    loaded: a JPEG's EXIF segment, a PNG's ``eXIf`` chunk before the image data, a TIFF's own
    tag (no browser shows TIFF; the format says to turn it). Not WebP's EXIF, XMP, or a PNG's
    text chunks, which Chromium ignores: turning what a browser does not turn would put the
    server's hash 130 bits from the browser's. None: as stored."""
    try:
        if img.format in ("JPEG", "MPO", "PNG"):
            raw = img.info.get("exif")
            if not isinstance(raw, bytes) or not raw:
                return None
            exif = Image.Exif()
            exif.load(raw)
            value = exif.get(0x0112)
        elif img.format == "TIFF":
            value = getattr(img, "tag_v2", {}).get(0x0112)
        else:
            return None
    except Exception:  # hostile EXIF: the stored pixels, as a browser would show them
        return None
    return value if isinstance(value, int) and value in _TURNS else None


def _has_alpha(img: Image.Image) -> bool:
    return ("A" in img.mode or "a" in img.mode
            or (img.mode in ("P", "L", "RGB", "1") and "transparency" in img.info))


def _on_background(rgba: np.ndarray, *, webp: bool = False) -> np.ndarray:
    """RGBA (straight alpha) composited on :data:`BACKGROUND` with a browser's arithmetic:
    premultiply — rounded as Skia's ``SkMulDiv255Round`` does, or for WebP as libwebp's
    decoder does (``x * a * 32897 >> 23``, its ``PREMULTIPLY``, which rounds down) —, then
    source-over on the background."""
    out = np.empty((*rgba.shape[:2], 3), np.uint8)
    for top in range(0, rgba.shape[0], _ROWS):
        part = rgba[top:top + _ROWS].astype(np.uint32)
        alpha = part[:, :, 3:4]
        if webp:
            premultiplied = (part[:, :, :3] * alpha * 32897) >> 23
        else:
            t = part[:, :, :3] * alpha + 128
            premultiplied = (t + (t >> 8)) >> 8
        out[top:top + _ROWS] = premultiplied + BACKGROUND * (255 - alpha) // 255
    return out
