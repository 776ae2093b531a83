"""The reporting channel (``/report``) over HTTP: plain choices, routing, the chosen country's
helplines with hours, the emergency number, the web-address flow, languages — and no cookie,
no echo of what a visitor typed. The browser side (quick exit, no history entry, keyboard
walk) is in test_channel_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import make_client
from vigil.victims import helplines
from vigil.web.render import SECURITY_HEADERS


@pytest.fixture
def public(db_url: str, data_dir: Path) -> Iterator[TestClient]:
    with make_client(db_url, data_dir, quick_exit_url="https://weather.example/") as c:
        yield c


def _choices(html: str) -> dict[str, str]:
    """What each choice sends: the POST form's buttons (name=what) and the web-address link."""
    found = dict(re.findall(r'id="(choice-[a-z_]+)" name="what" value="([a-z_]+)"', html))
    found.update(re.findall(r'id="(choice-url)" href="([^"]+)"', html))
    return found


def test_the_choices_and_where_each_leads(public: TestClient) -> None:
    r = public.get("/report")
    assert r.status_code == 200 and "Tell us what happened" in r.text
    assert "set-cookie" not in r.headers  # no account, no tracking
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    assert 'id="quick-exit"' in r.text and 'href="https://weather.example/"' in r.text
    assert "Call 112" in r.text  # the emergency number on every page of the channel
    # The choices are sent in a POST's body: the address the browser keeps does not show them.
    assert '<form method="post" action="/report/help" class="stay-private" id="choices-form">' in r.text
    choices = _choices(r.text)
    assert choices == {
        "choice-danger": "danger", "choice-pictures_asked": "pictures_asked",
        "choice-pictures_threat": "pictures_threat", "choice-online": "online",
        "choice-offline": "offline", "choice-url": "/report/url"}
    for name, what in choices.items():
        page = public.post("/report/help", data={"what": what}) if name != "choice-url" \
            else public.get(what)
        # the web-address form alone sets a cookie: its form token
        assert page.status_code == 200 and ("set-cookie" not in page.headers or name == "choice-url")
    assert "What happens next" in r.text
    assert "the addresses of these pages do not show it" in r.text


def test_the_help_page_keeps_every_choice_out_of_its_address(public: TestClient) -> None:
    """POST /report/help answers as GET does; its forms (country, age, language) post again to
    the bare address, carrying the choices in hidden fields."""
    posted = public.post("/report/help", data={"what": "pictures_threat", "country": "DE",
                                               "age": "child"})
    got = public.get("/report/help?what=pictures_threat&country=DE&age=child")
    assert posted.status_code == 200 and posted.text == got.text
    html = posted.text
    assert "Do not pay" in html and "Nummer gegen Kummer" in html
    forms = re.findall(r'<form method="post" action="([^"]*)"', html)
    assert forms and all(a in ("/report/help", "/help/remove") for a in forms), forms
    assert "/report/help?" not in html.replace('formaction="/report/help?lang=', "")
    # the language switcher posts the same choices, only the language in the address
    assert 'formaction="/report/help?lang=fr"' in html
    assert '<input type="hidden" name="what" value="pictures_threat">' in html
    fr = public.post("/report/help?lang=fr", data={"what": "pictures_threat", "country": "DE",
                                                   "age": "child"})
    assert '<html lang="fr">' in fr.text and "Nummer gegen Kummer" in fr.text
    assert 'name="age" value="adult"' in html  # "I am 18 or older", a button of its form
    # oversized or hostile fields fall back to the general page, nothing echoed
    bad = public.post("/report/help", data={"what": "<script>", "country": "A" * 5000,
                                            "age": '"><img'})
    assert bad.status_code == 200 and "You did the right thing" in bad.text
    assert "<script>" not in bad.text and "A" * 50 not in bad.text and "<img" not in bad.text


