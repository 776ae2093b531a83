"""What a piece of content is, reduced to hashes: typed by its bytes (never by a name or a
declared type), images get PDQ, videos vPDQ, everything MD5, SHA-256 and SHA-1. Report intake, the
crawler and its re-checks keep these and nothing else of what they read.

A file that cannot be decoded (broken, truncated, a decompression bomb, an unknown format) is
not an error of the caller: its digests still count, and ``error`` says what was wrong.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from vigil.matching.errors import HashingError
from vigil.matching.hashing import UNRECOGNISED, HashOptions, image_hashes_and_pixels
from vigil.matching.policy import Item, Signal
from vigil.matching.signals import PDQ_MIN_QUALITY, SignalType, VpdqHash
from vigil.matching.video import hash_video_bytes, looks_like_video


@dataclass(frozen=True)
class ContentHashes:
    sha256: str
    md5: str
    kind: str  # image | video | other
    pdq: str | None = None
    quality: int | None = None
    vpdq: str | None = None
    error: str | None = None
    #: Robust variants' PDQs by name (hashed with ``robust``), matched as variants.
    variants: dict[str, str] | None = None
    #: SHA-1 of the bytes (VICS and NCMEC lists carry it); None only for values made before.
    sha1: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @property
    def usable_pdq(self) -> str | None:
        """The PDQ hash if its quality is enough to match on (Meta's guidance: 50)."""
        return self.pdq if self.pdq and (self.quality or 0) >= PDQ_MIN_QUALITY else None

    def item(self) -> Item:
        """What the match policy matches: the digests, a usable PDQ, the vPDQ."""
        signals = [Signal(SignalType.MD5, self.md5), Signal(SignalType.SHA256, self.sha256)]
        if self.sha1:
            signals.append(Signal(SignalType.SHA1, self.sha1))
        if self.usable_pdq:
            signals.append(Signal(SignalType.PDQ, self.usable_pdq))
            signals += [Signal(SignalType.PDQ, v, name)
                        for name, v in (self.variants or {}).items() if name != "original"]
        if self.vpdq:
            signals.append(Signal(SignalType.VPDQ, VpdqHash.parse(self.vpdq)))
        return Item(tuple(signals))


#: Limits for content that arrives over the network (report uploads, the crawler): an hour of
#: video at one frame a second, two minutes of decoding, 50 megapixels a frame.
NETWORK = HashOptions(max_frames=3600, max_decode_seconds=120.0)
#: The same, with robust variants (a crawl that asks for robust matching).
ROBUST = HashOptions(max_frames=3600, max_decode_seconds=120.0, robust=True)


def hash_content(body: bytes, options: HashOptions | None = None) -> ContentHashes:
    """Hash content held in memory; never raises for a bad file (see ``error``)."""
    return hash_content_and_pixels(body, options)[0]


def hash_content_and_pixels(body: bytes, options: HashOptions | None = None
                            ) -> tuple[ContentHashes, np.ndarray | None]:
    """:func:`hash_content`, with an image's decoded pixels as hashed (H x W x 3 uint8, as
    displayed; None for anything else) for a preview made without decoding it again."""
    opts = options or NETWORK
    sha256 = hashlib.sha256(body).hexdigest()
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    sha1 = hashlib.sha1(body, usedforsecurity=False).hexdigest()
    video = looks_like_video(body[:256])
    try:
        if video:
            v = hash_video_bytes(body, opts)
            return ContentHashes(sha256, md5, "video", vpdq=v.vpdq.to_str(), sha1=sha1), None
        h, rgb = image_hashes_and_pixels(body, opts, digests=(md5, sha256, sha1))
        return ContentHashes(sha256, md5, "image", pdq=h.pdq, quality=h.quality,
                             variants=h.robust, sha1=sha1), rgb
    except HashingError as exc:
        # Typed by its bytes even when it cannot be decoded: a broken video is a video.
        kind = "video" if video else "other" if exc.message == UNRECOGNISED else "image"
        return ContentHashes(sha256, md5, kind, error=exc.message, sha1=sha1), None
    except Exception as exc:  # never lose the digests (and the report) to a hashing failure
        return ContentHashes(sha256, md5, "video" if video else "other",
                             error=f"cannot hash: {type(exc).__name__}: {exc}"[:300],
                             sha1=sha1), None
