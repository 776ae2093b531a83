"""FastAPI dependencies shared by every router: the caller's identity and scope, and the
request's unit of work.

``require(scope)`` is the only way a route gets a principal, and marks the route with its
scope so that a test can walk every route and check that none is left undeclared. Routes take
the principal through one typed alias per scope (``actor: MatchKey``). The key is read through
FastAPI's ``HTTPBearer`` so that the API description declares the bearer scheme on every keyed
operation; it never answers by itself (``auto_error=False``): a missing or unknown key is the
app's own 401, raised by :func:`vigil.orgs.service.authenticate`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from vigil.db import transaction
from vigil.orgs.access import Principal, Scope
from vigil.orgs.service import authenticate

#: Routes anyone may call (no key): health, metrics, the log's public key, the API description,
#: and the workspace's sign-in and sign-out (which checks the session it ends itself).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/log/key", "/v1/log/keys",
                          "/openapi.json", "/docs", "/redoc", "/", "/app/login", "/app/logout",
                          # The second step of a sign-in: the waiting session checks itself.
                          "/app/login/code", "/app/login/enrol",
                          # URL reports from the public: no account, rate-limited per address.
                          "/v1/public/url-reports", "/report",
                          # The reporting channel: what happened, and who to talk to now.
                          "/report/help", "/report/url",
                          # Victim cases: no account; the case number and PIN are the key.
                          "/v1/public/victim-cases", "/v1/public/victim-cases/status",
                          "/v1/public/victim-cases/hashes", "/v1/public/victim-cases/withdraw",
                          "/help/remove", "/help/case",
                          # Complaints about wrongful removal: no account; id and token.
                          "/v1/public/complaints", "/v1/public/complaints/status",
                          "/help/complaint", "/help/complaint/status",
                          # A webhook partner's status update: its signature, made with the
                          # secret the Centre registered for that hotline, is the credential.
                          "/v1/referrals/{referral_id}/status",
                          # The prevention hub: published entries are open data.
                          "/v1/prevention/programmes", "/v1/prevention/resources",
                          "/v1/prevention/working-groups", "/v1/prevention/entries/{entry_id}",
                          "/v1/prevention/helplines", "/v1/prevention/feed.atom",
                          "/prevention", "/prevention/entries/{entry_id}", "/prevention/ecris",
                          "/prevention/feed.atom"})


#: The bearer scheme of the API description. It only reads the header: with ``auto_error`` off a
#: missing or malformed header gives ``None``, and :func:`require` answers with the app's 401.
_BEARER = HTTPBearer(auto_error=False, scheme_name="ApiKey", bearerFormat="vgl_...",
                     description="An organisation's API key: `Authorization: Bearer vgl_...`.")


def require(scope: Scope) -> Any:
    """A dependency: authenticate the bearer key, then check it holds ``scope``."""

    def dependency(request: Request,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
                   ) -> Principal:
        state = request.app.state.vigil
        token = credentials.credentials if credentials is not None else None
        principal: Principal = state.principals.get(token, state.read_session)
        if state.key_limits is not None:
            state.key_limits.check(f"key:{principal.key_id}", "requests for this key")
        principal.require(scope)
        request.state.principal = principal
        return principal

    dependency.__vigil_scope__ = scope  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{scope.value.replace(':', '_')}"
    return Depends(dependency)


#: The principal of a route, by the scope the route requires: ``actor: MatchKey``.
OrgsManageKey = Annotated[Principal, require(Scope.ORGS_MANAGE)]
ListsManageKey = Annotated[Principal, require(Scope.LISTS_MANAGE)]
IndicatorsProposeKey = Annotated[Principal, require(Scope.INDICATORS_PROPOSE)]
IndicatorsReviewKey = Annotated[Principal, require(Scope.INDICATORS_REVIEW)]
IndicatorsReadKey = Annotated[Principal, require(Scope.INDICATORS_READ)]
ListsDownloadKey = Annotated[Principal, require(Scope.LISTS_DOWNLOAD)]
MatchKey = Annotated[Principal, require(Scope.MATCH)]
LogReadKey = Annotated[Principal, require(Scope.LOG_READ)]
AuditReadKey = Annotated[Principal, require(Scope.AUDIT_READ)]
ReportsSubmitKey = Annotated[Principal, require(Scope.REPORTS_SUBMIT)]
ReportsReceiveKey = Annotated[Principal, require(Scope.REPORTS_RECEIVE)]
ReportsReviewKey = Annotated[Principal, require(Scope.REPORTS_REVIEW)]
StatsReadKey = Annotated[Principal, require(Scope.STATS_READ)]
TakedownManageKey = Annotated[Principal, require(Scope.TAKEDOWN_MANAGE)]
OrgsApproveKey = Annotated[Principal, require(Scope.ORGS_APPROVE)]
ReferralsSubmitKey = Annotated[Principal, require(Scope.REFERRALS_SUBMIT)]
SeriesLinkKey = Annotated[Principal, require(Scope.SERIES_LINK)]
PreventionProposeKey = Annotated[Principal, require(Scope.PREVENTION_PROPOSE)]
PreventionReviewKey = Annotated[Principal, require(Scope.PREVENTION_REVIEW)]


class PrincipalCache:
    """Authenticated keys, remembered for ``ttl`` seconds per worker: saves a database round
    trip per request. A revoked key therefore stops working within ``ttl`` seconds (default 1)
    in every worker; failures are never cached."""

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, token: str | None, factory: sessionmaker[Session]) -> Principal:
        digest = hashlib.sha256(token.encode()).hexdigest() if token else ""
        hit = self._entries.get(digest) if token else None
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        with factory() as session:
            principal = authenticate(session, token)
        if token and self.ttl > 0:
            with self._lock:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                self._entries[digest] = (time.monotonic() + self.ttl, principal)
        return principal


def route_scope(call: Callable[..., Any]) -> Scope | None:
    return getattr(call, "__vigil_scope__", None)


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    with transaction(request.app.state.vigil.session) as session:
        yield session


#: The largest id of an ``INTEGER`` column on PostgreSQL. Ids and paging cursors from a
#: request that are compared with such a column are bounded by it, so that a huge number is a
#: 422, not a database error.
MAX_DB_ID = 2**31 - 1

#: A database id in a path.
DbId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]


def client_address(request: Request) -> str:
    """The address limits per client are keyed by: the socket's peer (or the client's address
    passed by a proxy named in ``VIGIL_TRUSTED_PROXIES``). An IPv6 client is keyed by its /64
    network — one subscriber line usually holds a whole /64, so a per-address limit would be
    no limit at all."""
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:  # no address (a proxy passed something else): one client, all of them
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
