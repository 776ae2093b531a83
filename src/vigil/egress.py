"""The one egress policy: where vigil may connect.

Every outbound connection — crawler fetches and re-checks (and each redirect), notice, hand-off
and provider webhooks, SMTP, a Dask scheduler, and the partner exchanges later issues add —
asks :class:`EgressPolicy` first. The rule: **public addresses only**, unless the host is
pinned in the settings — ``VIGIL_RESOLVER_OVERRIDES`` (a fixed address for a host name: tests
point their hosts at loopback, a deployment its relays) or ``VIGIL_EGRESS_ALLOW`` (host names or
networks of the Centre's own services that may be private: its SMTP relay, its Dask scheduler).

The check is made on the addresses the name resolves to *now*, and the connection then goes to
the checked address (with the name in the ``Host`` header and in TLS's SNI, so certificates are
still verified for the name): a name that answers differently a moment later (DNS rebinding)
cannot move the connection. Destinations come from the settings or from data the Centre wrote,
never from an API caller.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


class EgressRefused(Exception):
    """A connection the policy does not allow; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Target:
    """Where to connect for a URL: ``url`` with the checked address in place of the name,
    ``headers`` (``Host``) and ``extensions`` (httpx's ``sni_hostname``) keep the name."""

    url: str
    host: str
    address: str
    headers: dict[str, str]
    extensions: dict[str, str]


@dataclass(frozen=True)
class EgressPolicy:
    #: host name → fixed address (pinned).
    overrides: tuple[tuple[str, str], ...] = ()
    #: host names and networks allowed even at non-public addresses (pinned).
    allow: tuple[str, ...] = ()

    @classmethod
    def of(cls, overrides: dict[str, str] | None = None, allow: Iterable[str] = ()) -> EgressPolicy:
        return cls(tuple(sorted((k.lower(), v) for k, v in (overrides or {}).items())),
                   tuple(sorted(a.strip().lower() for a in allow if a.strip())))

    @property
    def fixed(self) -> dict[str, str]:
        return dict(self.overrides)

    def addresses(self, host: str) -> list[str]:
        """Every address ``host`` resolves to (its fixed one when pinned); [] when unknown."""
        host = host.lower().strip("[]")
        if host in self.fixed:
            return [self.fixed[host]]
        try:
            ipaddress.ip_address(host)
            return [host]
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return []
        return list(dict.fromkeys(str(i[4][0]).split("%")[0] for i in infos))

    def _pinned(self, host: str, address: str) -> bool:
        if host in self.fixed or host in self.allow:
            return True
        ip = ipaddress.ip_address(address)
        for entry in self.allow:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def address_for(self, host: str) -> str:
        """The address to connect to for ``host``; raises :class:`EgressRefused` when it has
        none or any of its addresses is not public and the host is not pinned."""
        host = host.lower().strip("[]")
        if not host:
            raise EgressRefused("no host to connect to")
        found = self.addresses(host)
        if not found:
            raise EgressRefused(f"cannot resolve {host}")
        for address in found:
            if not ipaddress.ip_address(address).is_global and not self._pinned(host, address):
                raise EgressRefused(f"refused: {host} is at a non-public address ({address}); "
                                    "only hosts pinned in the settings may be")
        return found[0]

    def target(self, url: str) -> Target:
        """Check ``url`` (http or https only) and say where to connect."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise EgressRefused(f"only http and https URLs, not {parts.scheme or 'none'!r}")
        host = (parts.hostname or "").lower()
        address = self.address_for(host)
        shown = f"[{address}]" if ":" in address else address
        netloc = shown if parts.port is None else f"{shown}:{parts.port}"
        header = host if parts.port is None else f"{host}:{parts.port}"
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        return Target(urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
                      host, address, {"Host": header}, extensions)

    def check_endpoint(self, where: str) -> str:
        """A ``host:port`` or ``tcp://host:port`` endpoint (SMTP, Dask): returns the checked
        address."""
        rest = where.split("://", 1)[-1]
        host = rest.rsplit(":", 1)[0] if rest.count(":") == 1 or rest.startswith("[") else rest
        return self.address_for(host.strip("[]"))
