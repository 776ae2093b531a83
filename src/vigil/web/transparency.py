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
from vigil.web.render import make_environment


def write(session: Session, period: str, out: Path) -> dict[str, Any]:
    start, end = period_bounds(period)
    f = figures(session, start, end)
    f["period"]["name"] = period
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(f, indent=2, sort_keys=True) + "\n")
    r, t = f["reports"], f["takedown"]
    charts = [(title, list(rows.items()), bar_chart(title, list(rows.items()))) for title, rows in (
        ("Reports received, by provider", r["by_provider"]),
        ("Reports received, by member state", r["by_member_state"]),
        ("Reports assessed", {"verified match (known material)": r["known_material"],
                              "unverified match (held for review)": r["unverified_match"],
                              "new material": r["new_material"],
                              "manifestly unfounded": r["manifestly_unfounded"]}),
        ("Reviewer decisions", {"confirmed as material": r["confirmed_by_review"],
                                "of them unverified matches": r["unverified_confirmed_by_review"],
                                "reviews in all": r["reviewed"]}),
        ("Indicators added, by list", f["indicators"]["added"]),
        ("Indicators withdrawn, by list", f["indicators"]["withdrawn"]),
        ("Complaints, by outcome", f["complaints"]["by_outcome"]),
        ("Notices", {"opened": t["notices_opened"], "removed": t["removed"],
                     "escalated": t["escalations"], "re-uploads": t["reuploads"]}),
    )]
    html = make_environment().get_template("transparency.html").render(
        f=f, charts=charts, generated=date.today().isoformat())
    (out / "index.html").write_text(html)
    return f
