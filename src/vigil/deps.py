"""FastAPI dependencies shared by every router: the caller's identity and scope, and the
request's unit of work.

``require(scope)`` is the only way a route gets a principal, and marks the route with its
scope so that a test can walk every route and check that none is left undeclared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from vigil.db import transaction
from vigil.orgs.access import Principal, Scope
from vigil.orgs.service import authenticate

#: Routes anyone may call (no key): health, metrics, the log's public key, the API description.
PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/v1/log/key", "/openapi.json", "/docs",
                          "/docs/oauth2-redirect", "/redoc"})


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require(scope: Scope) -> Any:
    """A dependency: authenticate the bearer key, then check it holds ``scope``."""

    def dependency(request: Request) -> Principal:
        with request.app.state.vigil.read_session() as session:
            principal = authenticate(session, _bearer(request))
        principal.require(scope)
        request.state.principal = principal
        return principal

    dependency.__vigil_scope__ = scope  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{scope.value.replace(':', '_')}"
    return Depends(dependency)


def route_scope(call: Callable[..., Any]) -> Scope | None:
    return getattr(call, "__vigil_scope__", None)


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    with transaction(request.app.state.vigil.session) as session:
        yield session


def principal_of(scope: Scope) -> Any:
    return Annotated[Principal, require(scope)]
