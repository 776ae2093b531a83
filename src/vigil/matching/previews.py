"""Previews: never the original (the review queue's, and ``vigil scan``'s report's). A file
is decoded with the hashing pipeline's limits (so a decompression bomb is refused here too),
reduced to at most ``max_edge`` pixels on its longest side and re-encoded as a plain JPEG
without metadata. Videos give one frame.
The browser then shows it blurred and in greyscale until the reviewer reveals it.
:func:`blurred` bakes the blur and the greyscale into the pixels, for files that travel."""

from __future__ import annotations

import io

import av
import numpy as np
from PIL import Image, ImageFilter, ImageOps

from vigil.matching._preview_kernel import block_luma
from vigil.matching.errors import HashingError
from vigil.matching.hashing import decode_rgb
from vigil.matching.video import looks_like_video

#: Far below the hashing limit: a preview decodes on the server, for every file of a page.
MAX_PIXELS = 12_000_000


def _thumbnail(img: Image.Image, max_edge: int) -> bytes:
    img = img.convert("RGB")
    img.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()


def _video_frame(data: bytes) -> Image.Image | None:
    """The first frame, within the same pixel limit as images (checked on the stream's declared
    size before anything is decoded, and on the frame)."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                return None
            ctx = container.streams.video[0].codec_context
            if ctx is None or ctx.width * ctx.height > MAX_PIXELS:
                return None
            for frame in container.decode(video=0):
                if frame.width * frame.height > MAX_PIXELS:
                    return None
                image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
                return image
    except Exception:  # a decoder's failure on hostile input: no preview, never a 500
        return None
    return None


def preview(data: bytes, max_edge: int) -> bytes | None:
    """A small JPEG of an image or of a video's first frame; None if there is none to make."""
    if looks_like_video(data[:256]):
        frame = _video_frame(data)
        return _thumbnail(frame, max_edge) if frame is not None else None
    try:
        rgb, _ = decode_rgb(data, MAX_PIXELS)
    except HashingError:
        return None
    return _thumbnail(Image.fromarray(rgb), max_edge)


def small_greyscale(data: bytes, max_edge: int) -> bytes | None:
    """A small greyscale JPEG preview made fast, for previews by the thousand (``vigil scan``'s
    report): a JPEG is decoded at a reduced scale (its DCT does the shrinking), the EXIF
    orientation applied, the pixel limit checked before decoding. Videos give their first
    frame (:func:`preview`). None if there is none to make."""
    if looks_like_video(data[:256]):
        small = preview(data, max_edge)
        return greyscale(small) if small is not None else None
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                return None
            img.draft("L", (max_edge, max_edge))  # a JPEG: only luma, at 1/2-1/8 scale
            return _small_jpeg(ImageOps.exif_transpose(img.convert("L")), max_edge, blur=False)
    except Exception:  # a decoder's failure on hostile input: no preview
        return None


def greyscale_from_pixels(rgb: np.ndarray, max_edge: int, *, blur: bool) -> bytes:
    """A small greyscale JPEG (longest side at most ``max_edge``) from a picture already
    decoded (H x W x 3 uint8, as displayed: :func:`vigil.matching.content.hash_content_and_pixels`),
    so a scan decodes each file once, at any size the hashing limits allow (not only up to
    :data:`MAX_PIXELS`: the pixels are decoded already). ``blur``: as :func:`blurred` makes it
    (the blur in the pixels, :func:`blur_radius`); else plain, as :func:`small_greyscale`."""
    h, w = rgb.shape[:2]
    # The mean luma of blocks, to between one and two times the preview's size (an area
    # reduction in one pass: no aliasing), then a filtered reduction to the size.
    step = max(1, max(h, w) // max_edge)
    return _small_jpeg(Image.fromarray(block_luma(np.ascontiguousarray(rgb), step), "L"),
                       max_edge, blur=blur)


def _small_jpeg(grey: Image.Image, max_edge: int, *, blur: bool) -> bytes:
    """A greyscale picture reduced to at most ``max_edge`` (Pillow's reducing thumbnail,
    bilinear), blurred or not, as the JPEG of a scan's report."""
    grey.thumbnail((max_edge, max_edge), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if blur:
        grey = grey.filter(ImageFilter.GaussianBlur(blur_radius(grey.size)))
    out = io.BytesIO()
    grey.save(out, format="JPEG", quality=70 if blur else 80)
    return out.getvalue()


#: The least blur radius, in pixels: a tiny picture (an icon) is blurred by more than a tenth.
MIN_BLUR_RADIUS = 2.0


def blur_radius(size: tuple[int, int]) -> float:
    """The Gaussian blur radius of a blurred preview of ``size`` (W, H) pixels: a tenth of the
    longest side, at least :data:`MIN_BLUR_RADIUS`."""
    return max(max(size) / 10, MIN_BLUR_RADIUS)


def blurred(jpeg: bytes, radius: float | None = None) -> bytes:
    """A preview with the blur and the greyscale in its pixels (not only in a page's style):
    what is left shows tones and layout, not what the picture shows. ``radius``: the Gaussian
    blur's, in pixels (default :func:`blur_radius`)."""
    img = Image.open(io.BytesIO(jpeg)).convert("L")
    r = radius if radius is not None else blur_radius(img.size)
    out = io.BytesIO()
    img.filter(ImageFilter.GaussianBlur(r)).save(out, format="JPEG", quality=70)
    return out.getvalue()


def greyscale(jpeg: bytes) -> bytes:
    """A preview in greyscale only (its colour never leaves in the file)."""
    img = Image.open(io.BytesIO(jpeg)).convert("L")
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()
