"""The pages' languages: the catalogues agree with the code, English, German and French are
complete, every EU language has its catalogue, a missing text falls back to English, plurals
follow CLDR, dates and numbers are the locale's, and the choice never rests on a cookie in
public."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from vigil.cli import app as cli
from vigil.web import catalogues, i18n
from vigil.web.i18n import COMPLETE, LANGUAGES, Translator, pick_language


def test_the_committed_catalogue_is_what_the_code_says() -> None:
    """A text added to a page (or removed from one) without ``vigil i18n extract`` fails here:
    nothing can be forgotten by the translators."""
    extracted = catalogues.render(catalogues.extract(), omit_header=True).decode()
    committed = catalogues.render(catalogues.committed_template(), omit_header=True).decode()
    if extracted != committed:
        new = {m.id for m in catalogues.extract()} - {m.id for m in catalogues.committed_template()}
        gone = {m.id for m in catalogues.committed_template()} - {m.id for m in catalogues.extract()}
        pytest.fail(f"run `vigil i18n extract`: new texts {sorted(map(str, new))[:5]}, "
                    f"texts no longer used {sorted(map(str, gone))[:5]}")
    assert len(catalogues.committed_template()) > 300


def test_every_eu_language_has_a_catalogue_of_every_text() -> None:
    assert len(LANGUAGES) == 24
    wanted = {(m.id if isinstance(m.id, str) else m.id[0], m.context)
              for m in catalogues.committed_template() if m.id}
    for lang in LANGUAGES:
        if lang == i18n.SOURCE:
            continue
        path = i18n.po_path(lang)
        with path.open("rb") as f:
            cat = read_po(f, locale=lang)
        have = {(m.id if isinstance(m.id, str) else m.id[0], m.context) for m in cat if m.id}
        assert have == wanted, lang
        # canonical form: `vigil i18n extract` would not change the file
        assert catalogues.render(cat) == path.read_bytes(), lang


@pytest.mark.parametrize("lang", COMPLETE)
def test_complete_languages_translate_everything_with_the_same_placeholders(lang: str) -> None:
    assert i18n.missing(lang) == []
    assert catalogues.problems(lang) == []


def test_the_other_languages_list_what_is_missing_and_fall_back_to_english() -> None:
    gaps = i18n.missing("it")
    assert "Report a web address" in gaps and len(gaps) == len(i18n.missing("pl")) > 300
    assert Translator("it").gettext("Report a web address") == "Report a web address"
    assert Translator("fr").gettext("Report a web address") == "Signaler une adresse web"
    # an unknown language is English; an unknown label is shown as it is
    assert Translator("xx").gettext("Sign in") == "Sign in"
    assert Translator("de").label("status", "forwarded") == "weitergeleitet"
    assert Translator("de").label("status", "something_new") == "something_new"


def test_vigil_i18n_missing_lists_each_language() -> None:
    result = CliRunner().invoke(cli, ["i18n", "missing"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert lines["de (Deutsch)"] == lines["fr (français)"] == lines["en (English)"] == "complete"
    assert re.fullmatch(r"\d+ missing", lines["it (italiano)"])
    full = CliRunner().invoke(cli, ["i18n", "missing", "--lang", "mt", "--full"])
    assert "  Report a web address" in full.output.splitlines()
    bad = CliRunner().invoke(cli, ["i18n", "missing", "--lang", "xx"])
    assert bad.exit_code == 2 and "not an official EU language code" in bad.output


def test_a_broken_placeholder_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    cat = i18n.catalogue("fr")
    assert cat is not None
    message = cat.get("Indicator %(id)s is now %(status)s.")
    assert message is not None
    monkeypatch.setattr(message, "string", "L'indicateur %(ident)s est %(status)s.")
    problems = catalogues.problems("fr")
    assert len(problems) == 1 and "Indicator %(id)s" in problems[0]


def test_plural_forms_follow_each_languages_rules() -> None:
    one = "Fingerprints of %(num)s picture or video ready. Nothing has been sent yet."
    many = "Fingerprints of %(num)s pictures or videos ready. Nothing has been sent yet."
    assert Translator("en").ngettext(one, many, 1).startswith("Fingerprints of 1 picture ")
    assert Translator("de").ngettext(one, many, 2).startswith("Fingerabdrücke von 2 Bildern")
    assert Translator("de").ngettext(one, many, 1).startswith("Fingerabdruck von 1 Bild ")
    # French: 0 and 1 are singular; numbers are written the French way
    assert Translator("fr").ngettext(one, many, 0).startswith("Empreinte de 0 image ")
    assert Translator("fr").ngettext(one, many, 1200).startswith("Empreintes de 1\u202f200 images")
    forms = Translator("fr").plural_forms(one, many)
    assert set(forms) == {"one", "many", "other"}
    assert set(Translator("pl").plural_forms(one, many)) == {"one", "few", "many", "other"}


def test_dates_and_numbers_are_the_locales() -> None:
    when = datetime(2026, 11, 30, 9, 5, tzinfo=UTC)
    assert Translator("en").datetime(when) == "30 Nov 2026, 09:05 UTC"
    assert Translator("de").datetime(when) == "30.11.2026, 09:05 UTC"
    assert Translator("fr").datetime(when) == "30 nov. 2026, 09:05 UTC"
    assert Translator("de").date(when) == "30. November 2026"
    assert Translator("de").number(12345.5) == "12.345,5"
    assert Translator("en").datetime(None) == "-"
    assert Translator("de").duration(3 * 86400 + 7200) == "3 T. 2 Std."


def test_language_choice() -> None:
    offered = i18n.offered()
    assert {"en", "de", "fr"} <= set(offered) and "it" not in offered  # nothing translated
    assert pick_language("fr", None, None, "de") == "fr"
    assert pick_language(None, None, None, "it-IT,it;q=0.9,fr;q=0.8,de;q=0.7") == "fr"
    assert pick_language(None, None, None, "de;q=0.5,fr;q=0.9") == "fr"  # by weight
    assert pick_language(None, None, None, "fr;q=0,de;q=0.1") == "de"  # q=0 means "not this"
    assert pick_language("xx", None, None, None) == "en"
    assert pick_language(None, "de", None, "fr") == "de"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=10)))
def test_any_accept_language_header_gives_an_offered_language(header: str,
                                                                query: str | None) -> None:
    assert pick_language(query, None, None, header) in i18n.offered()


def test_accounts_choose_among_the_complete_languages() -> None:
    from vigil.orgs.accounts import LOCALES

    assert set(LOCALES) == set(COMPLETE)
