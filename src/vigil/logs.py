"""Structured logs: one configuration for the server and the worker, secrets never written.

Every log line — vigil's own (``structlog`` or the standard ``logging`` module) and the
libraries' (uvicorn, SQLAlchemy, alembic) — goes through one chain of processors and is
written to standard error as one JSON object per line (``VIGIL_LOG_FORMAT=json``, the default)
or as readable ``key=value`` text (``console``, for a person at a terminal). Each line has
``timestamp`` (ISO 8601, UTC), ``level``, ``logger``, ``pid``, ``event`` and, while a request is being
answered, its ``request_id`` (bound by the server's middleware through context variables, so
it reaches every line logged on the request's behalf, in threads too).

Secrets are removed before a line is written (:func:`redact_secrets`): fields named like a
secret (passwords, keys, tokens, PINs, cookies, the Authorization header) are replaced
whatever their value, and API keys, bearer tokens and ``password=...`` pairs are cut out of
any text, tracebacks included.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import IO, Any

import structlog

#: Field names whose values are never written (compared lower-case, "-" read as "_").
SECRET_FIELDS = frozenset({
    "password", "new_password", "current_password", "passwd", "secret", "secrets", "token",
    "tokens", "api_key", "key_secret", "authorization", "cookie", "set_cookie", "file_key",
    "webhook_secret", "webhook_secrets", "provider_webhook_secrets", "partner_keys", "pin", "csrf",
    "csrf_token", "session_token", "recovery_code", "recovery_codes", "totp", "totp_secret",
    "totp_code", "otp", "private_key",
})

REDACTED = "[redacted]"

#: Secrets inside free text: vigil's API keys, bearer credentials, ``name=value`` pairs.
_SECRET_TEXT = re.compile(
    r"\bvgl_[A-Za-z0-9_\-]+"
    r"|(?i:\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]+"
    r"|(?i:\b(?:password|passwd|secret|token|api_key|file_key|pin|csrf)\s*[=:]\s*)[^\s,;&\"']+")


def _scrub_text(text: str) -> str:
    def replace(m: re.Match[str]) -> str:
        found = m.group(0)
        head = re.match(r"(?i)(bearer\s+|basic\s+|[a-z_]+\s*[=:]\s*)", found)
        if head and not found.startswith("vgl_"):
            return head.group(0) + REDACTED
        return REDACTED

    return _SECRET_TEXT.sub(replace, text)


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if depth > 4:
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _secret_name(k) else _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    return value


def _secret_name(name: object) -> bool:
    return isinstance(name, str) and name.lower().replace("-", "_") in SECRET_FIELDS


#: Fields vigil itself fills with values that are never secret (the request line's, the
#: chain's own): not scanned, which keeps a request's line cheap.
_PLAIN_FIELDS = frozenset({"timestamp", "level", "logger", "pid", "request_id", "method",
                           "route", "status", "ms", "org"})


def _plain(value: Any) -> bool:
    if isinstance(value, str):  # nothing _SECRET_TEXT could match
        return "vgl_" not in value and "=" not in value and not any(c.isspace() for c in value)
    return value is None or isinstance(value, int | float)


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]
                   ) -> MutableMapping[str, Any]:
    """A structlog processor: secret fields replaced, secrets cut out of text (the event,
    tracebacks, nested dicts and lists)."""
    for name, value in list(event_dict.items()):
        if name in _PLAIN_FIELDS and _plain(value):
            continue
        event_dict[name] = REDACTED if _secret_name(name) else _scrub(value)
    return event_dict


def _add_pid(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]
             ) -> MutableMapping[str, Any]:
    event_dict["pid"] = os.getpid()  # which server worker, with several
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        _add_pid,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str = "INFO", fmt: str = "json", *,
                      stream: IO[str] | None = None) -> None:
    """Send every log line of this process to ``stream`` (standard error) as JSON lines
    (``fmt="json"``) or readable text (``"console"``), from ``level`` up (a ``logging`` level
    name). Replaces the root logger's handlers: calling it again reconfigures."""
    if fmt not in ("json", "console"):
        raise ValueError(f"log format {fmt!r}: json or console")
    shared = _shared_processors()
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_secrets,
                    renderer])
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its start-up chatter is no news
    # uvicorn's own loggers write through the root handler (it is started without a logging
    # configuration of its own); vigil's request line replaces its access log.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> Any:
    """A structlog logger over the standard logger ``name`` (``log.info("event", key=value,
    ...)``): it obeys that logger's level, and :func:`configure_logging` whenever it runs."""
    return structlog.wrap_logger(logging.getLogger(name), wrapper_class=structlog.stdlib.BoundLogger)
