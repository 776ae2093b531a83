"""threatexchange's HTTP clients (``requests``) behind vigil's egress policy.

The programmes' clients in ``threatexchange`` build their own ``requests`` sessions (and its
ThreatExchange client calls ``requests.get`` directly, outside its session). vigil's subclasses
(:mod:`vigil.exchange.programmes`) hand them a session from :func:`egress_session` instead, so
that every connection a programme import makes

* goes only to the programme's own host (from the settings, never from a caller; a paging link
  or a redirect to any other host is refused),
* is checked by the one egress policy (:class:`vigil.egress.EgressPolicy`: public addresses
  only, unless pinned) *after* DNS resolution, and connected to the checked address: urllib3's
  connection resolves through the policy instead of the system resolver, while TLS still
  verifies the certificate for the name,
* reads at most ``max_bytes`` of a response before anything parses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import dacite
import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_errors
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from vigil.egress import EgressPolicy, EgressRefused

#: GETs are retried like threatexchange's own clients do (429 and 5xx, ~1.5 s of back-off).
RETRY = Retry(total=4, status_forcelist=[429, 500, 502, 503, 504],
              allowed_methods=["HEAD", "GET", "OPTIONS"], backoff_factor=0.2)


class ResponseTooLarge(requests.RequestException):
    """A response over the size limit; nothing of it was parsed."""


def _pools(policy: EgressPolicy) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools whose connections resolve through ``policy``."""

    class Connection(HTTPConnection):
        def _new_conn(self) -> Any:
            # The address the policy checked, not what the resolver says a moment later.
            self._dns_host = policy.address_for(self.host)
            return super()._new_conn()

    class SecureConnection(HTTPSConnection):
        def _new_conn(self) -> Any:
            self._dns_host = policy.address_for(self.host)
            return super()._new_conn()

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    return {"http": Pool, "https": SecurePool}


class EgressAdapter(HTTPAdapter):
    """A ``requests`` transport that connects only through the egress policy, only to
    ``hosts``, and reads at most ``max_bytes`` of each response."""

    def __init__(self, policy: EgressPolicy, hosts: Iterable[str], *, max_bytes: int,
                 timeout: float = 60.0) -> None:
        self.policy = policy
        self.hosts = frozenset(h.lower() for h in hosts)
        self.max_bytes = max_bytes
        self.timeout = timeout
        super().__init__(max_retries=RETRY)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _pools(self.policy)

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: Any = True, cert: Any = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        parts = urlsplit(request.url or "")
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https"):
            raise EgressRefused(f"only http and https URLs, not {parts.scheme or 'none'!r}")
        if host not in self.hosts:
            raise EgressRefused(f"refused: {host or 'no host'} is not the programme's host "
                                f"({', '.join(sorted(self.hosts))})")
        self.policy.address_for(host)  # refused before any connection is attempted
        response = super().send(request, stream=True, timeout=timeout or self.timeout,
                                verify=verify, cert=cert, proxies=None)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response.close()
            raise ResponseTooLarge(f"{host} answered with {declared} bytes, more than the "
                                   f"{self.max_bytes} allowed")
        try:
            body = response.raw.read(self.max_bytes + 1, decode_content=True)
        except urllib3_errors.HTTPError as exc:  # a drop, a time-out or TLS failure mid-body
            raise requests.ConnectionError(f"{host}: the answer broke off: "
                                           f"{type(exc).__name__}: {exc}") from None
        finally:
            response.close()
        if len(body) > self.max_bytes:
            raise ResponseTooLarge(f"{host} answered with more than the {self.max_bytes} "
                                   "bytes allowed")
        response._content = body
        response._content_consumed = True
        return response


def egress_session(policy: EgressPolicy, base_url: str, *, max_bytes: int,
                   headers: Mapping[str, str] | None = None,
                   auth: tuple[str, str] | None = None) -> requests.Session:
    """A ``requests`` session that reaches only ``base_url``'s host, through ``policy``. It
    ignores proxy settings of the environment (``trust_env`` off) and follows no redirect to
    another host (the adapter refuses it)."""
    host = urlsplit(base_url).hostname
    if not host:
        raise EgressRefused(f"not a URL with a host: {base_url!r}")
    session = requests.Session()
    session.trust_env = False
    adapter = EgressAdapter(policy, [host], max_bytes=max_bytes)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if headers:
        session.headers.update(headers)
    if auth:
        session.auth = auth
    return session


#: What a page the programme *answered* but that cannot be read raises: text that does not
#: parse (JSON and Unicode errors are ValueErrors — requests' JSON error too —, XML's are
#: SyntaxErrors), a body over the size limit, a structure the library's or vigil's parsing
#: does not find where it looks (KeyError, TypeError, IndexError, AttributeError, dacite).
ANSWERED_UNREADABLE = (ResponseTooLarge, ValueError, SyntaxError, KeyError, TypeError,
                       IndexError, AttributeError, dacite.DaciteError)


def unreadable(exc: BaseException) -> bool:
    """Whether a failed page was *answered* but cannot be read — what stepping past is for —
    rather than not delivered: anything else (a connection failure or drop, a time-out, a TLS
    error, an HTTP error after the retries, the egress policy's refusal, a name that does not
    resolve, a library's own assertion) is the programme's, the network's or vigil's state,
    retried by the next run and never stepped past. An allow list, so that a failure nobody
    thought of is retried rather than skipped."""
    if isinstance(exc, requests.RequestException) and not isinstance(
            exc, (ResponseTooLarge, requests.exceptions.InvalidJSONError)):
        return False  # connection, time-out, HTTP status, retries: not delivered
    return isinstance(exc, ANSWERED_UNREADABLE)
