"""The transparency report (both databases): every figure is checked against the database,
activity outside the period is left out, and the HTML shows the figures and charts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world
from vigil.accountability.transparency import period_bounds
from vigil.errors import Invalid
from vigil.indicators.models import ListChange
from vigil.reports.models import Report
from vigil.web.transparency import write
from vigil.worker import Worker


def test_periods() -> None:
    assert period_bounds("2026-Q3") == (datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC))
    assert period_bounds("2026-Q4")[1] == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_bounds("2026-02") == (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    for bad in ("2026-Q5", "2026-13", "Q3", "2026/07"):
        with pytest.raises(Invalid, match="period must look like"):
            period_bounds(bad)


def test_every_figure_matches_the_database(client: TestClient, factory: sessionmaker[Session],
                                           tmp_path: Path) -> None:
    w = build_world(factory)
    provider = auth(w.tokens["provider"])
    for i, concern in enumerate(("known_material", "new_material", "new_material")):
        r = client.post("/v1/reports", headers=provider, json={
            "incident_at": "2026-11-01T10:00:00Z", "concerns": concern,
            "legal_basis": "Regulation (EU) 2024/1307", "content_removed": True,
            "hashes": [{"signal_type": "md5", "value": f"{i}" * 32}],
            "users": [{"ips": [{"ip": "193.99.144.80", "at": "2026-11-01T09:00:00Z"}]}]})
        assert r.status_code == 201
    client.post("/v1/reports", headers=provider, json={  # nothing in it: manifestly unfounded
        "incident_at": "2026-11-01T10:00:00Z", "concerns": "new_material",
        "legal_basis": "Regulation (EU) 2024/1307", "content_removed": False})
    Worker(factory, factory).run_once()
    client.post("/v1/public/complaints", json={"provider": "Provider", "reference": "r1",
                                               "statement": "a drawing"})
    client.post("/v1/public/victim-cases", json={"hashes": [{"kind": "image", "md5": "9" * 32}]})
    queue = client.get("/v1/review/queue", headers=auth(w.tokens["centre"])).json()
    r = client.post(f"/v1/review/{queue[0]['id']}/decision", headers=auth(w.tokens["centre"]),
                    json={"decision": "not_material", "reason": "benign"})
    assert r.status_code == 200
    now = datetime.now(UTC)
    period = f"{now.year}-Q{(now.month - 1) // 3 + 1}"
    # Two notices removed in the period (5 h and 80 h after they opened), one still open; all
    # placed at the start of the period, so that the test does not depend on today's date.
    from datetime import timedelta

    from vigil.db import transaction
    from vigil.takedown.models import Notice, UrlReport

    t0 = period_bounds(period)[0] + timedelta(hours=1)
    with transaction(factory) as s:
        for n, hours in enumerate((5, 80, None)):
            u = UrlReport(public_id=f"u{n}", url=f"http://h.test/{n}", host="h.test",
                          source="public", created_at=t0)
            s.add(u)
            s.flush()
            s.add(Notice(url_report_id=u.id, url=u.url, host="h.test", provider="H", status=
                         "removed" if hours else "open", opened_at=t0,
                         next_action_at=now, sends=1, escalated_at=None,
                         removed_at=t0 + timedelta(hours=hours) if hours else None,
                         reupload_of=None))
    with factory() as s:
        f = write(s, period, tmp_path / "report")
        start, end = period_bounds(period)
        submitted = s.scalar(select(func.count()).where(Report.submitted_at >= start,
                                                        Report.submitted_at < end))
        forwarded = s.scalar(select(func.count()).where(Report.forwarded_at.is_not(None)))
        unfounded = s.scalar(select(func.count()).where(Report.assessment == "manifestly_unfounded"))
        adds = s.scalar(select(func.count()).where(ListChange.action == "add"))
    assert f["reports"]["received"] == submitted == 4
    assert f["reports"]["by_provider"] == {"Provider": 4}
    assert sum(f["reports"]["by_member_state"].values()) >= 4
    assert f["reports"]["forwarded"] == forwarded
    assert f["reports"]["manifestly_unfounded"] == unfounded == 1
    assert f["reports"]["new_material"] + f["reports"]["known_material"] + unfounded == 4
    assert sum(f["indicators"]["added"].values()) == adds == 1  # the victim's hash
    assert f["indicators"]["added"] == {"victim-submitted": 1}
    assert f["complaints"] == {"received": 1, "by_outcome": {"open": 1}}
    assert f["victims"] == {"cases_opened": 1}
    with factory() as s:
        reviewed = s.execute(select(Report.submitted_at, Report.reviewed_at)
                             .where(Report.reviewed_at.is_not(None))).all()
    (sub, rev), = reviewed
    expected = round(((rev if rev.tzinfo else rev.replace(tzinfo=UTC))
                      - (sub if sub.tzinfo else sub.replace(tzinfo=UTC))).total_seconds() / 3600, 2)
    assert f["reports"]["reviewed"] == 1 and f["reports"]["median_hours_to_review"] == expected
    assert f["takedown"] == {"notices_opened": 3, "removed": 2, "median_hours_to_removal": 42.5,
                             "removed_within_60h": 1, "escalations": 0, "reuploads": 0}
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["reports"] == f["reports"]
    html = (tmp_path / "report" / "index.html").read_text()
    assert '<td id="received">4</td>' in html and html.count("<svg") >= 4
    assert "193.99.144.80" not in html and "193.99.144.80" not in json.dumps(saved)  # no personal data
    # In German: the same figures, the texts and dates in German.
    with factory() as s:
        write(s, period, tmp_path / "de", "de")
    de = (tmp_path / "de" / "index.html").read_text()
    assert re.search(r"<th scope=\"row\">Eingegangene Meldungen</th><td id=\"received\">4</td>", de)
    assert "<html lang=\"de\">" in de and f"Transparenzbericht {period}" in de
    assert "Eingegangene Meldungen, nach Anbieter" in de
    # Another period: nothing of this.
    with factory() as s:
        empty = write(s, "2025-Q1", tmp_path / "old")
    assert empty["reports"]["received"] == 0 and empty["victims"]["cases_opened"] == 0


def test_the_command(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path / "data")}
    env.pop("VIGIL_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "vigil", "transparency-report", "--period",
                           "2026-Q3", "--out", str(tmp_path / "out")], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "index.html").is_file()
    bad = subprocess.run([sys.executable, "-m", "vigil", "transparency-report", "--period",
                          "someday", "--out", str(tmp_path / "x")], capture_output=True,
                         text=True, env=env, timeout=120, check=False)
    assert bad.returncode == 2 and "period must look like" in bad.stderr
    lang = subprocess.run([sys.executable, "-m", "vigil", "transparency-report", "--period",
                           "2026-Q3", "--out", str(tmp_path / "y"), "--lang", "xx"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert lang.returncode == 2 and "not an official EU language code" in lang.stderr
