"""How a workspace page is produced: who is asking (the session cookie), in which language,
with which security headers; and how errors, flash messages and form checks look.

``page(scope)`` is the pages' counterpart of :func:`vigil.deps.require`: every page declares
one scope, and the same route-walking test checks them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from vigil.db import transaction
from vigil.errors import DomainError, Forbidden, NotAuthenticated
from vigil.orgs import accounts
from vigil.orgs.access import Scope
from vigil.web.i18n import pick_language, since, translate

PREFIX = "/app"
SESSION_COOKIE = "vigil_session"
LANG_COOKIE = "vigil_lang"
FLASH_COOKIE = "vigil_flash"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; "
                               "script-src 'self'; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


class CsrfFailed(Forbidden):
    code = "csrf"


def make_environment() -> Environment:
    env = Environment(loader=PackageLoader("vigil.web", "templates"),
                      autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["dt"] = lambda d: (d if d.tzinfo else d.replace(tzinfo=UTC)).strftime(
        "%Y-%m-%d %H:%M UTC") if d else "-"
    return env


def page(scope: Scope) -> Any:
    """A dependency: the signed-in account, which must hold ``scope``. No session sends the
    browser to the sign-in page; a session without the scope gets a 403 page."""

    def dependency(request: Request) -> accounts.SignedIn:
        state = request.app.state.vigil
        token = request.cookies.get(SESSION_COOKIE)
        with state.read_session() as s:
            signed = accounts.resolve(s, state.settings, token)
        if signed is None or token is None:
            raise NotAuthenticated("please sign in")
        last = signed.web.last_seen_at
        if (datetime.now(UTC) - (last if last.tzinfo else last.replace(tzinfo=UTC))).total_seconds() > 60:
            with transaction(state.session) as s:
                accounts.touch(s, token)
        if request.method == "POST":
            check_origin(request)
        request.state.principal = signed.principal
        request.state.signed = signed
        if state.key_limits is not None:
            state.key_limits.check(f"key:{signed.principal.key_id}", "requests for this account")
        signed.principal.require(scope)
        return signed

    dependency.__vigil_scope__ = scope  # type: ignore[attr-defined]
    dependency.__name__ = f"page_{scope.value.replace(':', '_')}"
    return Depends(dependency)


def check_origin(request: Request) -> None:
    """A form post must come from this site (browsers send Origin on POST)."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            raise CsrfFailed("the form was posted from another site")


def check_csrf(signed: accounts.SignedIn, value: str | None) -> None:
    if not signed.csrf_ok(value):
        raise CsrfFailed("missing or wrong form token")


def language(request: Request, signed: accounts.SignedIn | None = None) -> str:
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                         signed.account.locale if signed else None,
                         request.headers.get("accept-language"))


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status: int = 200) -> HTMLResponse:
    env: Environment = request.app.state.vigil.templates
    signed: accounts.SignedIn | None = getattr(request.state, "signed", None)
    lang = language(request, signed)
    flash = _read_flash(request)

    def t(key: str, **params: object) -> str:
        return translate(lang, key, **params)

    scopes = signed.principal.scopes if signed else frozenset()
    html = env.get_template(template).render(
        request=request, t=t, lang=lang, signed=signed, flash=flash, Scope=Scope,
        scopes=scopes, csrf=signed.web.csrf_token if signed else "", prefix=PREFIX,
        since=lambda d: since(lang, d), path=request.url.path, **(context or {}))
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") in ("en", "de"):
        response.set_cookie(LANG_COOKIE, request.query_params["lang"], max_age=365 * 86400,
                            samesite="strict", path="/", httponly=True)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path=PREFIX)
    return response


def redirect(url: str, *, flash: tuple[str, str] | None = None) -> RedirectResponse:
    """Post/redirect/get, with an optional one-time message (kind, text) for the next page."""
    response = RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(json.dumps(list(flash))), path=PREFIX,
                            httponly=True, samesite="strict", max_age=60)
    return response


def _read_flash(request: Request) -> tuple[str, str] | None:
    from urllib.parse import unquote

    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or len(raw) > 4096:  # ours are short; anything else is not ours
        return None
    try:
        kind, text = json.loads(unquote(raw))
    except (ValueError, TypeError, RecursionError):
        return None
    return (kind, text) if kind in ("ok", "error") and isinstance(text, str) else None


def error_page(request: Request, exc: DomainError) -> Response:
    """How a domain error looks in the workspace."""
    if isinstance(exc, NotAuthenticated):
        return redirect(f"{PREFIX}/login?next={quote(request.url.path)}")
    key = {"forbidden": "error.forbidden", "not_found": "error.not_found",
           "csrf": "error.csrf"}.get(exc.code)
    return render(request, "error.html", {"key": key, "message": exc.message},
                  status=exc.status)
