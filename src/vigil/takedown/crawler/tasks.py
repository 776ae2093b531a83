"""The work a crawl hands out: fetch a page and list its links, or fetch a media file and hash
it. Plain functions of picklable arguments, so that a local process pool and a Dask cluster run
exactly the same code. A media file's bytes never leave the task: it returns hashes only."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

from vigil.egress import EgressPolicy
from vigil.errors import Invalid
from vigil.matching.content import ROBUST, ContentHashes, hash_content
from vigil.takedown.fetch import Fetched, fetch, make_client
from vigil.takedown.urls import host_of, in_domains, normalise

MEDIA_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif",
                    ".heic", ".mp4", ".webm", ".mkv", ".mov", ".avi", ".ts", ".m4v")


@dataclass(frozen=True)
class TaskOptions:
    allowed_domains: tuple[str, ...]
    max_bytes: int
    timeout: float
    #: The egress policy (picklable: it travels to the pool's processes and to Dask workers).
    policy: EgressPolicy = field(default_factory=EgressPolicy)
    max_page_bytes: int = 5 * 1024 * 1024
    #: Hash images with their robust variants too.
    robust: bool = False


@dataclass(frozen=True)
class PageResult:
    url: str
    status: int | None
    pages: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class MediaResult:
    url: str
    status: int | None
    content: ContentHashes | None = None
    size: int = 0
    error: str | None = None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pages: list[str] = []
        self.media: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v for k, v in attrs if v}
        if tag == "a" and "href" in a:
            href = a["href"]
            (self.media if href.split("?")[0].lower().endswith(MEDIA_EXTENSIONS) else self.pages).append(href)
        elif tag in ("img", "video", "source", "audio", "embed"):
            if "src" in a:
                self.media.append(a["src"])
            for candidate in a.get("srcset", "").split(","):
                if candidate.strip():
                    self.media.append(candidate.strip().split()[0])
        elif tag in ("frame", "iframe") and "src" in a:
            self.pages.append(a["src"])


def links(html: str, base: str, allowed: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Same-scope page and media links of a page, normalised, in order, without repeats."""
    parser = _Links()
    with contextlib.suppress(Exception):  # malformed markup: keep what was parsed
        parser.feed(html)

    def keep(items: list[str]) -> list[str]:
        out: list[str] = []
        for item in items:
            try:
                url = normalise(item, base=base)
            except Invalid:
                continue
            if in_domains(host_of(url), list(allowed)) and url not in out:
                out.append(url)
        return out

    return keep(parser.pages), keep(parser.media)


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    global _client  # one keep-alive client per worker process
    if _client is None:
        _client = make_client()
    return _client


def _get(url: str, opts: TaskOptions, max_bytes: int) -> Fetched:
    return fetch(url, _http(), policy=opts.policy, max_bytes=max_bytes,
                 timeout=opts.timeout,
                 allow_redirect=lambda u: in_domains(host_of(u), list(opts.allowed_domains)))


def fetch_page(url: str, opts: TaskOptions) -> PageResult:
    got = _get(url, opts, opts.max_page_bytes)
    if got.body is None or got.status != 200:
        return PageResult(url, got.status, error=got.error or f"HTTP {got.status}")
    if "html" not in got.content_type.lower():
        return PageResult(url, got.status, error=f"not HTML ({got.content_type or 'no type'})")
    final = got.redirects[-1] if got.redirects else url
    pages, media = links(got.body.decode("utf-8", "replace"), final, opts.allowed_domains)
    return PageResult(url, got.status, pages, media)


def fetch_media(url: str, opts: TaskOptions) -> MediaResult:
    got = _get(url, opts, opts.max_bytes)
    if got.body is None or got.status != 200:
        return MediaResult(url, got.status, error=got.error or f"HTTP {got.status}")
    size = len(got.body)
    content = hash_content(got.body, ROBUST if opts.robust else None)
    del got  # the bytes go no further than this function
    return MediaResult(url, 200, content, size)


def fetch_batch(kind: str, urls: list[str], opts: TaskOptions) -> list[PageResult] | list[MediaResult]:
    """Several URLs of one kind in one task (fewer round trips to the pool)."""
    if kind == "page":
        return [fetch_page(u, opts) for u in urls]
    return [fetch_media(u, opts) for u in urls]