def test_each_situation_gets_its_own_plain_advice(public: TestClient) -> None:
    danger = public.get("/report/help?what=danger").text
    assert "Call 112 now." in danger
    asked = public.get("/report/help?what=pictures_asked").text
    assert "You never have to send pictures or videos of yourself" in asked
    threat = public.get("/report/help?what=pictures_threat&age=child").text
    assert "Do not pay" in threat
    # the removal flow, posted: the age is not in the address either
    assert re.search(r'<form method="post" action="/help/remove" class="stay-private" id="remove-form">'
                     r'<p><input type="hidden" name="age" value="child">', threat)
    adult = public.get("/report/help?what=pictures_threat&age=adult").text
    assert '<input type="hidden" name="age" value="adult"><button type="submit" class="link" id="go-remove">' in adult


def test_the_chosen_countrys_helplines_with_hours_phone_and_chat(public: TestClient) -> None:
    de = public.get("/report/help?what=online&country=DE", headers={"Accept-Language": "de"}).text
    assert '<html lang="de">' in de and "Nummer gegen Kummer" in de
    assert 'href="tel:116111"' in de and "Online-Chat" in de
    assert "Montag\u2013Samstag, 14:00\u201320:00 Uhr (Ortszeit)" in de
    assert '<option value="DE" selected>Deutschland</option>' in de
    ie = public.get("/report/help?what=online&country=ie").text  # any case
    assert "ISPCC Childline" in ie and "Open day and night, every day" in ie
    # A member state without a line of its own: the EU-wide number, and the page says so.
    it = public.get("/report/help?what=online&country=IT").text
    assert "116 111" in it and 'id="no-own-lines"' in it
    # Adults see the lines for adults too.
    adult = public.get("/report/help?what=online&country=DE&age=adult").text
    assert "Hilfetelefon Sexueller Missbrauch" in adult and "Nummer gegen Kummer" not in adult


def test_nothing_a_visitor_typed_comes_back(public: TestClient) -> None:
    for query in ("what=%3Cscript%3Ealert(1)%3C/script%3E", "country=%3Cb%3Ex",
                  "age=%22%3E%3Cimg", "what=url", "country=" + "A" * 5000):
        r = public.get(f"/report/help?{query}")
        assert r.status_code == 200
        assert "<script>alert" not in r.text and "<b>x" not in r.text and "<img" not in r.text
        assert "A" * 50 not in r.text
        assert "You did the right thing" in r.text  # the general page


def test_language_from_the_address_kept_in_the_links_never_in_a_cookie(public: TestClient) -> None:
    fr = public.get("/report?lang=fr")
    assert '<html lang="fr">' in fr.text and "Dis-nous ce qui s" in fr.text
    assert "set-cookie" not in fr.headers
    assert '<form method="post" action="/report/help?lang=fr" class="stay-private" id="choices-form">' in fr.text
    # The next page without ?lang= follows the browser again: no cookie carried it.
    assert '<html lang="de">' in public.get("/report", headers={"Accept-Language": "de"}).text
    help_fr = public.get("/report/help?what=online&country=FR&lang=fr").text
    assert '<form method="post" action="/report/help?lang=fr" class="inline stay-private" id="country-form">' \
        in help_fr
    assert "3018" in help_fr and "lundi\u2013dimanche, 09:00\u201323:00 (heure locale)" in help_fr


def test_the_web_address_flow_goes_to_the_hotline(public: TestClient) -> None:
    page = public.get("/report/url")
    assert page.status_code == 200 and 'action="/report"' in page.text
    (token,) = re.findall(r'name="csrf" value="([^"]+)"', page.text)
    r = public.post("/report", data={"url": "https://example.org/page", "csrf": token})
    assert r.status_code == 200 and 'id="received"' in r.text
    assert "An analyst of the Centre checks the address" in r.text  # what happens next
    bad = public.post("/report", data={"url": "ftp://x", "csrf": token})
    assert bad.status_code == 422 and 'id="report-error"' in bad.text
    assert 'id="quick-exit"' in bad.text


