"""Charts keep every label inside the picture: long host names, German titles, big numbers.
(tests/web/test_browser.py measures the same in a real browser, with its own fonts.)"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from vigil.charts import bar_chart, fit_lines, grouped_bars_svg, text_width

SVG = "{http://www.w3.org/2000/svg}"
LONG = [
    ("a-very-long-hosting-provider-name.example.org", 1_234_567),
    ("Durchschnittliche Stunden bis zur Entfernung, nach Hoster", 7),
    ("short", 0),
    ("写真のホスティングサービス株式会社", 42),
    ("x" * 90, 3),
]


def _texts(svg: str) -> tuple[float, float, list[tuple[float, float, float, str]]]:
    """The viewBox size and each text line as (left, right, baseline, text)."""
    root = ET.fromstring(svg)
    _, _, vw, vh = (float(v) for v in root.attrib["viewBox"].split())
    out = []
    for t in root.iter(f"{SVG}text"):
        size = float(t.attrib["font-size"])
        anchor = t.attrib.get("text-anchor", "start")
        y = float(t.attrib["y"])
        spans = list(t.iter(f"{SVG}tspan")) or [t]
        for span in spans:
            y += float(span.attrib.get("dy", 0))
            text = span.text or ""
            x = float(span.attrib.get("x", t.attrib["x"]))
            w = text_width(text, size)
            left = x - w if anchor == "end" else x
            out.append((left, left + w, y, text))
    return vw, vh, out


@pytest.mark.parametrize("rows", [LONG, LONG[:1], [("one", 1)], []])
def test_bar_chart_labels_fit_in_the_view_box(rows: list[tuple[str, int]]) -> None:
    svg = str(bar_chart("Notices sent, by host", rows))
    vw, vh, texts = _texts(svg)
    for left, right, baseline, text in texts:
        assert left >= 0 and right <= vw, (text, left, right, vw)
        assert 10 <= baseline <= vh, (text, baseline, vh)
    if rows:
        # Every label is there in full in the bar's tooltip, even when the picture shortens it.
        assert all(re.search(re.escape(f"<title>{label}: {value}</title>"), svg) for label, value in rows
                   if "&" not in label)


def test_long_labels_wrap_instead_of_being_cut_off() -> None:
    lines = fit_lines("Durchschnittliche Stunden bis zur Entfernung, nach Hoster", 13, 150)
    assert len(lines) == 3 and all(text_width(line, 13) <= 150 for line in lines)
    assert " ".join(lines).startswith("Durchschnittliche Stunden bis zur")
    assert fit_lines("x" * 90, 13, 100, 3)[-1].endswith("…")
    assert fit_lines("short", 13, 100) == ["short"]


def test_grouped_bars_fit_too() -> None:
    labels = ["mirror", "caption (a long line of text across the bottom)", "rotate 2°"]
    svg = grouped_bars_svg("Recall after everyday edits, plain PDQ against robust matching, "
                           "at distance 31 or less", labels,
                           {"plain PDQ": [0.0, 0.14, 0.05], "robust": [1.0, 0.95, 0.91]})
    vw, vh, texts = _texts(svg)
    for left, right, baseline, text in texts:
        assert left >= 0 and right <= vw and 10 <= baseline <= vh, (text, left, right, baseline)
