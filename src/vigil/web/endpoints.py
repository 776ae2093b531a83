"""Workspace pages: sign-in and sign-out, the start page and the dashboard."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from vigil.charts import bar_chart
from vigil.db import transaction
from vigil.deps import client_address
from vigil.indicators import service as indicators
from vigil.orgs import accounts, second_factor
from vigil.orgs.access import Scope
from vigil.reports import repository
from vigil.web.render import (
    PREFIX,
    SESSION_COOKIE,
    check_origin,
    csrf_message,
    page,
    redirect,
    render,
    tr_for,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)
LOGIN_CSRF_COOKIE = "vigil_login_csrf"


def home_of(signed: accounts.SignedIn) -> str:
    scopes = signed.principal.scopes
    if Scope.STATS_READ in scopes:
        return f"{PREFIX}/"
    if Scope.REPORTS_RECEIVE in scopes:
        return f"{PREFIX}/inbox"
    if Scope.INDICATORS_READ in scopes:
        return f"{PREFIX}/indicators"
    if Scope.PREVENTION_PROPOSE in scopes:  # a practitioner, or the hub's editor
        return f"{PREFIX}/prevention"
    return f"{PREFIX}/login"


def _safe_next(value: str | None) -> str | None:
    # Only a path inside the workspace: never another site (no open redirect).
    if value and value.startswith(f"{PREFIX}/") and "//" not in value and "\\" not in value:
        return value
    return None


@router.get("/login")
def login_form(request: Request, next: str | None = None, failed: str | None = None) -> Response:
    state = request.app.state.vigil
    with state.read_session() as s:
        waiting = accounts.waiting(s, state.settings, request.cookies.get(SESSION_COOKIE))
    if waiting is not None:  # the password was right: only the second factor is missing
        return redirect(_second_step_url(waiting.web.pending, _safe_next(next)))
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_csrf": token, "next": _safe_next(next),
                                              "failed": failed})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        path=f"{PREFIX}/login",
                        secure=request.app.state.vigil.settings.cookies_secure)
    return response


@router.post("/login")
def login(request: Request, username: Annotated[str, Form(max_length=200)],
          password: Annotated[str, Form(max_length=1000)],
          csrf: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str | None, Form(max_length=500)] = None) -> Response:
    check_origin(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    tr = tr_for(request)
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode()):
        return render(request, "login.html", {"login_csrf": cookie, "next": _safe_next(next),
                                              "error": csrf_message(tr)},
                      status=403)
    state = request.app.state.vigil
    source = client_address(request)
    state.login_throttle.check_source(source)
    # The password is hashed (argon2id) before the write transaction, which holds no lock
    # while it waits for that: it only records the outcome.
    with state.read_session() as s:
        checked = accounts.check_password_of(s, username, password)
    with transaction(state.session) as s:
        outcome = accounts.sign_in(s, state.settings, username, password, source=source,
                                   throttle=state.login_throttle, checked=checked)
    if not outcome.ok or outcome.account is None or outcome.token is None:
        # One answer for every failure: a wrong password, an unknown user, a blocked source.
        return render(request, "login.html", {"login_csrf": cookie, "next": _safe_next(next),
                                              "error": tr.gettext("Wrong username or password."),
                                              "username": username}, status=401)
    if outcome.session is not None and outcome.session.pending is not None:
        response = redirect(_second_step_url(outcome.session.pending, _safe_next(next)))
        _set_session_cookie(request, response, outcome.token)
        return response
    return _signed_in(request, outcome.token, next)


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = request.app.state.vigil.settings
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=settings.cookies_secure, max_age=settings.session_max_hours * 3600)


def _signed_in(request: Request, token: str, next: str | None) -> Response:
    """Where a complete sign-in lands: ``next`` inside the workspace, else the role's start."""
    state = request.app.state.vigil
    with state.read_session() as s:
        signed = accounts.resolve(s, state.settings, token)
    assert signed is not None
    response = redirect(_safe_next(next) or home_of(signed))
    _set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{PREFIX}/login")
    return response


def _second_step_url(pending: str | None, next: str | None) -> str:
    page = "enrol" if pending == accounts.PENDING_ENROL else "code"
    return f"{PREFIX}/login/{page}" + (f"?next={quote(next)}" if next else "")


def _second_step_page(request: Request, waiting: accounts.Waiting, next: str | None, *,
                      error: str | None = None, status: int = 200) -> Response:
    context: dict[str, Any] = {"form_csrf": waiting.web.csrf_token, "next": next,
                               "error": error}
    if waiting.web.pending == accounts.PENDING_ENROL:
        context.update(secret=waiting.secret, uri=waiting.uri,
                       qr=Markup(second_factor.qr_svg(waiting.uri or "")))  # noqa: S704 - segno's own SVG of our URI
        return render(request, "enrol.html", context, status=status)
    return render(request, "second_factor.html", context, status=status)


