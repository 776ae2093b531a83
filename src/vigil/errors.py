"""Domain errors of the service layer: a stable code, an HTTP status, a message that names the
problem. One handler in :mod:`vigil.app` renders them; nothing below the endpoints raises
HTTP exceptions."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Invalid(DomainError):
    code = "invalid"
    status = 422


class TooLarge(DomainError):
    code = "too_large"
    status = 413


class RateLimited(DomainError):
    """Too many requests; ``retry_after`` (seconds) goes into the Retry-After header."""

    code = "rate_limited"
    status = 429
