"""Accessibility in headless Chromium: axe-core (from the npm registry, installed by
``scripts/install --test`` into tests/a11y/node_modules, never from a CDN) checks every
public page and the main workspace pages in every complete language against WCAG 2.1 A and
AA; and a keyboard-only walk through the reporting channel (quick exit, no history entries).

axe is run in the page through the browser's debugging protocol (Playwright's ``evaluate``),
which the pages' Content-Security-Policy does not govern: the pages themselves keep allowing
only their own script."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.browser import Live, signed_in_page
from vigil.db import transaction
from vigil.prevention import service as prevention
from vigil.web.i18n import COMPLETE

AXE = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

PUBLIC_PAGES = ["/", "/report", "/report/help?what=pictures_threat&country=DE",
                "/report/help?what=danger", "/report/url", "/help/remove?age=child",
                "/help/remove", "/help/case", "/help/complaint", "/prevention",
                "/prevention?q=helpline", "/prevention/entries/kein-taeter-werden",
                "/prevention/entries/safer-internet-centres", "/prevention/ecris"]
#: (account, pages): the workspace pages each role works in.
WORKSPACE_PAGES = [("rita", ["/app/", "/app/review", "/app/indicators", "/app/takedown",
                             "/app/takedown/figures"]),
                   ("dieter", ["/app/inbox"]), ("edith", ["/app/prevention"]),
                   ("ada", ["/app/partners", "/app/jobs"])]


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is required in CI (scripts/install --test installs it)")
        pytest.skip("axe-core is not installed (scripts/install --test installs it)")
    return AXE.read_text("utf-8")


@pytest.fixture(scope="module")
def seeded(live: Live) -> Live:
    from tests.fixtures.workspace import PASSWORD, enrol
    from vigil.orgs import accounts
    from vigil.prevention.schemas import EntryIn

    with transaction(live.factory) as s:
        prevention.seed(s)
        centre = live.workspace.world.principals["centre"]
        edith = accounts.create_account(s, None, centre.organisation_id, "edith", "editor",
                                        password=PASSWORD)
        enrol(edith.account)  # an editor signs in with a second factor, as rita does
        ada = accounts.create_account(s, None, centre.organisation_id, "ada", "admin",
                                      password=PASSWORD)
        enrol(ada.account)
        s.flush()
        _partners(s, centre)
        (_, entry), *_ = prevention.read_seed()
        prevention.propose(s, live.workspace.world.principals["centre2"],
                           EntryIn.model_validate({**entry.model_dump(), "title": "A change"}))
    return live


def _partners(s: Any, centre: Any) -> None:
    """Something on each table of the partners page."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from vigil.federation import service as federation
    from vigil.indicators import service as indicators
    from vigil.sharing import service as sharing
    from vigil.takedown.referrals import hotlines

    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    federation.register(s, None, "Origin Centre", url="https://origin.example", log_key=key,
                        remote_list="known-material")
    hotlines.add(s, centre, hotlines.HotlineIn("BE", "Child Focus", "webhook",
                                               "https://hook.example/referrals", "whsec"))
    src = sharing.source_for(s, "ncmec", "Industry", indicators.get_list(s, "known-material"))
    src.unreadable_runs = 1
    sharing.problem(s, src, "page 1", "page 1: ParseError", sharing.Tally(), count=False)


def violations(page: Any, axe_source: str) -> list[str]:
    """axe's WCAG 2.1 A/AA violations on the page as it stands, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    found = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                               resultTypes: ['violations']});
            return r.violations.map(v => v.id + ': ' + v.help + ' — ' +
                v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
        }""", WCAG_21_AA)
    return [str(v) for v in found]


def _with_lang(path: str, lang: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={lang}"


@pytest.mark.parametrize("lang", COMPLETE)
def test_every_public_page_meets_wcag_21_aa(browser: Any, seeded: Live, axe_source: str,
                                            lang: str) -> None:
    context = browser.new_context(base_url=seeded.base, locale="en-GB")
    page = context.new_page()
    problems = {}
    for path in PUBLIC_PAGES:
        page.goto(_with_lang(path, lang))
        assert page.evaluate("() => document.documentElement.lang") == lang, path
        found = violations(page, axe_source)
        if found:
            problems[path] = found
    context.close()
    assert problems == {}


@pytest.mark.parametrize("lang", COMPLETE)
def test_the_main_workspace_pages_meet_wcag_21_aa(browser: Any, seeded: Live, axe_source: str,
                                                  lang: str) -> None:
    problems = {}
    for username, paths in WORKSPACE_PAGES:
        page = signed_in_page(browser, seeded, username)
        page.goto(_with_lang(paths[0], lang))  # the choice is kept for the workspace
        for path in paths:
            page.goto(path)
            assert page.evaluate("() => document.documentElement.lang") == lang, path
            found = violations(page, axe_source)
            if found:
                problems[f"{username} {path}"] = found
        if username == "rita":  # one report under review, previews and all
            page.goto("/app/review")
            page.locator("a.row-link").first.click()
            page.wait_for_load_state()
            found = violations(page, axe_source)
            if found:
                problems["rita review item"] = found
        page.context.close()
    assert problems == {}


def test_a_keyboard_walk_through_the_reporting_channel(browser: Any, seeded: Live) -> None:
    """Tab and Enter only: the quick exit comes first, a choice opens its page at an address
    that does not show it and without a new history entry, the country is chosen and the
    helplines shown, the language changes without losing either, and Escape twice leaves;
    going back then shows no page of the channel."""
    context = browser.new_context(base_url=seeded.base, locale="en-GB")
    exit_url = "https://www.wikipedia.org/"
    context.route(exit_url + "**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<title>elsewhere</title>"))
    page = context.new_page()
    page.goto("/")
    page.goto("/report")
    start = page.evaluate("() => history.length")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "quick-exit"
    # on to the choices: every control on the way is reachable and named
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "choice-pictures_threat":
            break
    else:
        pytest.fail("the choice was not reachable with Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("#advice")
    assert page.url == f"{seeded.base}/report/help"  # the choice is not in the address
    assert page.evaluate("() => history.length") == start  # replaced, not added
    assert "Do not pay" in page.inner_text("#advice")
    page.focus("#country")  # the country list: choose with the keyboard
    page.keyboard.type("Ger")
    page.keyboard.press("Tab")  # to "Show helplines"
    assert page.evaluate("() => document.activeElement.textContent") == "Show helplines"
    page.keyboard.press("Enter")
    page.wait_for_function("() => (document.querySelector('ul.helplines') || {}).innerText"
                           "?.includes('Nummer gegen Kummer')")
    assert page.url == f"{seeded.base}/report/help"
    assert "Do not pay" in page.inner_text("#advice")
    # another language keeps the choice and the country; only the language is in the address
    page.focus("nav.lang button[lang=fr]")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.documentElement.lang === 'fr'")
    assert page.url == f"{seeded.base}/report/help?lang=fr"
    assert "Nummer gegen Kummer" in page.inner_text("ul.helplines")
    assert page.evaluate("() => history.length") == start
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.wait_for_url(exit_url)
    # the channel left no page of its own to go back to after the first one
    page.go_back()
    assert "/report" not in page.url
    context.close()
