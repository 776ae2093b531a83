"""Fetching a URL with limits — the re-checks and the crawler share it.

At most ``max_bytes`` are read (a larger body is abandoned, not truncated and hashed), every
read has a timeout and the whole fetch a deadline, redirects are followed only a few times
and only to http(s). Every hop — the URL and each redirect — goes through the egress policy
(:mod:`vigil.egress`): public addresses only unless pinned, connecting to the address that was
checked. Bodies are returned to the caller, never written anywhere."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from vigil.egress import EgressPolicy, EgressRefused
from vigil.errors import Invalid
from vigil.takedown.urls import normalise

USER_AGENT = "vigil-takedown/0.1 (+https://github.com/; notice-and-takedown re-checks)"
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int | None
    content_type: str = ""
    body: bytes | None = None
    error: str | None = None
    redirects: list[str] = field(default_factory=list)

    @property
    def gone(self) -> bool:
        return self.status in (404, 410)


def fetch(url: str, client: httpx.Client, *, policy: EgressPolicy, max_bytes: int,
          timeout: float, allow_redirect: object = None) -> Fetched:
    """GET ``url``. ``allow_redirect(url) -> bool`` may refuse a redirect target."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            target = policy.target(current)
        except EgressRefused as exc:
            return Fetched(url, None, error=exc.message, redirects=seen)
        try:
            with client.stream("GET", target.url, headers={"User-Agent": USER_AGENT, **target.headers},
                               extensions=target.extensions, timeout=timeout) as r:
                if r.is_redirect and "location" in r.headers:
                    try:
                        nxt = normalise(r.headers["location"], base=current)
                    except Invalid as exc:
                        return Fetched(url, r.status_code, error=f"bad redirect: {exc.message}")
                    if callable(allow_redirect) and not allow_redirect(nxt):
                        return Fetched(url, r.status_code, error=f"redirect outside scope: {nxt}",
                                       redirects=seen)
                    seen.append(nxt)
                    current = nxt
                    continue
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    return Fetched(url, r.status_code, r.headers.get("content-type", ""),
                                   error=f"larger than {max_bytes} bytes", redirects=seen)
                chunks, size = [], 0
                for chunk in r.iter_bytes(65536):
                    size += len(chunk)
                    if size > max_bytes:
                        return Fetched(url, r.status_code, r.headers.get("content-type", ""),
                                       error=f"larger than {max_bytes} bytes", redirects=seen)
                    if time.monotonic() > deadline:
                        return Fetched(url, r.status_code, error=f"slower than {timeout} s",
                                       redirects=seen)
                    chunks.append(chunk)
                return Fetched(url, r.status_code, r.headers.get("content-type", ""),
                               b"".join(chunks), redirects=seen)
        except httpx.TimeoutException:
            return Fetched(url, None, error=f"timed out after {timeout} s", redirects=seen)
        except (httpx.HTTPError, OSError, Invalid) as exc:
            return Fetched(url, None, error=f"{type(exc).__name__}: {exc}"[:300], redirects=seen)
    return Fetched(url, None, error=f"more than {MAX_REDIRECTS} redirects", redirects=seen)


def make_client() -> httpx.Client:
    # No environment proxies: re-checks go to the host itself.
    return httpx.Client(follow_redirects=False, trust_env=False,
                        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10))