def _waiting_page(request: Request, wanted: str, next: str | None) -> Response:
    state = request.app.state.vigil
    with state.read_session() as s:
        waiting = accounts.waiting(s, state.settings, request.cookies.get(SESSION_COOKIE))
    if waiting is None:
        return redirect(f"{PREFIX}/login?expired=1")
    if waiting.web.pending != wanted:
        return redirect(_second_step_url(waiting.web.pending, _safe_next(next)))
    return _second_step_page(request, waiting, _safe_next(next))


@router.get("/login/code")
def second_factor_form(request: Request, next: str | None = None) -> Response:
    """Public (the waiting session checks itself): the code after the password."""
    return _waiting_page(request, accounts.PENDING_CODE, next)


@router.get("/login/enrol")
def enrol_form(request: Request, next: str | None = None) -> Response:
    """Public (the waiting session checks itself): set up the authenticator, the only page a
    session opens whose account needs a second factor and has none."""
    return _waiting_page(request, accounts.PENDING_ENROL, next)


@router.post("/login/code")
def second_step(request: Request, code: Annotated[str, Form(max_length=64)],
                  csrf: Annotated[str, Form(max_length=200)] = "",
                  next: Annotated[str | None, Form(max_length=500)] = None) -> Response:
    """The second step of both: a code (or a recovery code), or an enrolment's first code."""
    check_origin(request)
    state = request.app.state.vigil
    token = request.cookies.get(SESSION_COOKIE)
    tr = tr_for(request)
    with state.read_session() as s:
        waiting = accounts.waiting(s, state.settings, token)
    if waiting is None:
        return redirect(f"{PREFIX}/login?expired=1")
    if not csrf or not hmac.compare_digest(waiting.web.csrf_token.encode(), csrf.encode()):
        return _second_step_page(request, waiting, _safe_next(next),
                                 error=csrf_message(tr), status=403)
    with transaction(state.session) as s:
        step = accounts.complete_sign_in(s, state.settings, token, code,
                                         source=client_address(request),
                                         throttle=state.login_throttle)
    if step.ended:
        response = redirect(f"{PREFIX}/login?expired=1")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    if not step.sign_in.ok or step.sign_in.token is None:
        return _second_step_page(request, waiting, _safe_next(next),
                                 error=tr.gettext("Wrong code, or a code used already. Wait for the "
                                                  "next one and try again."), status=401)
    if step.recovery_codes:  # an enrolment: the recovery codes, shown this once
        with state.read_session() as s:
            signed = accounts.resolve(s, state.settings, step.sign_in.token)
        assert signed is not None
        shown = render(request, "recovery_codes.html", {
            "codes": step.recovery_codes, "continue_to": _safe_next(next) or home_of(signed)})
        _set_session_cookie(request, shown, step.sign_in.token)
        return shown
    return _signed_in(request, step.sign_in.token, next)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Public: signing out needs only the session it ends (and its form token)."""
    state = request.app.state.vigil
    token = request.cookies.get(SESSION_COOKIE)
    with transaction(state.session) as s:
        signed = accounts.resolve(s, state.settings, token)
        waiting = accounts.waiting(s, state.settings, token) if signed is None else None
        if signed is not None and signed.csrf_ok(csrf):
            accounts.sign_out(s, token)
        elif waiting is not None and csrf and hmac.compare_digest(
                waiting.web.csrf_token.encode(), csrf.encode()):
            accounts.sign_out(s, token)  # a sign-in given up at its second step
    response = redirect(f"{PREFIX}/login?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def figures(session: Session) -> dict[str, Any]:
    """The dashboard's numbers: aggregates only, never a report's content."""
    return {**repository.queue_figures(session), **indicators.figures(session)}


def age_buckets(submitted: list[Any]) -> list[tuple[str, int]]:
    from datetime import UTC, datetime

    t = datetime.now(UTC)
    counts = {"lt1h": 0, "1to24h": 0, "1to7d": 0, "gt7d": 0}
    for at in submitted:
        if at is None:
            continue
        hours = (t - (at if at.tzinfo else at.replace(tzinfo=UTC))).total_seconds() / 3600
        key = ("lt1h" if hours < 1 else "1to24h" if hours < 24
               else "1to7d" if hours < 168 else "gt7d")
        counts[key] += 1
    return list(counts.items())


@router.get("/")
def dashboard(request: Request, signed: Annotated[accounts.SignedIn, page(Scope.STATS_READ)]) -> Response:
    with request.app.state.vigil.read_session() as s:
        f = figures(s)
    tr = tr_for(request, signed)

    def labelled(group: str, rows: list[tuple[Any, int]]) -> list[tuple[str, int]]:
        return [(tr.label(group, k) if group else str(k), int(v)) for k, v in rows]

    charts = [
        (tr.gettext("Review queue by age"), labelled("age", age_buckets(f["ages"]))),
        (tr.gettext("Reports by status"), labelled("status", f["by_status"])),
        (tr.gettext("Active indicators by list"), labelled("", f["by_list"])),
        (tr.gettext("Indicators by status"), labelled("ind", f["by_indicator_status"])),
    ]
    return render(request, "dashboard.html", {
        "f": f, "charts": [(title, rows, bar_chart(title, rows)) for title, rows in charts]})

