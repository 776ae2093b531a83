"""Video hashing (vPDQ-compatible) and vPDQ comparison.

Decision (docs/dev/decisions/0003-video-hashing.md): the ``vpdq`` package only builds after
Debian's libav development packages are installed, so vigil decodes with PyAV (whose wheels
carry FFmpeg) and hashes frames with the same PDQ code as images. The output has vPDQ's format:
frames sampled every ``seconds_per_hash`` seconds (0: every frame), each with its PDQ hash,
quality, frame number and timestamp; its text form is threatexchange's
(``"<pdq>,<quality>,<timestamp>"`` in a JSON list).

Comparison follows vPDQ exactly: both sides are de-duplicated by hash and filtered by quality;
a frame *matches* when some frame of the other video is within the distance threshold; the
result is the share of matched frames in each direction.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vigil.matching.codes import pack_hex
from vigil.matching.errors import HashingError
from vigil.matching.hashing import HashOptions, read_limited
from vigil.matching.pdq import DIHEDRAL_NAMES, dihedral_variants, pdq_of
from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD, PDQ_MIN_QUALITY, VpdqFrame, VpdqHash

#: threatexchange's defaults for deciding that two videos match.
VPDQ_QUERY_MATCH_PERCENT = 80.0
VPDQ_INDEX_MATCH_PERCENT = 0.0

_VIDEO_MAGIC = (
    (4, b"ftyp"),  # MP4, MOV, 3GP
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
    (0, b"FLV"),
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
    (0, b"OggS"),
)


#: ISO-BMFF brands of still images (AVIF, HEIF/HEIC), which share MP4's container.
_IMAGE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"}


def looks_like_video(head: bytes) -> bool:
    """Sniff the first bytes for container formats vigil hashes as video."""
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return False
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47:  # MPEG transport stream
        return True
    return any(head[off : off + len(m)] == m for off, m in _VIDEO_MAGIC)


@dataclass(frozen=True)
class VideoHashes:
    md5: str
    sha256: str
    vpdq: VpdqHash
    width: int
    height: int
    duration: float | None
    format: str
    #: Robust mode: the vPDQ of the frames mirrored and turned, by dihedral variant name
    #: (``original`` left out: it is ``vpdq``).
    robust: dict[str, VpdqHash] | None = None
    #: SHA-1 of the bytes (VICS and NCMEC lists carry it).
    sha1: str = ""

    kind = "video"


def hash_video_file(path: Path | str, options: HashOptions | None = None) -> VideoHashes:
    """Hash a video file: vPDQ frames plus MD5/SHA-256 of the bytes."""
    opts = options or HashOptions()
    path = Path(path)
    return _hash_video(read_limited(path, opts.max_file_bytes), str(path), opts)


def hash_video_bytes(data: bytes, options: HashOptions | None = None) -> VideoHashes:
    """Hash a video held in memory (the crawler never writes what it downloads to disk)."""
    opts = options or HashOptions()
    if len(data) > opts.max_file_bytes:
        raise HashingError(f"file too large: more than {opts.max_file_bytes} bytes")
    return _hash_video(data, io.BytesIO(data), opts)


def _hash_video(data: bytes, source: str | io.BytesIO, opts: HashOptions) -> VideoHashes:
    if not data:
        raise HashingError("empty file (0 bytes)")
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        frames, width, height, duration, fmt, turned = _frames(source, opts)
    except HashingError:
        raise
    except av.error.FFmpegError as exc:
        raise HashingError(f"cannot decode video: {exc}") from None
    except (OSError, ValueError) as exc:
        raise HashingError(f"cannot decode video: {exc}") from None
    except MemoryError:
        raise HashingError("video too large to decode in memory") from None
    except Exception as exc:  # a decoder's own failure on hostile input, whatever its type
        raise HashingError(f"cannot decode video: {type(exc).__name__}: {exc}"[:300]) from None
    if not frames:
        raise HashingError("video has no decodable frames")
    robust = ({name: VpdqHash(tuple(fs)) for name, fs in turned.items()} if opts.robust
              else None)
    return VideoHashes(md5, sha256, VpdqHash(tuple(frames)), width, height, duration, fmt,
                       robust, hashlib.sha1(data, usedforsecurity=False).hexdigest())


def _frames(source: str | io.BytesIO, opts: HashOptions
            ) -> tuple[list[VpdqFrame], int, int, float | None, str, dict[str, list[VpdqFrame]]]:
    with av.open(source, mode="r", metadata_errors="ignore") as container:
        if not container.streams.video:
            raise HashingError("no video stream in file")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise HashingError("the video stream has no decoder (unknown or broken codec)")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > opts.max_pixels:
            raise HashingError(
                f"video frames too large: {width}x{height} exceeds the limit of "
                f"{opts.max_pixels} pixels"
            )
        duration = (float(stream.duration * stream.time_base)
                    if stream.duration and stream.time_base else None)
        rate = float(stream.average_rate) if stream.average_rate else 25.0
        # vPDQ samples every round(fps * seconds_per_hash)-th frame.
        every = max(1, round(rate * opts.seconds_per_hash))
        frames: list[VpdqFrame] = []
        # Robust mode: every sampled frame mirrored and turned too (a video re-encoded
        # sideways or mirrored, without a display matrix to say so).
        turned: dict[str, list[VpdqFrame]] = {n: [] for n in DIHEDRAL_NAMES[1:]}
        turns = 0
        deadline = time.monotonic() + opts.max_decode_seconds
        for number, frame in enumerate(container.decode(stream)):
            # Every decoded frame is checked, sampled or not: a stream may change its size.
            if frame.width * frame.height > opts.max_pixels:
                raise HashingError(f"video frame {number} too large: {frame.width}x{frame.height}")
            if time.monotonic() > deadline:
                raise HashingError(f"video takes longer than {opts.max_decode_seconds:g} s to "
                                   "decode")
            if number % every:
                continue
            if number == 0:
                turns = _quarter_turns(frame.rotation)
            rgb = displayed_frame(frame.to_ndarray(format="rgb24"), frame.rotation)
            pdq, quality = pdq_of(rgb)
            ts = float(frame.time) if frame.time is not None else number / rate
            frames.append(VpdqFrame(pdq, quality, round(ts, 3), number))
            if opts.robust:
                for name, v in zip(DIHEDRAL_NAMES[1:], dihedral_variants(rgb)[1:], strict=True):
                    pdq, q = pdq_of(v)
                    turned[name].append(VpdqFrame(pdq, q, round(ts, 3), number))
            if len(frames) >= opts.max_frames:
                break
        if turns % 2:
            width, height = height, width  # as displayed
        return frames, width, height, duration, container.format.name, turned


def _quarter_turns(rotation: float | int | None) -> int:
    return round((rotation or 0) / 90) % 4


def displayed_frame(rgb: np.ndarray, rotation: float | int | None) -> np.ndarray:
    """A decoded frame as players show it: turned by the container's display matrix
    (``rotation``: degrees counter-clockwise, FFmpeg's ``av_display_rotation_get``, the
    way ``ffmpeg`` and phones' players apply it), so that a phone's portrait video hashes
    like the same video stored upright. Quarter turns only; a mirroring matrix is not
    applied."""
    turns = _quarter_turns(rotation)
    return np.rot90(rgb, turns) if turns else rgb


@dataclass(frozen=True)
class VpdqMatch:
    """Share (0-100) of the query's frames found in the target, and of the target's in the
    query, after de-duplication and the quality filter."""

    query_match_percent: float
    target_match_percent: float

    def is_match(self, query_percent: float = VPDQ_QUERY_MATCH_PERCENT,
                 target_percent: float = VPDQ_INDEX_MATCH_PERCENT) -> bool:
        return (self.query_match_percent >= query_percent
                and self.target_match_percent >= target_percent)


def _usable(frames: tuple[VpdqFrame, ...], quality: int) -> list[str]:
    seen: set[str] = set()
    out = []
    for f in frames:
        if f.pdq not in seen:
            seen.add(f.pdq)
            if f.quality >= quality:
                out.append(f.pdq)
    return out


def usable_frames(video: VpdqHash, quality: int = PDQ_MIN_QUALITY) -> list[str]:
    """The frames vPDQ compares: distinct hashes of frames good enough to match on."""
    return _usable(video.frames, quality)


def vpdq_compare(query: VpdqHash, target: VpdqHash, *,
                 distance: int = PDQ_DEFAULT_THRESHOLD,
                 quality: int = PDQ_MIN_QUALITY) -> VpdqMatch:
    """vPDQ's brute-force comparison (same semantics as threatexchange's
    ``match_VPDQ_hash_brute``). A side with no usable frame scores 0."""
    q = _usable(query.frames, quality)
    t = _usable(target.frames, quality)
    if not q or not t:
        return VpdqMatch(0.0, 0.0)
    qc, tc = pack_hex(q), pack_hex(t)
    q_hit = np.zeros(len(q), bool)
    t_hit = np.zeros(len(t), bool)
    # Blocks of query frames keep memory bounded (~32 MB) however long the videos are.
    block = max(1, (1 << 20) // len(t))
    for start in range(0, len(q), block):
        dist = np.bitwise_count(qc[start : start + block, None, :] ^ tc[None, :, :]).sum(axis=-1)
        close = dist <= distance
        q_hit[start : start + block] = close.any(axis=1)
        t_hit |= close.any(axis=0)
    return VpdqMatch(float(q_hit.sum() * 100 / len(q)), float(t_hit.sum() * 100 / len(t)))
