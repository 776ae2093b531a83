"""What a worker does with one member of a scan: read it (if it is a file on disk), type it and
hash it with the matching core (:func:`vigil.matching.content.hash_content_and_pixels`: the
one decoding pipeline, pixel limits before decoding, never an exception for a bad file), with
SHA-1 (Project VIC's VICS keys media by MD5 and SHA-1), and make a reduced preview for the
report (of an image, from the pixels decoded for its PDQ: each file is decoded once).

Runs in a process of the local pool or on a Dask worker: the function and its arguments are
plain, picklable values, and the result is the same wherever it runs.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from vigil.matching.content import ContentHashes, hash_content_and_pixels
from vigil.matching.errors import HashingError
from vigil.matching.hashing import UNRECOGNISED, HashOptions, read_limited
from vigil.matching.previews import blurred, greyscale_from_pixels, small_greyscale
from vigil.scan.sources import Member

#: How the report shows media: ``blurred`` (the default: blur and greyscale baked into a small
#: preview's pixels, nothing to reveal), ``reveal`` (a greyscale preview shown blurred, revealed
#: one at a time, as in the review queue), ``none`` (no pictures in the report at all).
THUMBNAIL_MODES = ("blurred", "reveal", "none")
#: The longest side of a report's preview, in pixels.
THUMBNAIL_EDGE = 128


@dataclass(frozen=True)
class WorkOptions:
    hashing: HashOptions = field(default_factory=HashOptions)
    thumbnails: str = "blurred"

    def __post_init__(self) -> None:
        if self.thumbnails not in THUMBNAIL_MODES:
            raise ValueError(f"thumbnails must be one of {', '.join(THUMBNAIL_MODES)}")


@dataclass(frozen=True)
class Hashed:
    """One member, hashed (``content``), or not readable (``error`` and nothing else).
    ``content.error`` says what was wrong with a file whose digests were still taken."""

    path: str
    size: int | None = None
    content: ContentHashes | None = None
    sha1: str | None = None
    thumbnail: bytes | None = None
    error: str | None = None

    @property
    def problem(self) -> str | None:
        """The error of this member for the results: unreadable, or read but not decodable
        (bytes that are no image or video are simply of kind ``other``)."""
        if self.error:
            return self.error
        if self.content is not None and self.content.error and \
                self.content.error != UNRECOGNISED:
            return self.content.error
        return None

    def to_json(self) -> dict[str, Any]:
        """The journal's record (see :func:`from_json`)."""
        out: dict[str, Any] = {"path": self.path, "size": self.size, "sha1": self.sha1,
                               "error": self.error}
        if self.content is not None:
            out["content"] = self.content.to_json()
        if self.thumbnail is not None:
            out["thumbnail"] = base64.b64encode(self.thumbnail).decode()
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Hashed:
        content = obj.get("content")
        known = _CONTENT_FIELDS
        thumb = obj.get("thumbnail")
        return cls(obj["path"], obj.get("size"),
                   ContentHashes(**{k: v for k, v in content.items() if k in known})
                   if content else None,
                   obj.get("sha1"), None if thumb is None else base64.b64decode(thumb),
                   obj.get("error"))


#: What a journal's ``content`` may hold (a journal of an older version may hold less).
_CONTENT_FIELDS = frozenset(f.name for f in fields(ContentHashes))


def hash_member(member: Member, options: WorkOptions) -> Hashed:
    """Hash one member; never raises for bad input."""
    if member.error is not None:
        return Hashed(member.path, error=member.error)
    try:
        data = member.data if member.data is not None else \
            read_limited(Path(member.file or ""), options.hashing.max_file_bytes)
    except HashingError as exc:
        return Hashed(member.path, error=exc.message)
    try:
        content, pixels = hash_content_and_pixels(data, options.hashing)
        thumb = _thumbnail(data, pixels, content, options.thumbnails)
        del pixels
    except MemoryError:
        return Hashed(member.path, len(data), error="out of memory while hashing")
    sha1 = content.sha1 or hashlib.sha1(data, usedforsecurity=False).hexdigest()
    return Hashed(member.path, len(data), content, sha1, thumb)


def hash_batch(members: list[Member], options: WorkOptions) -> list[Hashed]:
    """:func:`hash_member` for each of ``members``: one task of the executor (the pool's
    round trip per task costs about a fifth of hashing a small picture)."""
    return [hash_member(m, options) for m in members]


def _thumbnail(data: bytes, pixels: np.ndarray | None, content: ContentHashes, mode: str
               ) -> bytes | None:
    if mode == "none" or content.kind not in ("image", "video") or content.error:
        return None
    try:
        if pixels is not None:  # an image: from the pixels decoded for its PDQ
            return greyscale_from_pixels(pixels, THUMBNAIL_EDGE, blur=mode == "blurred")
        small = small_greyscale(data, THUMBNAIL_EDGE)
        if small is None:
            return None
        return blurred(small) if mode == "blurred" else small
    except Exception:  # a preview is a courtesy: never the reason a file fails
        return None


def as_dict(options: WorkOptions) -> dict[str, Any]:
    """The options as plain values (a resumed scan must hash as the first run did)."""
    return asdict(options)
