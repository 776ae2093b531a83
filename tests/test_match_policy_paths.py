"""One match policy on every path: the same benign pictures and the same lists, matched through
``POST /v1/match``, report assessment, the crawler and ``vigil match`` on the signed snapshots,
must give the same verdict — verified hits may be acted on, unverified ones wait for a person,
an allow-list hit suppresses, quarantined and retracted indicators never match, and each list's
threshold is its own.

Lists (tests/fixtures/world.py): known-material (verified, 31), victim-submitted (unverified,
20), non-material (allow, 10). Each case lists indicators as (kind, bits flipped from the
picture's PDQ)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.site import Site
from tests.fixtures.world import World, active_indicator, build_world, victim_indicators
from vigil.accountability import service as accountability
from vigil.config import Settings
from vigil.db import transaction
from vigil.indicators import receipts
from vigil.indicators import service as indicators
from vigil.matching.hashing import hash_image_bytes
from vigil.matching.policy import Candidate, ListRef, Trust, Verdict, decide
from vigil.matching.signals import PdqHash, SignalType
from vigil.samples import encode, pattern_image
from vigil.takedown.crawler.crawl import CrawlOptions, create_crawl
from vigil.takedown.models import Notice, UrlReport
from vigil.takedown.tasks import crawl_job
from vigil.worker import Worker

KEY = b"receipts of the test"
V, U, A, N = Verdict.VERIFIED, Verdict.UNVERIFIED, Verdict.ALLOWED, Verdict.NONE
CASES: list[tuple[str, list[tuple[str, int]], Verdict]] = [
    ("verified only", [("verified", 10)], V),
    ("unverified only", [("unverified", 5)], U),
    ("verified and allow", [("verified", 3), ("allow", 4)], A),
    ("unverified and allow", [("unverified", 3), ("allow", 4)], A),
    ("verified and unverified", [("verified", 6), ("unverified", 2)], V),
    ("quarantined", [("quarantined", 2)], N),
    ("retracted", [("retracted", 2)], N),
    ("verified at its threshold", [("verified", 31)], V),
    ("verified beyond its threshold", [("verified", 32)], N),
    ("unverified at its threshold", [("unverified", 20)], U),
    ("unverified beyond its threshold", [("unverified", 21)], N),
    ("allow beyond its threshold", [("verified", 3), ("allow", 11)], V),
]


def flip(hex_value: str, bits: int) -> str:
    """The hash with its first ``bits`` bits inverted: exactly ``bits`` away."""
    n = int(hex_value, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{n:064x}"


def _setup(factory: sessionmaker[Session], w: World, pdq: str, indicators_of_case: list[tuple[str, int]],
           n: int) -> None:
    for kind, bits in indicators_of_case:
        value = flip(pdq, bits)
        if kind == "unverified":
            victim_indicators(factory, md5=f"{n:032x}", pdq=value)
        elif kind == "allow":
            active_indicator(factory, w, "pdq", value, "non-material")
        else:
            ind = active_indicator(factory, w, "pdq", value)
            with transaction(factory) as s:
                if kind == "retracted":
                    indicators.retract(s, w.principals["centre"], ind, "listed by mistake")
                elif kind == "quarantined":  # false positives from two organisations
                    for who in ("provider", "authority_de"):
                        org = w.principals[who].organisation_id
                        accountability.record_feedback(s, w.principals[who],
                                                       receipts.match_id(KEY, org, ind),
                                                       "false_positive", None, 2, KEY)


def _pictures(n: int) -> list[bytes]:
    """Generated scenes whose PDQ quality is high enough to match on from content (50, Meta's
    rule: every path applies it to what it hashes itself)."""
    out = []
    seed = 700
    while len(out) < n:
        data = encode(pattern_image(seed, (320, 240)), "PNG")
        if hash_image_bytes(data).quality >= 70:
            out.append(data)
        seed += 1
    return out


def _api(client: TestClient, w: World, pdqs: list[str]) -> list[Verdict]:
    r = client.post("/v1/match", headers=auth(w.tokens["provider"]),
                    json={"items": [{"signal_type": "pdq", "value": p} for p in pdqs]})
    assert r.status_code == 200, r.text
    return [Verdict(x["verdict"]) for x in r.json()["results"]]


#: What report assessment says for each verdict.
ASSESSMENT = {V: "known_material", U: "unverified_match", A: "manifestly_unfounded",
              N: "new_material"}


def _reports(client: TestClient, w: World, factory: sessionmaker[Session],
             images: list[bytes]) -> list[Verdict]:
    ids = []
    for i, data in enumerate(images):
        body = {"incident_at": "2026-11-01T10:00:00Z", "concerns": "known_material",
                "legal_basis": "test", "content_removed": True}
        r = client.post("/v1/reports/multipart", headers=auth(w.tokens["provider"]),
                        data={"report": json.dumps(body)},
                        files=[("files", (f"case-{i}.png", data, "image/png"))])
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    Worker(factory, factory).run_once()
    by_assessment = {a: v for v, a in ASSESSMENT.items()}
    out = []
    for rid in ids:
        got = client.get(f"/v1/reports/{rid}", headers=auth(w.tokens["provider"])).json()
        verdict = by_assessment[got["assessment"]]
        out.append(verdict)
        # Only a verified hit (or no hit: new material) is forwarded without a person.
        status = {V: "forwarded", U: "awaiting_review", A: "manifestly_unfounded",
                  N: "forwarded"}[verdict]
        assert got["status"] == status and got["forwarded"] == (status == "forwarded"), got
    return out


def _crawler(factory: sessionmaker[Session], w: World, site: Site, images: list[bytes]) -> list[str]:
    """What the crawler did per picture: 'notice' (acted), 'held' (waits for an analyst),
    'nothing'."""
    links = "".join(f'<img src="/img/case-{i}.png">' for i in range(len(images)))
    site.put("hosting-a.test", "/", f"<html><body>{links}</body></html>")
    for i, data in enumerate(images):
        site.put("hosting-a.test", f"/img/case-{i}.png", data, "image/png")
    with transaction(factory) as s:
        crawl_id = create_crawl(s, w.principals["centre"], [site.url("hosting-a.test", "/")],
                                ["hosting-a.test"], CrawlOptions(per_host_delay=0)).id
    crawl_job(factory, factory, Settings(environment="test", resolver_overrides=site.overrides),
              crawl_id, workers=1)
    with factory() as s:
        reports = {r.url.rsplit("/", 1)[-1]: r for r in s.scalars(
            select(UrlReport).where(UrlReport.source == "crawler"))}
        notices = {n.url.rsplit("/", 1)[-1] for n in s.scalars(select(Notice))}
    out = []
    for i in range(len(images)):
        name = f"case-{i}.png"
        report = reports.get(name)
        if name in notices:
            assert report is not None and report.classification == "illegal_international"
            out.append("notice")
        elif report is not None:
            assert report.classification is None and report.list_trust == "unverified"
            out.append("held")
        else:
            out.append("nothing")
    return out


CRAWLER = {V: "notice", U: "held", A: "nothing", N: "nothing"}


def _cli(client: TestClient, w: World, tmp: Path, images: list[bytes]) -> list[Verdict]:
    key = tmp / "log-key.pem"
    key.write_text(client.get("/v1/log/key").text)
    lists = []
    for name in ("known-material", "victim-submitted", "non-material"):
        snap = client.get(f"/v1/lists/{name}/snapshot", headers=auth(w.tokens["provider"]))
        assert snap.status_code == 200
        lists += ["--list", str(tmp / f"{name}.json")]
        (tmp / f"{name}.json").write_text(snap.text)
    files = []
    for i, data in enumerate(images):
        (tmp / f"case-{i}.png").write_bytes(data)
        files.append(str(tmp / f"case-{i}.png"))
    done = subprocess.run([sys.executable, "-m", "vigil", "match", *lists, "--public-key",
                           str(key), *files], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    out = []
    for f in files:
        mine = {r["verdict"] for r in rows if r["query"] == f}
        assert len(mine) <= 1
        if mine:
            out.append(Verdict(mine.pop()))
        else:
            out.append(A if f"{f}: matches the allow list" in done.stderr else N)
    return out


def test_every_path_gives_the_same_verdict(client: TestClient, factory: sessionmaker[Session],
                                           site: Site, tmp_path: Path) -> None:
    w = build_world(factory)
    images = _pictures(len(CASES))
    pdqs = [hash_image_bytes(data).pdq for data in images]
    # The pictures are far apart: no case's indicators reach another case's picture.
    for i, a in enumerate(pdqs):
        for b in pdqs[i + 1:]:
            assert PdqHash.parse(a).distance(PdqHash.parse(b)) > 64
    for n, ((_, case, _), pdq) in enumerate(zip(CASES, pdqs, strict=True)):
        _setup(factory, w, pdq, case, n)
    client.app.state.vigil.matcher.sync(client.app.state.vigil.read_session)  # type: ignore[attr-defined]
    expected = [v for _, _, v in CASES]
    names = [c for c, _, _ in CASES]

    api = _api(client, w, pdqs)
    assert dict(zip(names, api, strict=True)) == dict(zip(names, expected, strict=True))
    reports = _reports(client, w, factory, images)
    assert dict(zip(names, reports, strict=True)) == dict(zip(names, expected, strict=True))
    crawler = _crawler(factory, w, site, images)
    assert dict(zip(names, crawler, strict=True)) == {c: CRAWLER[v] for c, v in zip(names, expected, strict=True)}
    cli = _cli(client, w, tmp_path, images)
    assert dict(zip(names, cli, strict=True)) == dict(zip(names, expected, strict=True))


@pytest.mark.parametrize(("bits", "verdict"), [(0, V), (31, V), (32, N)])
def test_the_policy_function_alone(bits: int, verdict: Verdict) -> None:
    """The same rules, without a database: a verified list at its threshold and one beyond."""
    ref = ListRef("known", Trust.VERIFIED, 31)
    outcome = decide([Candidate(1, ref, SignalType.PDQ, bits)])
    assert outcome.verdict is verdict and outcome.may_act == (verdict is V)


def test_an_allow_hit_through_a_rotation_suppresses_only_that_rotation() -> None:
    """A mirrored copy of a benign look-alike is not the picture: it must not hide an exact
    verified hit of the picture as given (found by ``vigil match --dihedral``)."""
    known = ListRef("known", Trust.VERIFIED, 31)
    allow = ListRef("benign", Trust.ALLOW, 10)
    exact = Candidate(1, known, SignalType.MD5, 0)
    rotated_allow = Candidate("b", allow, SignalType.PDQ, 2, variant="flip_x")
    assert decide([exact, rotated_allow]).verdict is V
    through_same = Candidate(2, known, SignalType.PDQ, 5, variant="flip_x")
    out = decide([through_same, rotated_allow])
    assert out.verdict is A and out.suppressed
    as_given_allow = Candidate("b", allow, SignalType.PDQ, 8, variant="original")
    assert decide([exact, rotated_allow, as_given_allow]).verdict is A


def test_robust_mode_never_hides_a_hit_that_stands_without_it() -> None:
    """Found by an attempt to break robust mode: the closest candidate of an entry came
    through a variant an allow list also hit, so the entry's hit through the picture as given
    (20 bits, verified) was dropped with it and the verdict became "allowed"."""
    known = ListRef("known", Trust.VERIFIED, 31)
    allow = ListRef("benign", Trust.ALLOW, 10)
    as_given = Candidate(1, known, SignalType.PDQ, 20, variant="original")
    assert decide([as_given]).verdict is V
    out = decide([as_given, Candidate(1, known, SignalType.PDQ, 5, variant="flip_y"),
                  Candidate(9, allow, SignalType.PDQ, 8, variant="flip_y")])
    assert out.verdict is V and [(h.key, h.distance, h.variant) for h in out.hits] == [
        (1, 20, "original")]
    assert not out.suppressed  # the entry still stands
    # Without an allow hit, the closest way to the entry is the one reported.
    out = decide([as_given, Candidate(1, known, SignalType.PDQ, 5, variant="flip_y")])
    assert [(h.distance, h.variant) for h in out.hits] == [(5, "flip_y")]


def test_given_hashes_of_one_file_are_matched_together(client: TestClient,
                                                       factory: sessionmaker[Session]) -> None:
    """A provider that sends a file's hashes with one reference gets the file's verdict; hashes
    sent without one are matched one by one, as POST /v1/match does."""
    w = build_world(factory)
    picture = _pictures(1)[0]
    h = hash_image_bytes(picture)
    active_indicator(factory, w, "md5", h.md5)  # verified
    active_indicator(factory, w, "pdq", h.pdq, "non-material")  # and a benign look-alike
    base = {"incident_at": "2026-11-01T10:00:00Z", "concerns": "known_material",
            "legal_basis": "test", "content_removed": True}
    together = [{"signal_type": "md5", "value": h.md5, "file": "f1"},
                {"signal_type": "pdq", "value": h.pdq, "file": "f1"}]
    apart = [{"signal_type": "md5", "value": h.md5}, {"signal_type": "pdq", "value": h.pdq}]
    ids = [client.post("/v1/reports", headers=auth(w.tokens["provider"]),
                       json={**base, "hashes": hashes}).json()["id"] for hashes in (together, apart)]
    Worker(factory, factory).run_once()
    got = [client.get(f"/v1/reports/{i}", headers=auth(w.tokens["provider"])).json()["assessment"]
           for i in ids]
    assert got == ["manifestly_unfounded", "known_material"]
