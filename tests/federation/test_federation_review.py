"""Review findings of issue 16 on partner imports: the API key at a partner is bound to its
URL and sent only once the registration is approved; imports take the lists' duplicate check
and never bring back a hash this Centre rejected; replayed feed pages are refused."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.helpers import AlteringClient, add_active, retract
from tests.federation.conftest import HOST, Origin
from tests.federation.test_federation import MD5_A, NAME, _imported, _register, _settings
from tests.fixtures.world import World
from vigil.audit.models import AuditEvent
from vigil.config import Settings
from vigil.db import transaction
from vigil.federation import repository, service
from vigil.federation.models import Partner
from vigil.indicators import service as indicators
from vigil.indicators.models import Indicator
from vigil.orgs.models import ApiKey

EVIL = "elsewhere.test"


class Recording:
    """An ``httpx.Client`` that answers nothing and writes down every request sent to it."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.client = httpx.Client(transport=httpx.MockTransport(self._answer))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return httpx.Response(500)


def _statuses(factory: sessionmaker[Session], value: str) -> list[str]:
    with transaction(factory) as s:
        return [i.status for i in s.scalars(select(Indicator).where(Indicator.value == value)
                                            .order_by(Indicator.id))]


def _quarantine_reasons(factory: sessionmaker[Session]) -> list[str]:
    with transaction(factory) as s:
        return [q.reason for q in repository.quarantined(s)]


def test_the_key_goes_only_to_the_url_it_was_given_for(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, centre: World,
        origin: Origin) -> None:
    settings = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        resolver_overrides={HOST: "127.0.0.1", EVIL: "127.0.0.1"},
                        partner_keys={origin.url: origin.world.tokens["partner"]})
    pid = _register(factory, origin)
    assert service.pull(factory, settings, pid).error is None
    # Someone with orgs:manage registers the same name again, at a server of their own.
    with transaction(factory) as s:
        service.remove(s, None, NAME)
        evil = service.register(s, None, NAME, url=f"http://{EVIL}:{origin.port}/",
                                log_key=origin.signer.public_bytes,
                                remote_list="known-material").id
    recording = Recording()
    result = service.pull(factory, settings, evil, client=recording.client)
    assert result.error is not None and "no API key for partner" in result.error
    assert f"http://{EVIL}:{origin.port}" in result.error
    assert recording.seen == []  # not the key, not even a request
    # The URL is compared as written, whatever the case of its host or a trailing slash.
    assert service.partner_key(settings, origin.url.upper() + "/") == \
        origin.world.tokens["partner"]
    assert service.partner_key(settings, origin.url + "/other") is None


def test_nothing_is_sent_to_a_partner_whose_registration_waits_for_approval(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, centre: World,
        origin: Origin) -> None:
    pid = _register(factory, origin)
    with transaction(factory) as s:  # as a key the Centre issues through the API: unconfirmed
        key = s.get(ApiKey, s.get(Partner, pid).import_key_id)  # type: ignore[union-attr]
        assert key is not None
        key.approved_at = None
    recording = Recording()
    result = service.pull(factory, _settings(db_url, data_dir, origin), pid,
                          client=recording.client)
    assert result.error is not None and "second party's approval" in result.error
    assert recording.seen == []
    with transaction(factory) as s:
        p = s.get(Partner, pid)
        assert p is not None and p.failures == 1 and p.seq is None


def test_a_hash_rejected_here_does_not_come_back_active(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, centre: World,
        origin: Origin) -> None:
    add_active(origin.factory, origin.world, "md5", MD5_A)
    with transaction(factory) as s:  # this Centre's reviewer rejected the hash
        (ind,) = indicators.propose(s, centre.principals["partner"], [indicators.Proposal(
            "md5", MD5_A, "known-material", "test")])
        indicators.reject(s, centre.principals["centre"], ind.id, "benign: false positive")
    pid = _register(factory, origin, counts=True)
    result = service.pull(factory, _settings(db_url, data_dir, origin), pid)
    assert result.error is None and (result.imported, result.quarantined) == (0, 1)
    assert _statuses(factory, MD5_A) == ["rejected"]
    (reason,) = _quarantine_reasons(factory)
    assert reason.startswith("locally rejected") and "rejected here" in reason


