"""Fetching a URL with limits — the re-checks and the crawler share it.

At most ``max_bytes`` are read (a larger body is abandoned, not truncated and hashed), every
read has a timeout and the whole fetch a deadline, redirects are followed only a few times
and only to http(s). ``overrides`` maps host names to addresses (tests point their test hosts
at 127.0.0.1; a deployment can pin a host). Bodies are returned to the caller, never written
anywhere."""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

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


class Resolver:
    """Host → address, with optional fixed answers."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self.overrides = {k.lower(): v for k, v in (overrides or {}).items()}

    def address(self, host: str) -> str | None:
        host = host.lower()
        if host in self.overrides:
            return self.overrides[host]
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return None
        return str(infos[0][4][0]) if infos else None


def _refuse_private(url: str, resolver: Resolver) -> str | None:
    """URLs come from the public: never fetch the Centre's own network (loopback, private,
    link-local, reserved addresses) unless the host is pinned in the overrides. (The address
    is checked before the connection; a host that changes its answer in between is a
    remaining risk, noted in decision 0007.)"""
    host = (urlsplit(url).hostname or "").lower()
    if host in resolver.overrides:
        return None
    address = resolver.address(host)
    if address is None:
        return f"cannot resolve {host}"
    ip = ipaddress.ip_address(address.split("%")[0])
    if not ip.is_global:
        return f"refused: {host} is at a non-public address ({address})"
    return None


def connect_to(url: str, resolver: Resolver) -> tuple[str, dict[str, str]]:
    """Connect to an overridden host's address, keeping its name in the Host header."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host not in resolver.overrides:
        return url, {}
    if parts.scheme != "http":
        raise Invalid(f"a fixed address for {host} works for http only")
    address = resolver.overrides[host]
    netloc = address if parts.port is None else f"{address}:{parts.port}"
    header = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), {"Host": header}


def fetch(url: str, client: httpx.Client, *, resolver: Resolver, max_bytes: int,
          timeout: float, allow_redirect: object = None) -> Fetched:
    """GET ``url``. ``allow_redirect(url) -> bool`` may refuse a redirect target."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        refused = _refuse_private(current, resolver)
        if refused:
            return Fetched(url, None, error=refused, redirects=seen)
        try:
            target, headers = connect_to(current, resolver)
            with client.stream("GET", target, headers={"User-Agent": USER_AGENT, **headers},
                               timeout=timeout) as r:
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
