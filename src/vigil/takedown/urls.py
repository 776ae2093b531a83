"""URLs as the takedown flow handles them: only http(s), normalised (lower-case host, no
fragment, default port dropped) so that the same resource is one URL, with a bounded length."""

from __future__ import annotations

import hashlib
from urllib.parse import urljoin, urlsplit, urlunsplit

from vigil.errors import Invalid

MAX_URL = 2048


def normalise(url: str, base: str | None = None) -> str:
    """The canonical form of ``url`` (resolved against ``base``); raises :class:`Invalid`."""
    raw = (url or "").strip()
    if base is not None:
        raw = urljoin(base, raw)
    if len(raw) > MAX_URL:
        raise Invalid(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise Invalid(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise Invalid(f"only http and https URLs can be reported, not {parts.scheme or 'none'!r}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise Invalid("the URL has no host")
    scheme = parts.scheme.lower()
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        netloc = f"[{host}]" + netloc[len(host):]
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def in_domains(host: str, domains: list[str]) -> bool:
    """True if ``host`` is one of ``domains`` or a subdomain of one."""
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in (x.lower().strip(".") for x in domains))
