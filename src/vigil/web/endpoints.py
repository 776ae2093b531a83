"""Workspace pages: sign-in and sign-out, the start page and the dashboard."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from vigil.charts import bar_chart
from vigil.db import transaction
from vigil.deps import client_address
from vigil.indicators import service as indicators
from vigil.orgs import accounts
from vigil.orgs.access import Scope
from vigil.reports import repository
from vigil.web.i18n import translate
from vigil.web.render import (
    PREFIX,
    SESSION_COOKIE,
    check_origin,
    language,
    page,
    redirect,
    render,
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
    return f"{PREFIX}/login"


def _safe_next(value: str | None) -> str | None:
    # Only a path inside the workspace: never another site (no open redirect).
    if value and value.startswith(f"{PREFIX}/") and "//" not in value and "\\" not in value:
        return value
    return None


@router.get("/login")
def login_form(request: Request, next: str | None = None, failed: str | None = None) -> Response:
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
    lang = language(request)
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode()):
        return render(request, "login.html", {"login_csrf": cookie, "next": _safe_next(next),
                                              "error": translate(lang, "error.csrf")},
                      status=403)
    state = request.app.state.vigil
    with transaction(state.session) as s:
        outcome = accounts.sign_in(s, state.settings, username, password,
                                   source=client_address(request), throttle=state.login_throttle)
    if not outcome.ok or outcome.account is None or outcome.token is None:
        # One answer for every failure: a wrong password, an unknown user, a blocked source.
        return render(request, "login.html", {"login_csrf": cookie, "next": _safe_next(next),
                                              "error": translate(lang, "login.failed"),
                                              "username": username}, status=401)
    with state.read_session() as s:
        signed = accounts.resolve(s, state.settings, outcome.token)
    assert signed is not None
    response = redirect(_safe_next(next) or home_of(signed))
    response.set_cookie(SESSION_COOKIE, outcome.token, httponly=True, samesite="strict",
                        path="/", secure=state.settings.cookies_secure,
                        max_age=state.settings.session_max_hours * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{PREFIX}/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Public: signing out needs only the session it ends (and its form token)."""
    state = request.app.state.vigil
    token = request.cookies.get(SESSION_COOKIE)
    with transaction(state.session) as s:
        signed = accounts.resolve(s, state.settings, token)
        if signed is not None and signed.csrf_ok(csrf):
            accounts.sign_out(s, token)
    response = redirect(f"{PREFIX}/login?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def figures(session: Session) -> dict[str, Any]:
    """The dashboard's numbers: aggregates only, never a report's content."""
    return {**repository.queue_figures(session), **indicators.figures(session)}


def age_buckets(submitted: list[Any]) -> list[tuple[str, int]]:
    from datetime import UTC, datetime

    t = datetime.now(UTC)
    counts = {"age.lt1h": 0, "age.1to24h": 0, "age.1to7d": 0, "age.gt7d": 0}
    for at in submitted:
        if at is None:
            continue
        hours = (t - (at if at.tzinfo else at.replace(tzinfo=UTC))).total_seconds() / 3600
        key = ("age.lt1h" if hours < 1 else "age.1to24h" if hours < 24
               else "age.1to7d" if hours < 168 else "age.gt7d")
        counts[key] += 1
    return list(counts.items())


@router.get("/")
def dashboard(request: Request, signed: Annotated[accounts.SignedIn, page(Scope.STATS_READ)]) -> Response:
    with request.app.state.vigil.read_session() as s:
        f = figures(s)
    lang = language(request, signed)

    def tr(prefix: str, rows: list[tuple[Any, int]]) -> list[tuple[str, int]]:
        return [(translate(lang, f"{prefix}.{k}") if prefix else str(k), int(v)) for k, v in rows]

    charts = [
        ("dash.ages", [(translate(lang, k), v) for k, v in age_buckets(f["ages"])]),
        ("dash.by_status", tr("status", f["by_status"])),
        ("dash.by_list", tr("", f["by_list"])),
        ("dash.by_indicator_status", tr("ind", f["by_indicator_status"])),
    ]
    return render(request, "dashboard.html", {
        "f": f, "charts": [(translate(lang, title), rows, bar_chart(translate(lang, title), rows))
                           for title, rows in charts]})

