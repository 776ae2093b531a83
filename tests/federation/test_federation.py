"""Two vigil instances on loopback: a partner centre (its own app and database, served over
HTTP) and this Centre, which imports the partner's signed list through the egress policy (the
partner's host pinned to 127.0.0.1 in the settings)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.helpers import AlteringClient, add_active, retract
from tests.federation.conftest import HOST, Origin
from tests.fixtures.api import auth
from tests.fixtures.world import World
from vigil.config import Settings
from vigil.db import transaction
from vigil.federation import repository, service
from vigil.federation.models import PartnerIndicator
from vigil.indicators import service as indicators
from vigil.indicators.models import Indicator
from vigil.translog import repository as translog
from vigil.translog.signing import sign
from vigil.translog.sth import TreeHeadSigner

MD5_A = "5d41402abc4b2a76b9719d911017c592"
MD5_B = "7d793037a0760186574b0282f2f435e7"
NAME = "Origin Centre"


def _settings(db_url: str, data_dir: Path, origin: Origin) -> Settings:
    return Settings(data_dir=data_dir, database_url=db_url, environment="test",
                    resolver_overrides={HOST: "127.0.0.1"},
                    partner_keys={origin.url: origin.world.tokens["partner"]})


def _register(factory: sessionmaker[Session], origin: Origin, counts: bool = False) -> int:
    with transaction(factory) as s:
        p = service.register(s, None, NAME, url=origin.url,
                             log_key=origin.signer.public_bytes, remote_list="known-material",
                             origin_verification_counts=counts)
        return p.id


def _imported(factory: sessionmaker[Session]) -> dict[int, tuple[str, str, str | None]]:
    """origin id -> (local status, value, label) of every import."""
    with transaction(factory) as s:
        rows = s.execute(select(PartnerIndicator.origin_id, Indicator)
                         .join(Indicator, Indicator.id == PartnerIndicator.indicator_id)).all()
        return {o: (i.status, i.value, i.label) for o, i in rows}


def test_imports_are_pending_until_verified_here_and_withdrawals_propagate(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, client: TestClient,
        centre: World, origin: Origin) -> None:
    a = add_active(origin.factory, origin.world, "md5", MD5_A, label="A1")
    settings = _settings(db_url, data_dir, origin)
    pid = _register(factory, origin)
    first = service.pull(factory, settings, pid)
    assert first.error is None and first.snapshot and first.imported == 1
    assert _imported(factory) == {a: ("pending", MD5_A, "A1")}
    with transaction(factory) as s:
        (prov,) = s.scalars(select(PartnerIndicator)).all()
        assert prov.origin_seq >= 1 and prov.origin_log_size >= 1
        ind = s.get(Indicator, prov.indicator_id)
        assert ind is not None and ind.source == f"partner:{NAME}#{a}"
        leaf = json.loads(translog.entries_about(s, f"indicator:{ind.id}")[0].leaf)
        assert leaf["origin"] == {"centre": NAME, "id": a, "seq": prov.origin_seq,
                                  "log_size": prov.origin_log_size}
        local_id = ind.id
    # Pending: no match here yet.
    match = {"items": [{"signal_type": "md5", "value": MD5_A}]}
    r = client.post("/v1/match", json=match, headers=auth(centre.tokens["provider"]))
    assert r.json()["results"][0]["matches"] == []
    # A reviewer of this Centre — another organisation than the partner — verifies it.
    with transaction(factory) as s:
        indicators.verify(s, centre.principals["centre"], local_id)
    assert _imported(factory)[a][0] == "active"

    # The origin withdraws it and adds another: one pull brings both.
    retract(origin.factory, origin.world, a)
    b = add_active(origin.factory, origin.world, "md5", MD5_B)
    second = service.pull(factory, settings, pid)
    assert (second.error, second.withdrawn, second.imported) == (None, 1, 1)
    assert _imported(factory) == {a: ("retracted", MD5_A, "A1"), b: ("pending", MD5_B, None)}
    # Nothing new: nothing changes.
    third = service.pull(factory, settings, pid)
    assert (third.imported, third.withdrawn, third.snapshot) == (0, 0, False)
    with transaction(factory) as s:
        (p,) = repository.partners(s)
        assert p.last_error is None and p.seq == third.seq
    _audit_clean(factory, data_dir)


def _audit_clean(factory: sessionmaker[Session], data_dir: Path) -> None:
    """`vigil audit verify`'s replay accepts what the imports wrote (the lifecycle's table)."""
    from vigil.indicators import log_audit

    key = TreeHeadSigner.from_file(data_dir / "log-signing.key").public_key
    with factory() as s:
        report = log_audit.verify_database(s, key)
    assert report.ok, report.problems


def test_an_agreement_that_counts_the_origins_verification_imports_active(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, client: TestClient,
        centre: World, origin: Origin) -> None:
    a = add_active(origin.factory, origin.world, "md5", MD5_A)
    pid = _register(factory, origin, counts=True)
    result = service.pull(factory, _settings(db_url, data_dir, origin), pid)
    assert result.error is None
    assert _imported(factory) == {a: ("active", MD5_A, None)}
    with transaction(factory) as s:
        ind = s.scalars(select(Indicator)).one()
        # Proposed and decided by the partner centre's organisation: its two organisations.
        assert ind.proposed_by_org == ind.decided_by_org
        events = [json.loads(e.leaf)["event"] for e in translog.entries_about(s, f"indicator:{ind.id}")]
        assert events == ["indicator:imported_verified"]
    _audit_clean(factory, data_dir)


def test_malformed_records_are_quarantined_and_the_rest_imported(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, client: TestClient,
        centre: World, origin: Origin) -> None:
    add_active(origin.factory, origin.world, "md5", MD5_A)
    settings = _settings(db_url, data_dir, origin)
    pid = _register(factory, origin)
    service.pull(factory, settings, pid)
    b = add_active(origin.factory, origin.world, "md5", MD5_B)
    c = add_active(origin.factory, origin.world, "pdq", "c3" * 32)

    def bad_record(path: str, status: int, headers: dict[str, str], body: bytes
                   ) -> tuple[int, dict[str, str], bytes]:
        if not path.endswith("/changes"):
            return status, headers, body
        feed = json.loads(body)
        for ch in feed["changes"]:
            if ch["id"] == b:
                ch["value"] = "not-an-md5"
        return status, headers, json.dumps(sign(feed, origin.signer)).encode()

    with httpx.Client(trust_env=False) as http:
        altering = AlteringClient(http)  # type: ignore[arg-type]
        altering.alter = bad_record
        result = service.pull(factory, settings, pid, client=altering)  # type: ignore[arg-type]
    assert result.error is None and (result.imported, result.quarantined) == (1, 1)
    assert set(_imported(factory)) == {c} | set(_imported(factory)) - {b}
    assert b not in _imported(factory)
    r = client.get(f"/v1/partners/{NAME}/quarantine", headers=auth(centre.tokens["centre"]))
    assert r.status_code == 200
    (q,) = r.json()
    assert q["origin_id"] == b and "md5" in q["reason"] and "not-an-md5" in q["record"]


def test_an_unsigned_page_is_quarantined_and_nothing_of_it_applied(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, client: TestClient,
        centre: World, origin: Origin) -> None:
    a = add_active(origin.factory, origin.world, "md5", MD5_A)
    settings = _settings(db_url, data_dir, origin)
    pid = _register(factory, origin)
    service.pull(factory, settings, pid)
    retract(origin.factory, origin.world, a)

    def unsigned(path: str, status: int, headers: dict[str, str], body: bytes
                 ) -> tuple[int, dict[str, str], bytes]:
        if not path.endswith("/changes"):
            return status, headers, body
        feed = json.loads(body)
        feed.pop("signature")
        return status, headers, json.dumps(feed).encode()

    with httpx.Client(trust_env=False) as http:
        altering = AlteringClient(http)  # type: ignore[arg-type]
        altering.alter = unsigned
        result = service.pull(factory, settings, pid, client=altering)  # type: ignore[arg-type]
    assert result.error is not None and "no signature" in result.error
    assert _imported(factory)[a][0] == "pending"  # the withdrawal was not applied unsigned
    with transaction(factory) as s:
        (q,) = repository.quarantined(s)
        assert q.reason.startswith("refused:")
        (p,) = repository.partners(s)
        assert p.failures == 1 and p.last_error == result.error
    # The next pull, untampered, applies it.
    again = service.pull(factory, settings, pid)
    assert again.error is None and again.withdrawn == 1
    assert _imported(factory)[a][0] == "retracted"


def test_a_forked_partner_log_is_refused(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, client: TestClient,
        centre: World, origin: Origin) -> None:
    add_active(origin.factory, origin.world, "md5", MD5_A)
    settings = _settings(db_url, data_dir, origin)
    pid = _register(factory, origin)
    service.pull(factory, settings, pid)
    add_active(origin.factory, origin.world, "md5", MD5_B)

    def fork(path: str, status: int, headers: dict[str, str], body: bytes
             ) -> tuple[int, dict[str, str], bytes]:
        if path != "/v1/log/head":
            return status, headers, body
        size = json.loads(body)["tree_size"]
        return status, headers, json.dumps(origin.signer.sign(size, os.urandom(32)).to_json()).encode()

    with httpx.Client(trust_env=False) as http:
        altering = AlteringClient(http)  # type: ignore[arg-type]
        altering.alter = fork
        result = service.pull(factory, settings, pid, client=altering)  # type: ignore[arg-type]
    assert result.error is not None and "not consistent" in result.error
    assert len(_imported(factory)) == 1


def test_the_wrong_log_key_or_an_unpinned_host_is_refused(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, origin: Origin,
        centre: World) -> None:
    add_active(origin.factory, origin.world, "md5", MD5_A)
    with transaction(factory) as s:
        pid = service.register(s, None, NAME, url=origin.url,
                               log_key=TreeHeadSigner.generate().public_bytes,
                               remote_list="known-material").id
    result = service.pull(factory, _settings(db_url, data_dir, origin), pid)
    assert result.error is not None and "pinned log key" in result.error
    unpinned = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        partner_keys={origin.url: origin.world.tokens["partner"]})
    result = service.pull(factory, unpinned, pid)
    assert result.error is not None
    assert "non-public address" in result.error or "cannot resolve" in result.error
    assert _imported(factory) == {}


def test_registering_checks_its_input_and_the_api_lists_partners(
        factory: sessionmaker[Session], client: TestClient, centre: World, origin: Origin) -> None:
    key = origin.signer.public_bytes.hex()
    token = auth(centre.tokens["centre"])
    body = {"name": NAME, "url": origin.url, "log_key": key, "remote_list": "known-material"}
    # Through the API the partner's organisation must exist already.
    r = client.post("/v1/partners", json=body, headers=token)
    assert r.status_code == 404 and "add the partner centre as an organisation" in r.text
    for bad, why in (({"log_key": "zz"}, "not a log key"),
                     ({"url": "ftp://x"}, "http(s)"),
                     ({"remote_list": "victim-submitted"}, "unverified"),
                     ({"local_list": "non-material", "origin_verification_counts": True},
                      "needs a verified local list")):
        r = client.post("/v1/partners", json={**body, "name": "Partner", **bad}, headers=token)
        assert r.status_code == 422 and why in r.text, r.text
    r = client.post("/v1/partners", json={**body, "name": "Partner"}, headers=token)
    assert r.status_code == 201, r.text
    r = client.post("/v1/partners", json={**body, "name": "Partner"}, headers=token)
    assert r.status_code == 409 and "registered already" in r.text
    r = client.get("/v1/partners", headers=token)
    assert [p["name"] for p in r.json()] == ["Partner"]
    assert client.get("/v1/partners", headers=auth(centre.tokens["provider"])).status_code == 403
    assert client.delete("/v1/partners/Partner", headers=token).status_code == 200
    assert client.get("/v1/partners", headers=token).json() == []


def test_the_worker_pulls_every_partner_once_per_interval(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, centre: World,
        origin: Origin) -> None:
    from vigil.worker import Worker

    a = add_active(origin.factory, origin.world, "md5", MD5_A)
    _register(factory, origin)
    worker = Worker(factory, factory, settings=_settings(db_url, data_dir, origin))
    assert worker.run_periodic(only=["federation:pull"]) == {"federation:pull": 1}
    assert _imported(factory) == {a: ("pending", MD5_A, None)}
    assert worker.run_periodic(only=["federation:pull"]) == {}  # not due again yet
