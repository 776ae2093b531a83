"""How a workspace page is produced: who is asking (the session cookie), in which language,
with which security headers; and how errors, flash messages and form checks look.

``page(scope)`` is the pages' counterpart of :func:`vigil.deps.require`: every page declares
one scope, and the same route-walking test checks them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import AfterValidator

from vigil.db import transaction
from vigil.errors import DomainError, Forbidden, NotAuthenticated
from vigil.orgs import accounts
from vigil.orgs.access import Scope
from vigil.web import i18n
from vigil.web.i18n import LANGUAGES, Translator, pick_language, rendering_in, translator

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


#: The pages' text areas hold this many characters (their ``maxlength``).
TEXT_MAX = 4000


def _one_line_break(value: str) -> str:
    """A form's line breaks as "\n": a browser counts one character for each (``maxlength``)
    and sends two ("\r\n"), so the limit is checked after this, as the browser checked it."""
    value = value.replace("\r\n", "\n")
    if len(value) > TEXT_MAX:
        raise ValueError(f"at most {TEXT_MAX} characters")
    return value


#: A text area's field: at most :data:`TEXT_MAX` characters as the browser counts them (the
#: body may carry twice as many bytes of line breaks, and no more).
FormText = Annotated[str, Form(max_length=2 * TEXT_MAX), AfterValidator(_one_line_break)]


class CsrfFailed(Forbidden):
    code = "csrf"


def make_environment() -> Environment:
    env = Environment(loader=PackageLoader("vigil.web", "templates"),
                      autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True, extensions=["jinja2.ext.i18n", "jinja2.ext.do"])
    i18n.install(env)
    env.filters["dt"] = lambda d: i18n.current().datetime(d)
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


#: Paths answered with pages (errors as an error page), not the API's JSON.
PAGE_PREFIXES = (PREFIX + "/", "/help/", "/report/", "/prevention/")
PAGE_PATHS = frozenset({"/report", "/prevention"})


def is_page(path: str) -> bool:
    return path in PAGE_PATHS or path.startswith(PAGE_PREFIXES)


def _in_workspace(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def language(request: Request, signed: accounts.SignedIn | None = None) -> str:
    """``?lang=``, then (in the workspace only) the switcher's cookie and the account's
    setting, then ``Accept-Language``. Public pages read no cookie for it."""
    workspace = _in_workspace(request)
    return pick_language(request.query_params.get("lang"),
                         request.cookies.get(LANG_COOKIE) if workspace else None,
                         signed.account.locale if signed else None,
                         request.headers.get("accept-language"))


def tr_for(request: Request, signed: accounts.SignedIn | None = None) -> Translator:
    """The translator of the request's language (see :func:`language`)."""
    return translator(language(request, signed))


def public_link(request: Request, path: str) -> str:
    """A link between public pages that keeps a language chosen with ``?lang=`` (public
    pages keep it in the address, never in a cookie)."""
    chosen = request.query_params.get("lang")
    if chosen not in i18n.offered():
        return path
    return f"{path}{'&' if '?' in path else '?'}lang={chosen}"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status: int = 200) -> HTMLResponse:
    env: Environment = request.app.state.vigil.templates
    signed: accounts.SignedIn | None = getattr(request.state, "signed", None)
    tr = tr_for(request, signed)
    flash = _read_flash(request)
    scopes = signed.principal.scopes if signed else frozenset()
    workspace = _in_workspace(request)
    with rendering_in(tr):
        html = env.get_template(template).render(
            request=request, lang=tr.lang, languages=[(c, LANGUAGES[c]) for c in i18n.offered()],
            signed=signed, flash=flash, Scope=Scope, scopes=scopes,
            csrf=signed.web.csrf_token if signed else "", prefix=PREFIX,
            path=request.url.path, link=lambda p: p if workspace else public_link(request, p),
            **i18n.template_helpers(tr), **(context or {}))
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    chosen = request.query_params.get("lang")
    if workspace and chosen in i18n.offered():  # a staff preference, kept under /app only
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400,
                            samesite="strict", path=PREFIX, httponly=True)
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
    tr = tr_for(request, getattr(request.state, "signed", None))
    known = {"forbidden": tr.gettext("Your role may not open this page."),
             "not_found": tr.gettext("There is nothing here, or it is not yours to see."),
             "csrf": csrf_message(tr)}.get(exc.code)
    return render(request, "error.html", {"message": known or exc.message},
                  status=exc.status)


def csrf_message(tr: Translator) -> str:
    return tr.gettext("The form expired or came from another site. Reload the page and try "
                      "again.")
