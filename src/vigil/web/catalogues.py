"""The gettext catalogues' upkeep: extract the English texts from the pages' code and templates
(Babel's Python extractor, Jinja2's own extractor), write ``locale/messages.pot``, bring every
language's ``.po`` up to date with it, and say what each language still lacks.

``vigil i18n extract`` and ``vigil i18n missing`` call this; a test extracts again and
compares with the committed ``messages.pot``, so a text added to a page without extraction
fails the tests. Reasons: decision 0026.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from vigil.web import i18n

#: Where the texts live: the page modules and the templates (the ``locale`` folder is data).
METHODS: list[tuple[str, Any]] = [("locale/**", "ignore"), ("static/**", "ignore"), ("**.py", "python"),
           ("templates/**.html", "jinja2.ext:babel_extract")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n,jinja2.ext.do",
                                 "trim_blocks": "true", "lstrip_blocks": "true"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
            "npgettext": ((1, "c"), 2, 3), "N_": None, "plural_forms": (1, 2)}
WIDTH = 100
#: The catalogues' dates are fixed, so that extracting twice changes nothing.
STAMP = datetime(2026, 11, 30, tzinfo=UTC)


def web_dir() -> Path:
    return Path(i18n.__file__).parent


def extract() -> Catalog:
    """The English texts the code uses now, with where each is used (file names only: line
    numbers would make every edit a catalogue change)."""
    catalog = Catalog(project="vigil", version="1", copyright_holder="vigil",
                      msgid_bugs_address="", fuzzy=False, header_comment=HEADER,
                      creation_date=STAMP, revision_date=STAMP)
    root = web_dir()
    for filename, _lineno, message, comments, context in extract_from_dir(
            str(root), method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS,
            comment_tags=("Translators:",), strip_comment_tags=True):
        flags = {"python-format"} if "%(" in (message if isinstance(message, str)
                                               else message[0]) else set()
        catalog.add(message, None, [(filename, None)],  # type: ignore[list-item]
                    auto_comments=comments,
                    context=context, flags=flags)
    return catalog


HEADER = """# The English texts of vigil's pages (the source language).
# Written by `vigil i18n extract`; translate in locale/<lang>/LC_MESSAGES/messages.po.
#"""


def render(catalog: Catalog, *, omit_header: bool = False) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=WIDTH, sort_output=False, omit_header=omit_header,
             include_lineno=False)
    return out.getvalue()


def committed_template() -> Catalog:
    with i18n.template_path().open("rb") as f:
        return read_po(f)


def write_all(locale_dir: Path | None = None) -> dict[str, tuple[int, int]]:
    """Write ``messages.pot`` from the code, and update (or create) every EU language's
    ``.po`` from it: new texts are added untranslated, texts the code no longer uses are
    dropped (Babel keeps them as obsolete ``#~`` entries). Returns, per language,
    (translated, total)."""
    base = locale_dir or web_dir() / "locale"
    template = extract()
    base.mkdir(parents=True, exist_ok=True)
    (base / "messages.pot").write_bytes(render(template))
    counts: dict[str, tuple[int, int]] = {}
    for lang in i18n.LANGUAGES:
        if lang == i18n.SOURCE:
            continue
        path = base / lang / "LC_MESSAGES" / "messages.po"
        if path.is_file():
            with path.open("rb") as f:
                catalog = read_po(f, locale=lang)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=lang, project="vigil", version="1",
                              copyright_holder="vigil", msgid_bugs_address="", fuzzy=False,
                              creation_date=STAMP, revision_date=STAMP,
                              language_team=f"{i18n.LANGUAGES[lang]} <no team yet>")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        path.write_bytes(render(catalog))
        done = sum(1 for m in catalog if m.id and i18n._translated(m))
        counts[lang] = (done, sum(1 for m in catalog if m.id))
    i18n.catalogue.cache_clear()
    i18n.translations.cache_clear()
    i18n.offered.cache_clear()
    return counts


def problems(lang: str) -> list[str]:
    """Translations that would break a page: a placeholder missing or added (``%(name)s``)."""
    import re

    cat = i18n.catalogue(lang)
    if cat is None:
        return []
    out = []
    pattern = re.compile(r"%\((\w+)\)s")
    for m in cat:
        if not m.id or not i18n._translated(m):
            continue
        ids = m.id if isinstance(m.id, tuple | list) else (m.id,)
        strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
        wanted = set(pattern.findall(str(ids[-1]))) | ({"num"} if len(ids) > 1 else set())
        for s in strings:
            have = set(pattern.findall(s or ""))
            # a singular form may leave out %(num)s ("one file"), never invent one
            if have - wanted or (wanted - {"num"}) - have:
                out.append(f"{lang}: {ids[0]!r}: placeholders {sorted(have)} != {sorted(wanted)}")
    return out