def test_a_hash_already_listed_is_not_imported_twice_and_its_provenance_is_kept(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, centre: World,
        origin: Origin) -> None:
    a = add_active(origin.factory, origin.world, "md5", MD5_A)
    local = add_active(factory, centre, "md5", MD5_A)
    settings = _settings(db_url, data_dir, origin)
    pid = _register(factory, origin)
    result = service.pull(factory, settings, pid)
    assert result.error is None and (result.imported, result.already_listed) == (0, 1)
    assert _statuses(factory, MD5_A) == ["active"]
    with transaction(factory) as s:
        (event,) = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "partner:record_already_listed")).all()
        details = json.loads(event.details)
        assert (details["indicator"], details["centre"], details["id"]) == (local, NAME, a)
        assert details["log_size"] >= 1
    # The origin's withdrawal does not retract what this Centre listed on its own.
    retract(origin.factory, origin.world, a)
    assert service.pull(factory, settings, pid).withdrawn == 0
    assert _statuses(factory, MD5_A) == ["active"]


def test_a_hash_the_partner_withdrew_may_be_imported_again(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, centre: World,
        origin: Origin) -> None:
    a = add_active(origin.factory, origin.world, "md5", MD5_A)
    settings = _settings(db_url, data_dir, origin)
    pid = _register(factory, origin)
    service.pull(factory, settings, pid)
    retract(origin.factory, origin.world, a)
    assert service.pull(factory, settings, pid).withdrawn == 1
    b = add_active(origin.factory, origin.world, "md5", MD5_A)  # listed there again
    again = service.pull(factory, settings, pid)
    assert again.error is None and again.imported == 1
    assert _imported(factory)[b][0] == "pending"
    assert _statuses(factory, MD5_A) == ["retracted", "pending"]


def test_a_replayed_feed_page_does_not_freeze_a_partner(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, centre: World,
        origin: Origin) -> None:
    a = add_active(origin.factory, origin.world, "md5", MD5_A)
    settings = _settings(db_url, data_dir, origin)
    pid = _register(factory, origin)
    kept: list[bytes] = []

    def keep(path: str, status: int, headers: dict[str, str], body: bytes
             ) -> tuple[int, dict[str, str], bytes]:
        if path.endswith("/changes"):
            kept.append(body)
        return status, headers, body

    def replay(path: str, status: int, headers: dict[str, str], body: bytes
               ) -> tuple[int, dict[str, str], bytes]:
        return (status, headers, kept[0]) if path.endswith("/changes") else (status, headers,
                                                                              body)

    with httpx.Client(trust_env=False) as http:
        altering = AlteringClient(http)  # type: ignore[arg-type]
        altering.alter = keep
        assert service.pull(factory, settings, pid, client=altering).error is None  # type: ignore[arg-type]
        retract(origin.factory, origin.world, a)
        altering.alter = replay
        result = service.pull(factory, settings, pid, client=altering)  # type: ignore[arg-type]
    assert result.error is not None and "an old page replayed" in result.error
    assert _imported(factory)[a][0] == "pending"
    assert service.pull(factory, settings, pid).withdrawn == 1
    assert _imported(factory)[a][0] == "retracted"


def test_a_partner_that_rotates_its_log_key_is_followed(
        factory: sessionmaker[Session], db_url: str, data_dir: Path, centre: World,
        origin: Origin, tmp_path: Path) -> None:
    """The partner was registered with its first log key; it rotates (``vigil keys rotate
    --log-key``): the next pull takes the new key from the announcement the registered key
    signed, and what the partner withdraws or adds after the rotation arrives."""
    from tests.exchange.test_sync_rotation import rotate

    a = add_active(origin.factory, origin.world, "md5", MD5_A)
    settings = _settings(db_url, data_dir, origin)
    pid = _register(factory, origin)
    assert service.pull(factory, settings, pid).imported == 1
    rotate(origin.factory, tmp_path / "origin" / "log-signing.key")
    retract(origin.factory, origin.world, a)
    b = add_active(origin.factory, origin.world, "md5", "7d793037a0760186574b0282f2f435e7")
    after = service.pull(factory, settings, pid)
    assert (after.error, after.withdrawn, after.imported) == (None, 1, 1)
    assert _imported(factory)[a][0] == "retracted" and _imported(factory)[b][0] == "pending"
    with transaction(factory) as s:
        (p,) = repository.partners(s)
        assert len(json.loads(p.log_trust)["keys"]) == 2 and p.last_error is None
