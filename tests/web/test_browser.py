"""End to end in headless Chromium: sign in, review with blurred previews revealed one at a
time, a full review decision, the two-organisation rule, the authority's inbox and scope.
Screenshots of the main pages go to ``docs/screenshots/`` with VIGIL_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.fixtures.browser import Live, signed_in_page
from vigil.indicators.models import Indicator

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shoot(page: Any, name: str, tmp_path: Path) -> None:
    """Every main page is checked for labels and photographed in every run; the README's copies
    are refreshed on request."""
    accessible(page)
    out = tmp_path / f"{name}.png"
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 5_000
    if os.environ.get("VIGIL_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


A11Y_CHECK = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`))
      || el.getAttribute('aria-label') || el.closest('label');
    if (!labelled) problems.push('unlabelled ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('button, a')) {
    const named = el.textContent.trim() || el.getAttribute('aria-label');
    if (!named) problems.push('nameless ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('img')) {
    if (!el.getAttribute('alt')) problems.push('no alt ' + el.outerHTML.slice(0, 80));
  }
  if (!document.documentElement.lang) problems.push('no lang');
  if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
  return problems;
}"""


def accessible(page: Any) -> None:
    """Every control has a label, every image a text alternative, the page a language and one
    main heading."""
    assert page.evaluate(A11Y_CHECK) == [], page.url


def _filter(page: Any, selector: str) -> str:
    return str(page.eval_on_selector(selector, "el => getComputedStyle(el).filter"))


def test_sign_in_page_and_wrong_password(browser: Any, live: Live, tmp_path: Path) -> None:
    context = browser.new_context(base_url=live.base, locale="en-GB")
    page = context.new_page()
    page.goto("/app/")  # not signed in: sent to the sign-in page
    assert "/app/login" in page.url
    shoot(page, "login", tmp_path)
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    context.close()


