"""FastAPI dependencies shared by every router: the caller's identity and scope, and the
request's unit of work.

``require(scope)`` is the only way a route gets a principal, and marks the route with its
scope so that a test can walk every route and check that none is left undeclared.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session, sessionmaker

from vigil.db import transaction
from vigil.orgs.access import Principal, Scope
from vigil.orgs.service import authenticate

#: Routes anyone may call (no key): health, metrics, the log's public key, the API description,
#: and the workspace's sign-in and sign-out (which checks the session it ends itself).
PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/v1/log/key", "/openapi.json", "/docs",
                          "/docs/oauth2-redirect", "/redoc", "/", "/app/login", "/app/logout",
                          # URL reports from the public: no account, rate-limited per address.
                          "/v1/public/url-reports", "/report",
                          # Victim cases: no account; the case number and PIN are the key.
                          "/v1/public/victim-cases", "/v1/public/victim-cases/status",
                          "/v1/public/victim-cases/hashes", "/v1/public/victim-cases/withdraw",
                          "/help/remove", "/help/case",
                          # Complaints about wrongful removal: no account; id and token.
                          "/v1/public/complaints", "/v1/public/complaints/status"})


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require(scope: Scope) -> Any:
    """A dependency: authenticate the bearer key, then check it holds ``scope``."""

    def dependency(request: Request) -> Principal:
        state = request.app.state.vigil
        principal: Principal = state.principals.get(_bearer(request), state.read_session)
        if state.key_limits is not None:
            state.key_limits.check(f"key:{principal.key_id}", "requests for this key")
        principal.require(scope)
        request.state.principal = principal
        return principal

    dependency.__vigil_scope__ = scope  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{scope.value.replace(':', '_')}"
    return Depends(dependency)


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


#: A database id in a path: bounded, so that a huge number is a 422, not a database error.
DbId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def client_address(request: Request) -> str:
    """The address limits per client are keyed by (the socket's peer; a proxy in front must
    be configured to pass the client's address to uvicorn)."""
    return request.client.host if request.client else "unknown"


def principal_of(scope: Scope) -> Any:
    return Annotated[Principal, require(scope)]
