"""Bar charts as inline SVG, drawn on the server: no JavaScript library to vet or ship, they
work under a strict Content-Security-Policy, and each has a text alternative (``<title>``,
``<desc>``) and the same figures as a table next to it in the page."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count
from xml.sax.saxutils import escape

from markupsafe import Markup

#: Dark blue on white: contrast 8.6:1 (WCAG AAA for the bars and the text).
BAR = "#1d4e89"
TEXT = "#1a1a1a"
_ids = count(1)


def bar_chart(title: str, rows: Sequence[tuple[str, int]], *, width: int = 460) -> Markup:
    """A horizontal bar chart of ``(label, value)`` rows."""
    n = next(_ids)
    label_w, bar_h, gap, top = 170, 22, 8, 6
    plot_w = width - label_w - 60
    height = top * 2 + max(1, len(rows)) * (bar_h + gap)
    peak = max((v for _, v in rows), default=0) or 1
    desc = "; ".join(f"{label}: {value}" for label, value in rows) or "no data"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'aria-labelledby="chart{n}-t chart{n}-d">',
             f'<title id="chart{n}-t">{escape(title)}</title>',
             f'<desc id="chart{n}-d">{escape(desc)}</desc>']
    for i, (label, value) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = 0 if value <= 0 else max(2, round(plot_w * value / peak))
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" '
                     f'fill="{TEXT}" font-size="13">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{BAR}">'
                     f'<title>{escape(label)}: {value}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + bar_h * 0.7:.1f}" fill="{TEXT}" '
                     f'font-size="13">{value}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above is escaped


#: The second series' colour: orange on white, contrast 3.6:1 (WCAG AA for graphics), told
#: apart from :data:`BAR` by lightness too.
BAR_2 = "#c15b00"


def grouped_bars_svg(title: str, labels: Sequence[str], series: dict[str, Sequence[float]],
                     *, width: int = 640) -> str:
    """A standalone SVG file: for each label, one horizontal bar per series (shares 0-1, shown
    as percentages), with a legend, a ``<title>`` and a ``<desc>`` holding every figure."""
    names = list(series)
    colours = [BAR, BAR_2]
    label_w, bar_h, gap, top = 150, 10, 8, 34
    plot_w = width - label_w - 60
    group_h = bar_h * len(names) + gap
    height = top + len(labels) * group_h + 10
    desc = "; ".join(f"{label}: " + ", ".join(f"{n} {series[n][i]:.0%}" for n in names)
                     for i, label in enumerate(labels))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">',
             f"<title>{escape(title)}</title>", f"<desc>{escape(desc)}</desc>",
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="8" y="16" fill="{TEXT}" font-size="14">{escape(title)}</text>']
    for k, name in enumerate(names):
        x = label_w + k * 140
        parts.append(f'<rect x="{x}" y="22" width="10" height="10" fill="{colours[k % 2]}"/>'
                     f'<text x="{x + 14}" y="31" fill="{TEXT}" font-size="12">{escape(name)}</text>')
    for i, label in enumerate(labels):
        y0 = top + i * group_h
        parts.append(f'<text x="{label_w - 8}" y="{y0 + bar_h * len(names) * 0.75:.1f}" '
                     f'text-anchor="end" fill="{TEXT}" font-size="12">{escape(label)}</text>')
        for k, name in enumerate(names):
            value = float(series[name][i])
            y = y0 + k * bar_h
            w = round(plot_w * max(0.0, min(1.0, value)))
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h - 1}" '
                         f'fill="{colours[k % 2]}"/>'
                         f'<text x="{label_w + w + 4}" y="{y + bar_h - 2}" fill="{TEXT}" '
                         f'font-size="10">{value:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts) + "\n"
