"""The transparency report as files: ``report.json`` (the figures of
:func:`vigil.accountability.transparency.figures`) and ``index.html`` (inline SVG charts, each
with its table), for ``vigil transparency-report``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from vigil.accountability.transparency import figures, period_bounds
from vigil.charts import bar_chart
from vigil.web.i18n import rendering_in, translator
from vigil.web.render import make_environment


def write(session: Session, period: str, out: Path, lang: str = "en") -> dict[str, Any]:
    """Write the period's report into ``out`` in ``lang`` (an EU language code; texts it
    does not translate yet are English)."""
    tr = translator(lang)
    start, end = period_bounds(period)
    f = figures(session, start, end)
    f["period"]["name"] = period
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(f, indent=2, sort_keys=True) + "\n")
    r, t = f["reports"], f["takedown"]
    charts = [(title, list(rows.items()), bar_chart(title, list(rows.items()))) for title, rows in (
        (tr.gettext("Reports received, by provider"), r["by_provider"]),
        (tr.gettext("Reports received, by member state"), r["by_member_state"]),
        (tr.gettext("Reports assessed"), {tr.gettext("verified match (known material)"): r["known_material"],
                              tr.gettext("unverified match (held for review)"): r["unverified_match"],
                              tr.gettext("new material"): r["new_material"],
                              tr.gettext("manifestly unfounded"): r["manifestly_unfounded"]}),
        (tr.gettext("Reviewer decisions"), {tr.gettext("confirmed as material"): r["confirmed_by_review"],
                                tr.gettext("of them unverified matches"): r["unverified_confirmed_by_review"],
                                tr.gettext("reviews in all"): r["reviewed"]}),
        (tr.gettext("Indicators added, by list"), f["indicators"]["added"]),
        (tr.gettext("Indicators withdrawn, by list"), f["indicators"]["withdrawn"]),
        (tr.gettext("Complaints, by outcome"), f["complaints"]["by_outcome"]),
        (tr.gettext("Notices"), {tr.gettext("opened"): t["notices_opened"], tr.gettext("removed"): t["removed"],
                     tr.gettext("escalated"): t["escalations"], tr.gettext("re-uploads"): t["reuploads"]}),
    )]
    with rendering_in(tr):
        html = make_environment().get_template("transparency.html").render(
            f=f, charts=charts, generated=tr.date(date.today()), lang=tr.lang)
    (out / "index.html").write_text(html)
    return f