def test_every_helpline_names_its_public_source() -> None:
    lines = [line for rows in helplines.load().values() for line in rows]
    assert len(lines) >= 6
    for line in lines:
        assert line.source_url.startswith("https://") and line.source_read.year >= 2026, line.name


@pytest.mark.parametrize(("change", "problem"), [
    ('"source": {"url": "https://a.example/", "read": "2026-11-30"}', None),
    ('"source": {"read": "2026-11-30"}', "public source"),
    ('"source": {"url": "https://a.example/", "read": "yesterday"}', "date the source was read"),
    ('"source": {"url": "https://a.example/", "read": "2026-11-30"}, "for": "pets"', "'for' must"),
    ('"source": {"url": "https://a.example/", "read": "2026-11-30"}, '
     '"hours": [{"days": "fri-mon", "from": "09:00", "to": "17:00"}]', "run backwards"),
    ('"source": {"url": "https://a.example/", "read": "2026-11-30"}, '
     '"hours": [{"days": "mon", "from": "18:00", "to": "09:00"}]', "from before to"),
    ('"source": {"url": "https://a.example/", "read": "2026-11-30"}, "chat": "http://x"',
     "https"),
])
def test_a_broken_helpline_is_named(change: str, problem: str | None) -> None:
    text = '{"default": [{"name": "Line", "phone": "116 111", ' + change + "}]}"
    if problem is None:
        assert helplines.parse(text)["default"][0].name == "Line"
        return
    with pytest.raises(helplines.BadHelplines, match=re.escape(problem)) as info:
        helplines.parse(text)
    assert "default[0]" in str(info.value)
    with pytest.raises(helplines.BadHelplines, match="not JSON"):
        helplines.parse("{")


def test_the_removal_page_has_the_quick_exit_and_keeps_the_age_out_of_its_address(
        public: TestClient) -> None:
    posted = public.post("/help/remove", data={"age": "child"})
    assert posted.status_code == 200 and posted.text == public.get("/help/remove?age=child").text
    html = posted.text
    assert 'id="quick-exit"' in html and "Call 112" in html
    assert "?age=" not in html  # the age tabs and the language switcher post it
    assert '<button type="submit" class="link" name="age" value="adult">' in html
    assert 'formaction="/help/remove?lang=fr"' in html
    assert '<input type="hidden" name="age" value="child">' in html


def test_a_full_text_area_with_line_breaks_is_accepted_as_the_browser_counted_it(
        public: TestClient) -> None:
    """The browser's maxlength counts a line break once and sends it as CRLF: 4,000 characters
    with line breaks are accepted (stored with "\\n"); more than that, as the browser counts,
    is refused."""
    page = public.get("/report/url")
    (token,) = re.findall(r'name="csrf" value="([^"]+)"', page.text)
    text = ("x" * 24 + "\r\n") * 160  # 4,160 characters sent, 4,000 as the browser counts
    assert len(text.replace("\r\n", "\n")) == 4000 < len(text)
    r = public.post("/report", data={"url": "https://example.org/a", "csrf": token,
                                     "description": text})
    assert r.status_code == 200 and 'id="received"' in r.text, r.text[:300]
    over = public.post("/report", data={"url": "https://example.org/b", "csrf": token,
                                        "description": "x" * 4001})
    assert over.status_code == 422


def test_a_lost_form_token_gives_the_form_back_with_a_fresh_one_and_what_was_typed(
        public: TestClient) -> None:
    """A restarted browser loses the form's cookie: the 403 page keeps the address and the
    description and sets a new token, so that sending the form again works."""
    public.cookies.clear()
    r = public.post("/report", data={"url": "https://example.org/kept", "description": "typed",
                                     "csrf": "stale"})
    assert r.status_code == 403 and "vigil_report_csrf" in r.headers.get("set-cookie", "")
    assert 'value="https://example.org/kept"' in r.text and "typed" in r.text
    (token,) = re.findall(r'name="csrf" value="([^"]+)"', r.text)
    again = public.post("/report", data={"url": "https://example.org/kept", "csrf": token})
    assert again.status_code == 200 and 'id="received"' in again.text
