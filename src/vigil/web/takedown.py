"""Takedown pages: analysts classify reported URLs and follow notices; figures as charts; and
the public page where anyone can report a URL without an account."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from vigil.charts import bar_chart
from vigil.db import transaction
from vigil.deps import DbId, client_address
from vigil.errors import DomainError
from vigil.orgs.access import Scope
from vigil.orgs.accounts import SignedIn
from vigil.takedown import repository, service
from vigil.takedown.referrals import repository as referral_repository
from vigil.takedown.stats import takedown_stats
from vigil.web.channel import PUBLIC_CSRF_COOKIE, channel_context, url_form_page
from vigil.web.render import PREFIX, FormText, check_csrf, check_origin, csrf_message, page, redirect, render, tr_for

router = APIRouter(include_in_schema=False)
Analyst = Annotated[SignedIn, page(Scope.TAKEDOWN_MANAGE)]


@router.get(f"{PREFIX}/takedown")
def takedown_page(request: Request, signed: Analyst) -> Response:
    with request.app.state.vigil.read_session() as s:
        waiting = repository.url_reports(s, signed.principal, classified=False, limit=200)
        notices = repository.notices(s, signed.principal, limit=200)
        failed = repository.failed_deliveries(s, [n.id for n in notices])
        referrals = referral_repository.referrals(s, signed.principal, limit=200)
        deliveries = referral_repository.delivery_jobs(s, referrals)
    return render(request, "takedown.html", {"waiting": waiting, "notices": notices,
                                             "failed": failed, "referrals": referrals,
                                             "deliveries": deliveries,
                                             "classifications": service.CLASSIFICATIONS})


@router.get(f"{PREFIX}/takedown/notices/{{notice_id}}")
def notice_page(notice_id: DbId, request: Request, signed: Analyst) -> Response:
    """One notice: where it goes, and everything that happened to it — each delivery, and each
    failed one with its error (retried by the next run, at "next attempt")."""
    with request.app.state.vigil.read_session() as s:
        notice = repository.notice(s, signed.principal, notice_id)
        events = repository.notice_events(s, notice.id)
        failed = repository.failed_deliveries(s, [notice.id]).get(notice.id, [])
        informing = repository.authority_job(s, notice)
    return render(request, "takedown_notice.html", {"n": notice, "events": events,
                                                    "failed": failed, "informing": informing})


@router.post(f"{PREFIX}/takedown/{{report_id}}/classify")
def classify(report_id: Annotated[str, Path(max_length=36)], request: Request, signed: Analyst,
             classification: Annotated[str, Form(max_length=32)] = "",
             country: Annotated[str, Form(max_length=2)] = "",
             confirm: Annotated[str, Form(max_length=8)] = "",
             csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """The analyst's decision. Nothing is chosen in advance; a classification as illegal (which
    sends a notice to the host at once) is shown once more for confirmation before it is made."""
    check_csrf(signed, csrf)
    settings = request.app.state.vigil.settings
    tr = tr_for(request, signed)
    if not classification:
        return redirect(f"{PREFIX}/takedown", flash=("error", tr.gettext(
            "Choose a classification first: nothing is chosen in advance.")))
    try:
        service.check_classification(classification, country.strip() or None)
        if classification in service.ILLEGAL and confirm != "yes":
            with request.app.state.vigil.read_session() as s:
                report = repository.url_report(s, signed.principal, report_id)
                pending = {"public_id": report.public_id, "url": report.url,
                           "classified": report.classification is not None}
            if not pending["classified"]:
                return render(request, "takedown_confirm.html", {
                    "report": pending, "classification": classification,
                    "country": country.strip().upper()})
        with transaction(request.app.state.vigil.session) as s:
            report, notice = service.classify(s, signed.principal, report_id, classification,
                                              country.strip() or None,
                                              settings.egress())
            url = report.url
    except DomainError as exc:
        if exc.status == 404:
            raise
        return redirect(f"{PREFIX}/takedown", flash=("error", exc.message))
    text = tr.gettext("%(url)s classified as %(classification)s.", url=url,
                      classification=tr.label("td", classification))
    if notice is not None:
        text += " " + tr.gettext("A notice to %(provider)s is open.", provider=notice.provider)
    return redirect(f"{PREFIX}/takedown", flash=("ok", text))


@router.get(f"{PREFIX}/takedown/figures")
def figures_page(request: Request, signed: Annotated[SignedIn, page(Scope.STATS_READ)]) -> Response:
    with request.app.state.vigil.read_session() as s:
        stats = takedown_stats(s)
    tr = tr_for(request, signed)

    def chart(title: str, rows: list[tuple[str, int]]) -> tuple[str, list[tuple[str, int]], Any]:
        return title, rows, bar_chart(title, rows)

    hosts, countries = stats["by_host"], stats["by_country"]
    charts = [
        chart(tr.gettext("Median hours to removal, by host"), [(h, round(v["median_hours_to_removal"]))
                                      for h, v in hosts.items() if v["median_hours_to_removal"] is not None]),
        chart(tr.gettext("Median hours to removal, by hosting country"), [(c, round(v["median_hours_to_removal"]))
                                         for c, v in countries.items() if v["median_hours_to_removal"] is not None]),
        chart(tr.gettext("Notices sent, by host"), [(h, v["notices_sent"]) for h, v in hosts.items()]),
        chart(tr.gettext("Notices open and removed"), [
            (tr.label("td", "removed"), stats["total"]["removed"]),
            (tr.label("td", "open"),
                                         stats["total"]["notices"] - stats["total"]["removed"])]),
    ]
    return render(request, "takedown_figures.html", {"stats": stats, "charts": charts})


# -- the public page ---------------------------------------------------------------------------

@router.post("/report")
def public_submit(request: Request, url: Annotated[str, Form(max_length=2048)] = "",
                  description: FormText = "",
                  csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Anyone may report a URL here; limited per address like the public API."""

    check_origin(request)
    tr = tr_for(request)
    cookie = request.cookies.get(PUBLIC_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode()):
        # The form again with what was typed and a fresh token (the cookie may simply have
        # been lost: a restarted browser, a restored tab), so that sending it again works.
        return url_form_page(request, {"error": csrf_message(tr), "url": url,
                                       "description": description}, status=403)
    state = request.app.state.vigil
    state.public_reports.check(client_address(request), "URL reports")
    try:
        with transaction(state.session) as s:
            service.submit_url(s, url, source="public", description=description or None)
    except DomainError as exc:
        return render(request, "report_url.html", {**channel_context(request),
                                                   "form_token": cookie, "error": exc.message,
                                                   "url": url, "description": description},
                      status=exc.status)
    return render(request, "report_url.html", {**channel_context(request), "form_token": cookie, "done": True})
