"""The pages' languages: gettext catalogues (Babel) for the 24 official languages of the EU, and
how a request picks one.

* **Catalogues.** The source language is English: every text in a template or a page module is
  an English ``msgid`` (``_('…')``, ``ngettext``, ``pgettext`` where one English word needs two
  translations). ``locale/messages.pot`` is what the code says (``vigil i18n extract`` writes
  it; a test extracts again and compares, so a new string cannot be forgotten) and
  ``locale/<lang>/LC_MESSAGES/messages.po`` is each language's translation. The ``.po`` files
  are compiled in memory the first time a language is used (no ``.mo`` in the tree, no build
  step to forget); a string a language lacks falls back to English, and ``vigil i18n missing``
  lists what each language lacks. Plural rules are CLDR's, through Babel.
* **Choice.** ``?lang=xx`` on any page, then (workspace only) the language cookie that the
  switcher sets under ``/app`` and the account's own setting, then the browser's
  ``Accept-Language``; English otherwise. A language is offered once its catalogue translates
  something. Public pages never set or read a cookie for it: their links carry ``?lang=``.
* **Formats.** Dates, times and numbers are written the locale's way (``babel.dates``,
  ``babel.numbers``), always in UTC, which the page says.

How to add a language: ``docs/i18n.md``.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time, get_day_names
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

SOURCE = "en"

#: The 24 official languages of the EU, by ISO 639-1 code, each named in itself.
LANGUAGES: dict[str, str] = {
    "bg": "български", "cs": "čeština", "da": "dansk", "de": "Deutsch", "el": "ελληνικά",
    "en": "English", "es": "español", "et": "eesti", "fi": "suomi", "fr": "français",
    "ga": "Gaeilge", "hr": "hrvatski", "hu": "magyar", "it": "italiano", "lt": "lietuvių",
    "lv": "latviešu", "mt": "Malti", "nl": "Nederlands", "pl": "polski", "pt": "português",
    "ro": "română", "sk": "slovenčina", "sl": "slovenščina", "sv": "svenska",
}

#: Languages held complete by the tests (every string translated, placeholders kept).
COMPLETE = ("en", "de", "fr")


def N_(message: str) -> str:
    """Marks a text for extraction where it is translated later (a table of labels)."""
    return message


#: Values that pages show as words: a status, an assessment, a classification. Unknown values
#: are shown as they are (a status a newer version added reads as itself, never as an error).
LABELS: dict[str, dict[str, str]] = {
    "status": {"open": N_("open"), "submitted": N_("submitted"),
               "awaiting_review": N_("awaiting review"), "forwarded": N_("forwarded"),
               "manifestly_unfounded": N_("manifestly unfounded"),
               "retracted": N_("retracted")},
    "assessment": {"known_material": N_("known material"),
                   "unverified_match": N_("unverified match (held for review)"),
                   "new_material": N_("new material"), "solicitation": N_("solicitation"),
                   "manifestly_unfounded": N_("manifestly unfounded")},
    "concerns": {"known_material": N_("known material"), "new_material": N_("new material"),
                 "solicitation": N_("solicitation")},
    "decision": {"material": N_("Material: propose its hashes as indicators"),
                 "not_material": N_("Not material"),
                 "needs_information": N_("Ask the provider for information")},
    "ind": {"pending": N_("Pending"), "active": N_("Active"), "retracted": N_("Retracted"),
            "rejected": N_("Rejected"), "quarantined": N_("Quarantined")},
    "td": {"illegal_international": N_("illegal (international baseline)"),
           "illegal_national": N_("illegal nationally"), "not_illegal": N_("not illegal"),
           "open": N_("open"), "removed": N_("removed"), "closed": N_("closed"),
           "escalated": N_("escalated"), "reupload": N_("re-upload")},
    "detail": {"urls": N_("URLs"), "users": N_("Users involved"), "user_ids": N_("User IDs"),
               "screen_names": N_("Screen names"), "emails": N_("E-mail addresses"),
               "ips": N_("IP addresses"), "ip": N_("Address"), "at": N_("At"),
               "port": N_("Port"), "device_ids": N_("Device IDs"),
               "declared_country": N_("Declared country"),
               "is_child_victim": N_("Child victim"),
               "reported_elsewhere": N_("Reported elsewhere"), "authority": N_("Authority"),
               "country": N_("Country"), "reference": N_("Reference"),
               "other_data": N_("Other information")},
    "complaint": {"open": N_("Received; waiting for the reviewers."),
                  "disputed": N_("The reviewers disagreed; a third person decides."),
                  "upheld": N_("Upheld: the hash was withdrawn and the services were told."),
                  "rejected": N_("Not upheld: the reviewers found the removal right.")},
    "source": {"public": N_("the public"), "hotline": N_("a hotline"),
               "crawler": N_("proactive search"),
               "referral": N_("a partner hotline (referral)")},
    "event": {"opened": N_("opened"), "baseline": N_("content recorded"),
              "sent_email": N_("sent by e-mail"), "sent_webhook": N_("sent by webhook"),
              "send_failed": N_("sending failed"),
              "recheck_present": N_("re-check: still there"),
              "recheck_failed": N_("re-check failed"), "removed": N_("removed"),
              "escalated": N_("escalated to the authority"), "closed": N_("closed"),
              "authority_informed": N_("passed to the authority (victim identification)"),
              "authority_unknown": N_("no authority to inform"),
              "held_for_referral": N_("held: the partner hotline in the host's country sends "
                                      "the notice")},
    "referral": {"not_referred": N_("not referred"), "pending": N_("waiting for delivery"),
                 "acknowledged": N_("acknowledged"), "assessed": N_("assessed by the partner"),
                 "removed": N_("removed"), "declined": N_("declined by the partner"),
                 "closed": N_("closed")},
    "kind": {"programme": N_("Programme"), "resource": N_("Resource"),
             "working_group": N_("Working group")},
    "target": {"may_offend": N_("People who fear they may offend"),
               "offended": N_("People who have offended"),
               "children": N_("Children and young people"),
               "parents": N_("Parents and carers"), "professionals": N_("Professionals")},
    "design": {"rct": N_("randomised controlled trial"),
               "quasi_experimental": N_("quasi-experimental study"),
               "pre_post": N_("before-and-after study"), "qualitative": N_("qualitative study"),
               "descriptive": N_("descriptive study (no comparison group)"),
               "none": N_("not evaluated")},
    "strength": {"strong": N_("strong"), "moderate": N_("moderate"), "limited": N_("limited"),
                 "none": N_("none")},
    "proposal": {"proposed": N_("waiting for the Centre"), "approved": N_("published"),
                 "rejected": N_("rejected")},
    "revision": {"seeded": N_("published from the Centre's public sources"),
                 "approved": N_("published after review")},
    "age": {"lt1h": N_("under 1 hour"), "1to24h": N_("1 to 24 hours"),
            "1to7d": N_("1 to 7 days"), "gt7d": N_("over 7 days")},
}


def _locale_dir() -> Any:
    return resources.files("vigil.web").joinpath("locale")


def po_path(lang: str) -> Any:
    return _locale_dir().joinpath(lang, "LC_MESSAGES", "messages.po")


def template_path() -> Any:
    return _locale_dir().joinpath("messages.pot")


@cache
def catalogue(lang: str) -> Catalog | None:
    """The language's ``.po`` as read (``None`` for English, the source, or a language with
    no file). Raises whatever Babel raises for a broken file: the tests read every one."""
    if lang == SOURCE or lang not in LANGUAGES:
        return None
    path = po_path(lang)
    if not path.is_file():
        return None
    with path.open("rb") as f:
        return read_po(f, locale=lang, domain="messages")


@cache
def translations(lang: str) -> NullTranslations:
    """The language's translations, compiled in memory; English for English and for a
    language without a catalogue. A message without a translation (empty or fuzzy) is not
    compiled in, so gettext falls back to its English ``msgid``."""
    cat = catalogue(lang)
    if cat is None:
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, cat, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def _translated(message: Any) -> bool:
    if not message.id or message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return all(strings)


@cache
def offered() -> tuple[str, ...]:
    """The languages a visitor can pick: English and every language whose catalogue
    translates at least one text (the rest of its texts fall back to English)."""
    have = [code for code in LANGUAGES if code == SOURCE or (
        (cat := catalogue(code)) is not None and any(_translated(m) for m in cat))]
    return tuple(have)


def missing(lang: str) -> list[str]:
    """The English texts ``lang`` does not translate yet, in catalogue order (all of them for a
    language without a catalogue; none for English)."""
    if lang == SOURCE:
        return []
    with template_path().open("rb") as f:
        wanted = read_po(f)
    cat = catalogue(lang)
    out = []
    for m in wanted:
        if not m.id:
            continue
        have = cat.get(m.id, context=m.context) if cat else None
        if have is None or not _translated(have):
            key = m.id if isinstance(m.id, str) else m.id[0]
            out.append(key if m.context is None else f"{m.context}|{key}")
    return out


def pick_language(query: str | None, cookie: str | None, account: str | None,
                  accept: str | None) -> str:
    """The first offered language among ``?lang=``, the workspace cookie, the account's
    setting and the browser's ``Accept-Language`` (in its order of preference, ``q=0``
    excluded); English otherwise."""
    langs = offered()
    for candidate in (query, cookie, account):
        if candidate in langs:
            return candidate
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept or "")[:1000].split(",")[:50]):
        code, _, params = part.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, code.strip().lower()[:2]))
    for negative_q, _i, code in sorted(ranked):
        if negative_q < 0 and code in langs:
            return code
    return SOURCE


# -- the translator a request uses ------------------------------------------------------------

@dataclass(frozen=True)
class Translator:
    """Texts, labels, dates and numbers in one language. ``%(name)s`` placeholders are
    filled from keyword arguments after translation."""

    lang: str

    @property
    def _t(self) -> NullTranslations:
        return translations(self.lang)

    def gettext(self, message: str, **params: object) -> str:
        # Always a format string, as in the templates (Jinja2's new-style gettext): a
        # literal per cent sign is written %% everywhere.
        return self._t.gettext(message) % params

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        """The plural form for ``n`` (CLDR's rule for the language); ``%(num)s`` is ``n``."""
        text = self._t.ngettext(singular, plural, n)
        return text % {"num": self.number(n), **params}

    def pgettext(self, context: str, message: str, **params: object) -> str:
        return str(self._t.pgettext(context, message)) % params

    def label(self, group: str, value: object) -> str:
        """A status or a category as a word; an unknown one as it is."""
        english = LABELS.get(group, {}).get(str(value))
        return self.gettext(english) if english else str(value)

    def plural_forms(self, singular: str, plural: str) -> dict[str, str]:
        """Every plural form of a text by CLDR category (``one``, ``few``, ``other``…), for
        a script that picks one with the browser's ``Intl.PluralRules``; ``%(num)s`` stays
        in the text for the script to fill."""
        locale = Locale.parse(self.lang)
        forms: dict[str, str] = {}
        for n in [*range(0, 200), 1000, 1_000_000, 1_500_000]:  # "many" is about millions
            category = locale.plural_form(n)
            if category not in forms:
                forms[category] = self._t.ngettext(singular, plural, n)
        # Some languages' "other" is for fractions only (Polish): a count never needs it, but a
        # script falls back on it, so it is always there.
        forms.setdefault("other", self._t.ngettext(singular, plural, 5))
        return forms

    @property
    def locale(self) -> Locale:
        return _format_locale(self.lang)

    def country(self, code: str) -> str:
        """A country's name in the page's language (``DE`` → ``Allemagne``)."""
        return str(self.locale.territories.get(code.upper(), code))

    def number(self, value: float | int) -> str:
        return format_decimal(value, locale=self.locale)

    def datetime(self, when: dt.datetime | None) -> str:
        """A moment as the locale writes it, to the minute, in UTC (``-`` for none):
        ``30 Nov 2026, 09:05 UTC``, ``30.11.2026, 09:05 UTC``."""
        if when is None:
            return "-"
        when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
        return (format_date(when, format="medium", locale=self.locale) + ", "
                + format_time(when, format="short", tzinfo=UTC, locale=self.locale) + " UTC")

    def date(self, day: dt.date | dt.datetime | None) -> str:
        """A day as the locale writes it in full: ``30 November 2026``."""
        if day is None:
            return "-"
        return format_date(day, format="long", locale=self.locale)

    def opening(self, days: tuple[int, ...], start: str, end: str) -> str:
        """Opening hours as the locale writes them: ``Monday-Saturday, 14:00-20:00`` (with en dashes); runs of
        consecutive days are joined with a dash (days: 0 = Monday)."""
        names = get_day_names("wide", locale=self.locale)
        runs: list[list[int]] = []
        for d in days:
            if runs and d == runs[-1][-1] + 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        text = ", ".join(names[r[0]] if len(r) == 1 else f"{names[r[0]]}\u2013{names[r[-1]]}"
                         for r in runs)
        return self.gettext("%(days)s, %(start)s\u2013%(end)s (local time)", days=text,
                            start=start, end=end)

    def duration(self, seconds: float) -> str:
        s = max(0, int(seconds))
        d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
        if d:
            return self.gettext("%(d)s d %(h)s h", d=d, h=h)
        if h:
            return self.gettext("%(h)s h %(m)s min", h=h, m=m)
        return self.gettext("%(m)s min", m=m)

    def since(self, when: dt.datetime | None, at: dt.datetime | None = None) -> str:
        if when is None:
            return "-"
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return self.duration(((at or dt.datetime.now(UTC)) - when).total_seconds())


@cache
def _format_locale(lang: str) -> Locale:
    # Babel's "en" writes dates the American way; the Centre's English is the EU's (en_IE:
    # day month year, 24-hour clock).
    return Locale.parse("en_IE" if lang == SOURCE else lang)


def translator(lang: str) -> Translator:
    return Translator(lang if lang in LANGUAGES else SOURCE)


# -- templates: Jinja2's i18n extension on the translator of the page being rendered ----------

_current: ContextVar[Translator | None] = ContextVar("vigil_translator", default=None)


def current() -> Translator:
    """The translator of the page being rendered (English outside a page)."""
    return _current.get() or Translator(SOURCE)


@contextmanager
def rendering_in(tr: Translator) -> Iterator[None]:
    """Templates rendered inside this block speak ``tr``'s language."""
    token = _current.set(tr)
    try:
        yield
    finally:
        _current.reset(token)


def install(env: Any) -> None:
    """Give a Jinja2 environment (with ``jinja2.ext.i18n``) gettext callables that follow the
    page being rendered, in the extension's "new style": ``_('Hello %(name)s', name=x)``,
    with the values escaped."""

    def gettext(message: str) -> str:
        return current()._t.gettext(message)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return current()._t.ngettext(singular, plural, n)

    def pgettext(context: str, message: str) -> str:
        return str(current()._t.pgettext(context, message))

    def npgettext(context: str, singular: str, plural: str, n: int) -> str:
        return current()._t.npgettext(context, singular, plural, n)

    env.install_gettext_callables(gettext, ngettext, newstyle=True, pgettext=pgettext,
                                  npgettext=npgettext)


def template_helpers(tr: Translator) -> dict[str, Callable[..., Any]]:
    """What every template may call besides ``_``: labels, formats, plural forms as data."""
    return {"label": tr.label, "since": tr.since, "fmt_number": tr.number,
            "fmt_date": tr.date, "fmt_datetime": tr.datetime, "plural_forms": tr.plural_forms,
            "opening": tr.opening, "country_name": tr.country}
