"""Bar charts as inline SVG, drawn on the server: no JavaScript library to vet or ship, they
work under a strict Content-Security-Policy, and each has a text alternative (``<title>``,
``<desc>``) and the same figures as a table next to it in the page."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from itertools import count
from xml.sax.saxutils import escape

from markupsafe import Markup

#: Dark blue on white: contrast 8.6:1 (WCAG AAA for the bars and the text).
BAR = "#1d4e89"
TEXT = "#1a1a1a"
#: The charts' text is set in DejaVu Sans (Debian's default sans-serif; Verdana has nearly the
#: same widths), whose advance widths are known here: labels are laid out to fit, not clipped.
FONT = "DejaVu Sans, Verdana, sans-serif"
_ids = count(1)

#: DejaVu Sans advance widths of ASCII 32-126, in thousandths of the font size.
_ASCII_WIDTHS = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636,
    636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698,
    770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732,
    684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635,
    634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592,
    525, 636, 337, 636, 838)


def text_width(text: str, size: float) -> float:
    """The width of ``text`` set at ``size`` px in :data:`FONT`, in px (other letters are
    counted generously: a wide East Asian one as a full em, any other as 0.75 em)."""
    units = 0
    for ch in text:
        code = ord(ch)
        if 32 <= code < 127:
            units += _ASCII_WIDTHS[code - 32]
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            units += 1000
        elif not unicodedata.combining(ch):
            units += 750
    return units * size / 1000


def fit_lines(text: str, size: float, width: float, max_lines: int = 3) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` px; a word too long for a
    line is cut, and the last line ends in "…" when the text does not fit in ``max_lines``."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while text_width(word, size) > width:  # a word longer than a line: cut it
            cut = len(word)
            while cut > 1 and text_width(word[:cut], size) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and text_width(last + "…", size) > width:
            last = last[:-1]
        lines = [*lines[:max_lines - 1], last.rstrip() + "…"]
    return lines or [""]


def _text_lines(x: float, y: float, lines: list[str], size: float, line_h: float,
                anchor: str) -> str:
    if len(lines) == 1:
        return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{TEXT}" '
                f'font-size="{size}">{escape(lines[0])}</text>')
    spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else line_h}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{TEXT}" '
            f'font-size="{size}">{spans}</text>')


def bar_chart(title: str, rows: Sequence[tuple[str, int]], *, width: int = 460) -> Markup:
    """A horizontal bar chart of ``(label, value)`` rows, ``width`` px wide. Every label and
    value fits inside the chart: the label column is as wide as the longest label needs (up to
    45 % of the chart), longer labels wrap onto up to three lines (the last cut with "…"; the
    full label is in each bar's ``<title>`` and in the table beside the chart)."""
    n = next(_ids)
    size, line_h, bar_h, gap, top, pad = 13, 15, 22, 8, 6, 8
    widest_label = max((text_width(label, size) for label, _ in rows), default=0)
    label_w = min(widest_label, width * 0.45) + pad
    value_w = max((text_width(str(value), size) for _, value in rows), default=0) + 6 + pad
    plot_w = max(20.0, width - label_w - value_w)
    laid_out = [fit_lines(label, size, label_w - pad) for label, _ in rows]
    heights = [max(bar_h, len(lines) * line_h + 7) for lines in laid_out]
    height = top * 2 + sum(h + gap for h in heights) if rows else top * 2 + bar_h + gap
    peak = max((v for _, v in rows), default=0) or 1
    desc = "; ".join(f"{label}: {value}" for label, value in rows) or "no data"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'font-family="{FONT}" aria-labelledby="chart{n}-t chart{n}-d">',
             f'<title id="chart{n}-t">{escape(title)}</title>',
             f'<desc id="chart{n}-d">{escape(desc)}</desc>']
    y = float(top)
    for (label, value), lines, row_h in zip(rows, laid_out, heights, strict=True):
        w = 0 if value <= 0 else max(2, round(plot_w * value / peak))
        bar_y = y + (row_h - bar_h) / 2
        first_line = y + (row_h - len(lines) * line_h) / 2 + line_h * 0.8
        parts.append(_text_lines(label_w - pad, first_line, lines, size, line_h, "end"))
        parts.append(f'<rect x="{label_w:.1f}" y="{bar_y:.1f}" width="{w}" height="{bar_h}" '
                     f'fill="{BAR}"><title>{escape(label)}: {value}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{bar_y + bar_h * 0.7:.1f}" '
                     f'fill="{TEXT}" font-size="{size}">{value}</text>')
        y += row_h + gap
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above is escaped


#: The second series' colour: orange on white, contrast 3.6:1 (WCAG AA for graphics), told
#: apart from :data:`BAR` by lightness too.
BAR_2 = "#c15b00"


def grouped_bars_svg(title: str, labels: Sequence[str], series: dict[str, Sequence[float]],
                     *, width: int = 640) -> str:
    """A standalone SVG file: for each label, one horizontal bar per series (shares 0-1, shown
    as percentages), with a legend, a ``<title>`` and a ``<desc>`` holding every figure. Every
    text fits inside it, as in :func:`bar_chart`."""
    names = list(series)
    colours = [BAR, BAR_2]
    size, line_h, bar_h, gap, pad = 12, 14, 10, 8, 8
    title_lines = fit_lines(title, 14, width - 16, 2)
    legend_y = 8 + 17 * len(title_lines)
    top = legend_y + 14
    label_w = min(max((text_width(label, size) for label in labels), default=0), width * 0.4) + pad
    plot_w = width - label_w - text_width("100%", 10) - 4 - pad
    laid_out = [fit_lines(label, size, label_w - pad) for label in labels]
    group_hs = [max(bar_h * len(names), len(lines) * line_h) + gap for lines in laid_out]
    height = top + sum(group_hs) + 10
    desc = "; ".join(f"{label}: " + ", ".join(f"{n} {series[n][i]:.0%}" for n in names)
                     for i, label in enumerate(labels))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" font-family="{FONT}">',
             f"<title>{escape(title)}</title>", f"<desc>{escape(desc)}</desc>",
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
             _text_lines(8, 20, title_lines, 14, 17, "start")]
    x = label_w
    for k, name in enumerate(names):
        shown = fit_lines(name, size, width - x - 14 - pad, 1)[0]
        parts.append(f'<rect x="{x:.1f}" y="{legend_y}" width="10" height="10" fill="{colours[k % 2]}"/>'
                     f'<text x="{x + 14:.1f}" y="{legend_y + 9}" fill="{TEXT}" font-size="{size}">'
                     f"{escape(shown)}</text>")
        x += 14 + text_width(shown, size) + 24
    y0 = float(top)
    for i, (lines, group_h) in enumerate(zip(laid_out, group_hs, strict=True)):
        bars_h = bar_h * len(names)
        first_line = y0 + (group_h - gap - len(lines) * line_h) / 2 + line_h * 0.8
        parts.append(_text_lines(label_w - pad, first_line, lines, size, line_h, "end"))
        bars_y = y0 + (group_h - gap - bars_h) / 2
        for k, name in enumerate(names):
            value = float(series[name][i])
            y = bars_y + k * bar_h
            w = round(plot_w * max(0.0, min(1.0, value)))
            parts.append(f'<rect x="{label_w:.1f}" y="{y:.1f}" width="{w}" height="{bar_h - 1}" '
                         f'fill="{colours[k % 2]}"/>'
                         f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 2:.1f}" fill="{TEXT}" '
                         f'font-size="10">{value:.0%}</text>')
        y0 += group_h
    parts.append("</svg>")
    return "".join(parts) + "\n"
