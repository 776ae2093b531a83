"""The reporting channel at ``/report``, for children and adults alike: say what happened in
plain words, and be routed — a web address to the hotline flow (``/report/url``, the public
URL report), everything else to "talk to someone now" (``/report/help``: the chosen country's
helplines with hours, phone and chat; the removal of one's own pictures; the emergency number
112).

No account and no tracking: these pages set no cookie and read none (the web-address form
alone sets its form token), the language comes from
``?lang=`` or the browser, and nothing a visitor picks is stored or logged beyond the access
log's path. What a visitor chooses travels in the body of a POST, never in the address: the
browser's history (its list of visited addresses, which ``location.replace`` does not clear)
shows ``/report/help``, not what was chosen. A "leave quickly" button
(``VIGIL_QUICK_EXIT_URL``) replaces the current page; the language switcher keeps the choices.
``GET /report/help?what=…`` still answers, for links from elsewhere. Reasons: decision 0026.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from vigil.orgs.access import EU_MEMBER_STATES
from vigil.victims import helplines
from vigil.web.render import render, tr_for

router = APIRouter(prefix="/report", include_in_schema=False)
PUBLIC_CSRF_COOKIE = "vigil_report_csrf"

#: What a visitor can say happened, in the order the page offers it, and where each goes.
CHOICES = ("danger", "pictures_asked", "pictures_threat", "online", "offline", "url")
EMERGENCY = "112"


def channel_context(request: Request) -> dict[str, object]:
    return {"quick_exit": request.app.state.vigil.settings.quick_exit_url,
            "emergency": EMERGENCY, "choices": CHOICES}


@router.get("")
def start(request: Request) -> Response:
    """Public: "what happened?" — one choice, one link each; nothing is asked twice."""
    return render(request, "report_start.html", channel_context(request))


@router.post("/help")
def talk_to_someone_privately(request: Request, what: Annotated[str, Form()] = "online",
                              country: Annotated[str, Form()] = "",
                              age: Annotated[str, Form()] = "child") -> Response:
    """Public: :func:`talk_to_someone` for the channel's own forms — the choices in the body,
    so that the address the browser keeps says nothing of them."""
    return _help(request, what, country, age)


@router.get("/help")
def talk_to_someone(request: Request, what: str = "online", country: str = "",
                    age: str = "child") -> Response:
    """Public: the helplines of the chosen country (the EU-wide 116 111 otherwise) and what
    to do now, in words for ``what`` happened. Unknown values fall back to the general page:
    nothing a visitor typed is shown back."""
    return _help(request, what, country, age)


def _help(request: Request, what: str, country: str, age: str) -> Response:
    what = what if what in CHOICES and what != "url" else "online"
    age = age if age in ("child", "adult") else "child"
    code = country.strip().upper()[:2]
    code = code if code in EU_MEMBER_STATES else ""
    tr = tr_for(request)
    countries = sorted(EU_MEMBER_STATES, key=lambda c: tr.country(c))
    return render(request, "report_help.html", {
        **channel_context(request), "what": what, "age": age, "country": code,
        "countries": [(c, tr.country(c)) for c in countries],
        "lines": helplines.lines_for(code or None, age),
        "own_lines": bool(code) and code in helplines.countries(),
        # The language switcher sends these again (a POST), so that a new language keeps them.
        "post_state": {"what": what, "age": age, "country": code}})


@router.get("/url")
def url_form(request: Request) -> Response:
    """Public: report a web address to the hotline flow (sent to ``POST /report``)."""
    return url_form_page(request, {})


def url_form_page(request: Request, context: dict[str, object], status: int = 200) -> Response:
    """The web-address form with a fresh form token (its double-submit cookie): the one place
    that issues it, for the first visit and for a form sent without a valid token."""
    token = secrets.token_urlsafe(24)
    response = render(request, "report_url.html",
                      {**channel_context(request), **context, "form_token": token}, status=status)
    response.set_cookie(PUBLIC_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        path="/report")
    return response
