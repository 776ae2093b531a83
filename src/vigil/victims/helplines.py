"""The one list of helplines (``helplines.json``): by country, each with its phone number,
opening hours, chat, who it is for, and the public page it was read from. The victim pages,
the reporting channel (``/report``) and the prevention hub all read it here.

The file is the Centre's own reference data (written by the Centre, reviewed like code): it is
checked when loaded — a line without a public source, with malformed hours or an unknown
audience is an error naming the line, never shown.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

#: Who a line is for: children and young people, adults, or anyone.
AUDIENCES = ("child", "adult", "all")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([01]\d|2[0-4]):[0-5]\d")


class BadHelplines(ValueError):
    """``helplines.json`` breaks a rule; the message names the line and the rule."""


@dataclass(frozen=True)
class Opening:
    """Open on ``days`` (0 = Monday … 6 = Sunday) from ``start`` to ``end`` (local ``HH:MM``)."""

    days: tuple[int, ...]
    start: str
    end: str


@dataclass(frozen=True)
class Helpline:
    name: str
    phone: str
    audience: str
    url: str | None
    chat: str | None
    note: str | None
    #: ``None``: the source gives no hours; ``()`` with ``always``: day and night.
    hours: tuple[Opening, ...] | None
    always: bool
    source_url: str
    source_read: date
    source_how: str | None


def _days(spec: str, where: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise BadHelplines(f"{where}: days {spec!r}: use mon..sun, e.g. 'mon-fri' or 'mon,wed'")
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            raise BadHelplines(f"{where}: days {spec!r} run backwards")
        out.extend(range(a, b + 1))
    return tuple(sorted(set(out)))


def _line(raw: Any, where: str) -> Helpline:
    if not isinstance(raw, dict):
        raise BadHelplines(f"{where}: not an object")
    for field in ("name", "phone"):
        if not isinstance(raw.get(field), str) or not raw[field].strip():
            raise BadHelplines(f"{where}: {field} is missing")
    audience = raw.get("for", "all")
    if audience not in AUDIENCES:
        raise BadHelplines(f"{where}: 'for' must be one of {', '.join(AUDIENCES)}")
    source = raw.get("source")
    if not isinstance(source, dict) or not str(source.get("url", "")).startswith("https://"):
        raise BadHelplines(f"{where}: every line needs its public source (source.url, https)")
    try:
        read = date.fromisoformat(str(source.get("read")))
    except ValueError:
        raise BadHelplines(f"{where}: source.read must be the date the source was read "
                           "(YYYY-MM-DD)") from None
    for field in ("url", "chat"):
        if raw.get(field) is not None and not str(raw[field]).startswith("https://"):
            raise BadHelplines(f"{where}: {field} must be an https address")
    hours_raw = raw.get("hours")
    always = hours_raw == "24/7"
    hours: tuple[Opening, ...] | None = None
    if always:
        hours = ()
    elif hours_raw is not None:
        if not isinstance(hours_raw, list) or not hours_raw:
            raise BadHelplines(f"{where}: hours is '24/7' or a list of {{days, from, to}}")
        slots = []
        for slot in hours_raw:
            start, end = str(slot.get("from", "")), str(slot.get("to", ""))
            if not (_TIME.fullmatch(start) and _TIME.fullmatch(end)) or end <= start:
                raise BadHelplines(f"{where}: hours {slot!r}: from/to are HH:MM, from before to")
            slots.append(Opening(_days(str(slot.get("days", "")), where), start, end))
        hours = tuple(slots)
    return Helpline(name=raw["name"].strip(), phone=raw["phone"].strip(), audience=audience,
                    url=raw.get("url"), chat=raw.get("chat"), note=raw.get("note"),
                    hours=hours, always=always, source_url=source["url"], source_read=read,
                    source_how=source.get("how"))


def parse(text: str) -> dict[str, tuple[Helpline, ...]]:
    """The helplines by country code (``default`` for any other country) from the file's text.
    Raises :class:`BadHelplines` naming the first broken line."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadHelplines(f"helplines.json is not JSON: {exc}") from None
    if not isinstance(data, dict) or "default" not in data:
        raise BadHelplines("helplines.json needs an object with a 'default' entry")
    out: dict[str, tuple[Helpline, ...]] = {}
    for country, rows in data.items():
        if country.startswith("_"):
            continue
        if country != "default" and not re.fullmatch(r"[A-Z]{2}", country):
            raise BadHelplines(f"{country!r}: countries are ISO 3166 codes (DE, FR) or 'default'")
        if not isinstance(rows, list) or not rows:
            raise BadHelplines(f"{country}: a list of helplines")
        out[country] = tuple(_line(r, f"{country}[{i}]") for i, r in enumerate(rows))
    return out


@cache
def load() -> dict[str, tuple[Helpline, ...]]:
    return parse(resources.files("vigil.victims").joinpath("helplines.json").read_text("utf-8"))


def countries() -> list[str]:
    """The countries with lines of their own."""
    return sorted(c for c in load() if c != "default")


def lines_for(country: str | None, audience: str) -> list[Helpline]:
    """The lines of ``country`` for ``audience`` (child or adult): the country's own, else the
    EU-wide default; when none is for that audience, all of them."""
    table = load()
    rows = table.get((country or "").upper()) or table["default"]
    return [r for r in rows if r.audience in ("all", audience)] or list(rows)
