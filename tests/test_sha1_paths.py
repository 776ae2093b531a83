"""SHA-1 is a signal type like the others on every path: an indicator that is the SHA-1 of a
picture's bytes is found by ``POST /v1/match``, by report assessment (the uploaded file's
SHA-1), by the crawler and by ``vigil match`` on a signed snapshot — and, as a verified
indicator, with the same verdict everywhere. (VICS files and NCMEC hash sharing carry SHA-1.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.site import Site
from tests.fixtures.world import active_indicator, build_world
from tests.test_match_policy_paths import CRAWLER, _cli, _crawler, _pictures, _reports
from vigil.matching.listfile import HashList, parse_list
from vigil.matching.policy import Item, Trust, Verdict, match_items
from vigil.matching.signals import SignalType


@pytest.mark.slow
def test_a_sha1_indicator_matches_on_every_path(client: TestClient, factory: sessionmaker[Session],
                                                site: Site, tmp_path: Path) -> None:
    w = build_world(factory)
    listed, unlisted = _pictures(2)
    sha1 = hashlib.sha1(listed).hexdigest()
    active_indicator(factory, w, "sha1", sha1.upper())  # normalised to lower case
    client.app.state.vigil.matcher.sync(client.app.state.vigil.read_session)  # type: ignore[attr-defined]
    expected = [Verdict.VERIFIED, Verdict.NONE]

    r = client.post("/v1/match", headers=auth(w.tokens["provider"]), json={"items": [
        {"signal_type": "sha1", "value": hashlib.sha1(data).hexdigest()} for data in (listed, unlisted)]})
    assert r.status_code == 200, r.text
    assert [x["verdict"] for x in r.json()["results"]] == [v.value for v in expected]
    assert r.json()["results"][0]["matches"][0]["signal_type"] == "sha1"
    assert _reports(client, w, factory, [listed, unlisted]) == expected
    assert _crawler(factory, w, site, [listed, unlisted]) == [CRAWLER[v] for v in expected]
    assert _cli(client, w, tmp_path, [listed, unlisted]) == expected


def test_a_list_file_with_sha1_entries_matches_a_file_by_its_sha1() -> None:
    data = b"benign bytes"
    digest = hashlib.sha1(data).hexdigest()
    entries = parse_list(f"signal_type,value\nsha1,{digest}\n")
    hl = HashList(entries)
    (outcome,) = match_items(hl, [Item.of((SignalType.SHA1, digest))])
    assert outcome.verdict is Verdict.UNVERIFIED and hl.ref.trust is Trust.UNVERIFIED
    assert [h.signal_type for h in outcome.hits] == [SignalType.SHA1]
    (none,) = match_items(hl, [Item.of((SignalType.SHA1, "0" * 40))])
    assert none.verdict is Verdict.NONE
