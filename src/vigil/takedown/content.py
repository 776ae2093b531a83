"""What a URL serves, reduced to hashes: the crawler and the re-checks keep these and nothing
else. Matching against the active lists honours allow lists exactly as ``POST /v1/match``."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from vigil.indicators.matcher import Hit, LiveMatcher
from vigil.matching.errors import HashingError
from vigil.matching.hashing import HashOptions, hash_image_bytes
from vigil.matching.signals import SignalType, VpdqHash
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

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def hash_content(body: bytes, options: HashOptions | None = None) -> ContentHashes:
    opts = options or HashOptions()
    sha256 = hashlib.sha256(body).hexdigest()
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    try:
        if looks_like_video(body[:256]):
            v = hash_video_bytes(body, opts)
            return ContentHashes(sha256, md5, "video", vpdq=v.vpdq.to_str())
        h = hash_image_bytes(body, opts)
        return ContentHashes(sha256, md5, "image", pdq=h.pdq, quality=h.quality)
    except HashingError as exc:
        return ContentHashes(sha256, md5, "other", error=exc.message)


def block_hits(matcher: LiveMatcher, content: ContentHashes) -> list[Hit]:
    """Hits on block lists; none if an allow list (benign look-alikes) matches too."""
    return block_hits_batch(matcher, [content])[0]


def block_hits_batch(matcher: LiveMatcher, contents: list[ContentHashes]) -> list[list[Hit]]:
    """:func:`block_hits` for many contents, with one batch query of the PDQ index."""
    usable = [i for i, c in enumerate(contents) if c.pdq and (c.quality or 0) >= 50]
    pdq_hits = dict(zip(usable, matcher.match_pdq([contents[i].pdq or "" for i in usable]),
                        strict=True)) if usable else {}
    return [_block(matcher, c, pdq_hits.get(i, [])) for i, c in enumerate(contents)]


def _block(matcher: LiveMatcher, content: ContentHashes, pdq_hits: list[Hit]) -> list[Hit]:
    hits: list[Hit] = list(pdq_hits)
    hits += matcher.match_digest(SignalType.MD5, content.md5)
    hits += matcher.match_digest(SignalType.SHA256, content.sha256)
    if content.vpdq:
        hits += matcher.match_vpdq(VpdqHash.parse(content.vpdq))
    if any(h.list_kind == "allow" for h in hits):
        return []
    seen: set[int] = set()
    out = []
    for h in hits:
        if h.list_kind == "block" and h.indicator_id not in seen:
            seen.add(h.indicator_id)
            out.append(h)
    return out