def test_review_with_blurred_previews_and_a_decision(browser: Any, live: Live,
                                                     tmp_path: Path) -> None:
    page = signed_in_page(browser, live, "rita")
    shoot(page, "dashboard", tmp_path)
    page.get_by_role("link", name="Review queue").click()
    assert page.locator("table.queue tbody tr").count() == 3
    shoot(page, "review-queue", tmp_path)
    page.get_by_role("link", name="Start reviewing").click()
    first_report = page.url.rsplit("/", 1)[-1]
    assert first_report == live.workspace.reports[0]  # the urgent report first
    # A function, not an expression: the page's CSP forbids evaluating strings while polling.
    page.wait_for_function("() => [...document.querySelectorAll('img.preview')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    # Small, blurred and greyscale until revealed.
    sizes = page.eval_on_selector_all("img.preview", "els => els.map(e => [e.naturalWidth, "
                                      "e.naturalHeight, e.getBoundingClientRect().width])")
    assert all(max(w, h) <= 224 and shown <= 224 for w, h, shown in sizes)
    for sel in ("#preview-1", "#preview-2"):
        assert "blur(" in _filter(page, sel) and "grayscale(1)" in _filter(page, sel)
    shoot(page, "review-report", tmp_path)
    reveal = page.locator("button.reveal")
    reveal.nth(0).click()
    assert "blur(" not in _filter(page, "#preview-1")  # revealed, still greyscale
    assert "grayscale(1)" in _filter(page, "#preview-1")
    assert "blur(" in _filter(page, "#preview-2")
    assert reveal.nth(0).get_attribute("aria-pressed") == "true"
    page.locator("button.colour").nth(0).click()
    assert _filter(page, "#preview-1") == "none"
    reveal.nth(1).click()  # one at a time: revealing the second re-blurs the first
    assert "blur(" in _filter(page, "#preview-1") and "grayscale(1)" in _filter(page, "#preview-1")
    assert "blur(" not in _filter(page, "#preview-2")
    page.locator("body").press("n")  # moving on re-blurs
    assert all("blur(" in _filter(page, s) for s in ("#preview-1", "#preview-2"))
    page.locator("body").press("r")  # the keyboard reveals the current preview
    assert sum("blur(" not in _filter(page, s) for s in ("#preview-1", "#preview-2")) == 1
    # The break reminder appears after the configured time, and hides the previews. (The
    # page's own one-second timer keeps running; only the time it reads jumps ahead.)
    assert page.locator("#break").is_hidden()
    page.clock.install()
    page.clock.fast_forward("21:00")
    page.locator("#break").wait_for(state="visible")
    assert "Please take a break" in page.locator("#break").inner_text()
    assert all("blur(" in _filter(page, s) for s in ("#preview-1", "#preview-2"))
    page.get_by_role("button", name="I will take a break").click()
    assert page.locator("#break").is_hidden()
    # A full decision, by keyboard and form: "1" chooses "material".
    page.locator("body").press("1")
    assert page.locator("#decision-material").is_checked()
    assert page.evaluate("document.activeElement.id") == "reason"
    page.keyboard.type("confirmed by review")
    page.get_by_label("Classification label (optional)").fill("A1")
    page.get_by_role("button", name="Record decision").click()
    assert "Decision recorded for report" in page.get_by_role("status").inner_text()
    assert page.url.rsplit("/", 1)[-1] == live.workspace.reports[1]  # on to the next one
    with live.factory() as s:
        made = list(s.scalars(select(Indicator).where(Indicator.source == f"report:{first_report}")))
    assert made and all(i.status == "pending" and i.label == "A1" for i in made)
    page.context.close()


def test_two_organisation_rule_in_the_browser(browser: Any, live: Live, tmp_path: Path) -> None:
    with live.factory() as s:
        ind = s.scalars(select(Indicator).where(Indicator.status == "pending",
                                                Indicator.source.like("report:%"))).first()
    assert ind is not None, "the review test above proposes the indicators"
    page = signed_in_page(browser, live, "rita")
    page.goto(f"/app/indicators/{ind.id}")
    verify = page.get_by_role("button", name="Verify")
    assert verify.is_disabled()
    reason = page.locator("#why").inner_text()
    assert "Your organisation proposed this indicator" in reason
    assert verify.get_attribute("aria-describedby") == "why"
    shoot(page, "indicator-pending", tmp_path)
    page.context.close()
    page = signed_in_page(browser, live, "paula")  # a reviewer of the partner centre
    page.goto(f"/app/indicators/{ind.id}")
    page.get_by_role("button", name="Verify").click()
    assert "is now Active" in page.get_by_role("status").inner_text()
    assert page.locator("#status").inner_text() == "Active"
    assert page.locator("tr.log-entry").count() == 2
    assert page.locator("tr.log-entry .ok").count() == 2  # both inclusion proofs check out
    shoot(page, "indicator-active", tmp_path)
    page.goto("/app/indicators?status=active")
    assert page.locator(f"a[href='/app/indicators/{ind.id}']").count() == 1
    shoot(page, "indicators", tmp_path)
    page.context.close()


def test_authority_inbox_and_scope(browser: Any, live: Live, tmp_path: Path) -> None:
    page = signed_in_page(browser, live, "dieter", locale="de-DE")
    assert page.url.endswith("/app/inbox")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("table.inbox tbody tr").count() == 3
    shoot(page, "inbox", tmp_path)
    report = live.workspace.reports[2]
    page.goto(f"/app/inbox/{report}")
    page.get_by_role("button", name="Empfang bestätigen").click()
    assert page.get_by_role("status").inner_text() == "Empfang bestätigt."
    # when, the German way (Dieter works in German)
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d UTC", page.locator("#acknowledged").inner_text())
    page.get_by_label("Informationen beim Anbieter anfordern").fill("Welcher Dienst?")
    page.get_by_role("button", name="Senden").click()
    assert "Welcher Dienst?" in page.content()
    page.get_by_role("textbox", name="Ergebnis", exact=True).fill("Ermittlungen eingeleitet")
    page.get_by_label("Benachrichtigung des Nutzers aufschieben (Tage, optional)").fill("90")
    page.get_by_role("button", name="Rückmeldung speichern").click()
    assert page.locator("#feedback").inner_text() == "Ermittlungen eingeleitet"
    assert page.locator("#delayed").is_visible()
    shoot(page, "inbox-report", tmp_path)
    # The review pages are not the authority's.
    assert page.goto("/app/review").status == 403
    page.context.close()
    page = signed_in_page(browser, live, "francoise")  # France: nothing routed there
    assert "No reports have been routed to you." in page.content()
    assert page.goto(f"/app/inbox/{report}").status == 404
    page.context.close()


def test_public_report_and_classification(browser: Any, live: Live, tmp_path: Path) -> None:
    context = browser.new_context(base_url=live.base, locale="en-GB")
    page = context.new_page()
    page.goto("/")  # the public's way in: what this is, and the public forms
    shoot(page, "home", tmp_path)
    page.get_by_role("link", name="Complain about a removal").click()
    shoot(page, "complaint", tmp_path)
    page.go_back()
    page.get_by_role("link", name="Report something, or get help now").click()
    assert page.url == f"{live.base}/report"
    shoot(page, "report-channel", tmp_path)
    page.get_by_role("link", name="I saw pictures or videos of a child being abused at a web "
                                   "address").click()
    page.wait_for_url(f"{live.base}/report/url")
    shoot(page, "report-url", tmp_path)
    page.get_by_label("Web address (URL)").fill("http://hosting.invalid/gallery/17.jpg")
    page.get_by_label("Anything that helps us find it (optional)").fill("linked from a forum")
    page.get_by_role("button", name="Send report").click()
    assert "Your report was received" in page.locator("#received").inner_text()
    context.close()
    page = signed_in_page(browser, live, "rita")
    page.goto("/app/takedown")
    assert "http://hosting.invalid/gallery/17.jpg" in page.content()
    shoot(page, "takedown", tmp_path)
    choice = page.locator("form.classify select").first
    assert choice.input_value() == ""  # nothing chosen in advance
    page.get_by_role("button", name="Decide").first.click()  # the browser refuses: choose first
    assert choice.evaluate("e => e.validity.valueMissing") and page.url.endswith("/app/takedown")
    choice.select_option("illegal_international")
    page.get_by_role("button", name="Decide").first.click()
    assert page.get_by_role("heading", name="Confirm the classification").is_visible()
    shoot(page, "takedown-confirm", tmp_path)
    page.get_by_role("button", name="Yes, classify and send the notice").click()
    assert "classified as illegal (international baseline)" in page.get_by_role("status").inner_text()
    assert page.locator("table.notices tbody tr").count() == 1
    page.goto("/app/takedown/figures")
    assert page.locator("#tile-notices").inner_text() == "1"
    shoot(page, "takedown-figures", tmp_path)
    page.context.close()


BBOXES = """() => [...document.querySelectorAll('svg')].flatMap(svg => {
  const [, , w, h] = svg.getAttribute('viewBox').split(' ').map(Number);
  return [...svg.querySelectorAll('text')].map(t => {
    const b = t.getBBox();
    return {text: t.textContent, x: b.x, y: b.y, right: b.x + b.width, bottom: b.y + b.height, w, h};
  });
})"""


def _outside(boxes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in boxes if b["x"] < -0.5 or b["right"] > b["w"] + 0.5
            or b["y"] < -0.5 or b["bottom"] > b["h"] + 0.5]


def test_chart_labels_fit_inside_their_charts(browser: Any, live: Live) -> None:
    """Measured by the browser with its own fonts: no label or figure is clipped."""
    from tests.test_charts import LONG
    from vigil.charts import bar_chart, grouped_bars_svg

    page = signed_in_page(browser, live, "rita")
    page.goto("/app/?lang=de")  # German labels are the long ones
    boxes = page.evaluate(BBOXES)
    assert len(boxes) >= 8 and _outside(boxes) == []
    page.set_content(str(bar_chart("Notices sent, by host", LONG)) + grouped_bars_svg(
        "Recall after everyday edits, plain PDQ against robust matching, at distance 31 or less",
        ["mirror", "caption (a long line of text across the bottom)", "rotate 2°"],
        {"plain PDQ": [0.0, 0.14, 0.05], "robust": [1.0, 0.95, 0.91]}))
    boxes = page.evaluate(BBOXES)
    assert len(boxes) >= 15 and _outside(boxes) == []
    page.context.close()


def test_a_new_officer_sets_up_the_second_factor_first(browser: Any, live: Live,
                                                       tmp_path: Path) -> None:
    """An account whose role sees reports opens nothing before it has an authenticator: the
    enrolment page shows the secret, takes a first code, then the recovery codes once."""
    from tests.fixtures.workspace import PASSWORD, fresh_code
    from vigil.db import transaction
    from vigil.orgs import accounts

    with transaction(live.factory) as s:
        org = live.workspace.world.principals["authority_de"].organisation_id
        accounts.create_account(s, None, org, "greta", "officer", password=PASSWORD,
                                locale="de")
    context = browser.new_context(base_url=live.base, locale="de-DE")
    page = context.new_page()
    page.goto("/app/login")
    page.get_by_label("Benutzername").fill("greta")
    page.locator("#password").fill(PASSWORD)
    page.locator("form.login button[type=submit]").click()
    assert page.url.endswith("/app/login/enrol")
    assert page.get_by_role("heading").inner_text() == "Zweiten Faktor einrichten"
    assert page.locator(".qr svg").count() == 1
    shoot(page, "enrol", tmp_path)
    page.goto("/app/inbox")  # nothing else opens: back to the enrolment, the inbox kept as next
    assert page.url.endswith("/app/login/enrol?next=/app/inbox")
    secret = page.locator("#totp-secret").inner_text()
    page.locator("#code").fill(fresh_code(live.factory, "greta", secret))
    page.get_by_role("button", name="Bestätigen").click()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    accessible(page)
    page.get_by_role("link", name="Weiter").click()
    assert page.url.endswith("/app/inbox") and page.get_by_role("heading").count() >= 1
    context.close()
