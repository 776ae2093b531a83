"""Domain errors of the service layer: a stable code, an HTTP status, a message that names the
problem. One handler in :mod:`vigil.app` renders them; nothing below the endpoints raises
HTTP exceptions. :class:`ErrorOut` describes the body that handler renders, for the API
description; every API router declares it for each error status (:data:`ERROR_RESPONSES`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

#: The C0 control characters and DEL; a text people read keeps none of them (XML 1.0 refuses
#: all C0 but tab and line breaks, PostgreSQL refuses NUL, a terminal obeys ESC).
_BREAKS = frozenset("\t\n\r")


def control_character(text: str, *, line_breaks: bool = False) -> str | None:
    """The first control character in ``text`` as ``U+XXXX`` (``None`` when there is none):
    C0 (U+0000-U+001F), DEL (U+007F), C1 (U+0080-U+009F), and the code points that XML and
    JSON consumers cannot carry (surrogates U+D800-U+DFFF, U+FFFE, U+FFFF: one of them in a
    published title made the Atom feed unreadable for everyone). With ``line_breaks`` tab,
    line feed and carriage return are allowed (free text of several lines); without, a
    one-line label allows none. The one check of "no control characters" that services and
    schemas share."""
    for ch in text:
        o = ord(ch)
        bad = o < 32 or 127 <= o <= 159 or 0xD800 <= o <= 0xDFFF or o in (0xFFFE, 0xFFFF)
        if bad and not (line_breaks and ch in _BREAKS):
            return f"U+{o:04X}"
    return None


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


class Unavailable(DomainError):
    """A service vigil depends on does not answer (the database, the shared store of rate
    limits): the request is refused rather than let through unchecked; ``retry_after``
    (seconds) goes into the Retry-After header."""

    code = "unavailable"
    status = 503


class RateLimited(DomainError):
    """Too many requests; ``retry_after`` (seconds) goes into the Retry-After header."""

    code = "rate_limited"
    status = 429


class IndexLoading(Unavailable):
    """This server worker's match index is still loading (just started). Another worker may
    already answer."""

    code = "index_loading"


class ErrorItem(BaseModel):
    """One problem of an invalid request: where it is (`location`, or `index` into the list of
    items sent) and what is wrong with it."""

    model_config = ConfigDict(extra="allow")

    location: list[str | int] | None = None
    index: int | None = None
    error: str


class ErrorDetail(BaseModel):
    """What went wrong: a stable `code` (`not_authenticated`, `forbidden`, `not_found`,
    `conflict`, `too_large`, `invalid`, `rate_limited`, `unavailable`), a message that names the problem, and
    the error's own details (`items`, `scope`, `retry_after`, ...)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    items: list[ErrorItem] | None = None
    more: int | None = None  # problems beyond the first 100 of ``items``


class ErrorOut(BaseModel):
    """The body of every error answer of the API."""

    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


#: The error answers every API route may give, for the API description
#: (``APIRouter(responses=ERROR_RESPONSES)``).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("No key, or an unknown, malformed or revoked key; on the public case and "
                "complaint routes, a wrong number, PIN or token (`not_authenticated`)."),
    403: _error("The key lacks the route's scope, or its organisation may not act on this "
                "(`forbidden`)."),
    404: _error("No such thing, or none the caller may see (`not_found`)."),
    409: _error("The request conflicts with the current state (`conflict`)."),
    413: _error("The request body, a file or a list is over its limit (`too_large`)."),
    422: _error("The request is invalid; `items` names each problem (`invalid`)."),
    429: {**_error("Too many requests (`rate_limited`)."),
          "headers": {"Retry-After": {"description": "Seconds until a request may succeed again.",
                                      "schema": {"type": "integer"}}}},
    503: {**_error("This server worker cannot answer yet: its match index is still loading "
                   "after a start (`index_loading`), or a service it needs — the database, "
                   "the shared store of rate limits — does not answer (`unavailable`); retry "
                   "after the Retry-After seconds."),
          "headers": {"Retry-After": {"description": "Seconds until a retry is likely to "
                                                     "succeed.", "schema": {"type": "integer"}}}},
}
