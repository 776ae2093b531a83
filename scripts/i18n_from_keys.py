#!/usr/bin/env python3
"""Move pages written against the old key dictionary (``t('home.title')`` with ``EN``/``DE``
dicts in ``web/i18n.py``) onto the gettext catalogues — the tool that moved vigil itself, kept
for templates written in parallel with that move (decision 0026).

    # 1. rewrite templates: t('pub.title') -> _('Report a web address'),
    #    t('td.' ~ x) -> label('td', x), {name} -> %(name)s
    python scripts/i18n_from_keys.py rewrite OLD_I18N.py src/vigil/web/templates/x.html ...
    # 2. extract, so the .po files know the new English texts
    vigil i18n extract
    # 3. carry the old dictionaries' translations (DE, ...) into the .po files
    python scripts/i18n_from_keys.py merge OLD_I18N.py
    vigil i18n missing

OLD_I18N.py is the old module (``git show REV:src/vigil/web/i18n.py > old.py``): its ``EN``
dict gives the English ``msgid`` and every other two-letter upper-case dict a translation. A
key whose English text another key shares with a different translation gets a ``pgettext``
context (its key's prefix). Python code (``translate(lang, "key")``) is left to a person:
the script lists each such call.
"""

from __future__ import annotations

import re
import runpy
import sys
from collections import defaultdict
from pathlib import Path

T_CALL = re.compile(r"""\bt\('([a-z0-9_]+\.[a-z0-9_.]+|yes|no)'(\s*,[^()]*)?\)""")
T_DYNAMIC = re.compile(r"""\bt\('([a-z_]+)\.'\s*~\s*([^)]+)\)""")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def load(path: str) -> dict[str, dict[str, str]]:
    module = runpy.run_path(path)
    return {name.lower(): value for name, value in module.items()
            if re.fullmatch(r"[A-Z]{2}", name) and isinstance(value, dict)}


def contexts(dicts: dict[str, dict[str, str]]) -> dict[str, str | None]:
    """Each key's gettext context: none, unless its English text stands for two texts."""
    english = dicts["en"]
    by_text: dict[str, list[str]] = defaultdict(list)
    for key, text in english.items():
        by_text[text].append(key)
    out: dict[str, str | None] = dict.fromkeys(english)
    for keys in by_text.values():
        if len(keys) < 2:
            continue
        for table in dicts.values():
            if len({table.get(k) for k in keys}) > 1:
                # the first key keeps the plain msgid; the others get their prefix
                for k in keys[1:]:
                    out[k] = k.split(".", 1)[0]
                break
    return out


def msgid(text: str) -> str:
    return PLACEHOLDER.sub(r"%(\1)s", text.replace("%", "%%"))


def quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def rewrite(old: str, files: list[str]) -> int:
    dicts = load(old)
    english, ctx = dicts["en"], contexts(dicts)
    left = 0
    for name in files:
        path = Path(name)
        source = path.read_text("utf-8")

        def call(m: re.Match[str], name: str = name) -> str:
            key, params = m.group(1), m.group(2) or ""
            if key not in english:
                raise SystemExit(f"{name}: {key} is not in the old EN dictionary")
            text = quoted(msgid(english[key]))
            if ctx[key]:
                return f"pgettext({quoted(ctx[key] or '')}, {text}{params})"
            return f"_({text}{params})"

        new = T_CALL.sub(call, source)
        new = T_DYNAMIC.sub(lambda m: f"label({quoted(m.group(1))}, {m.group(2).strip()})", new)
        for line_no, line in enumerate(new.splitlines(), 1):
            if re.search(r"\bt\(", line):
                print(f"{name}:{line_no}: left for a person: {line.strip()}")
                left += 1
        if new != source:
            path.write_text(new, "utf-8")
    return left


def merge(old: str, locale_dir: str = "src/vigil/web/locale") -> None:
    from babel.messages.pofile import read_po, write_po

    dicts = load(old)
    english, ctx = dicts["en"], contexts(dicts)
    for lang, table in dicts.items():
        if lang == "en":
            continue
        po = Path(locale_dir) / lang / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as f:
            catalog = read_po(f, locale=lang)
        filled = 0
        for key, translated in table.items():
            message = catalog.get(msgid(english[key]), context=ctx.get(key))
            if message is not None and not message.string:
                message.string = msgid(translated)
                filled += 1
        with po.open("wb") as f:
            write_po(f, catalog, width=100)
        print(f"{lang}: {filled} translations carried over")


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "rewrite":
        return 1 if rewrite(argv[1], argv[2:]) else 0
    if len(argv) >= 2 and argv[0] == "merge":
        merge(argv[1], *argv[2:3])
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
