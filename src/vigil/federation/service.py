"""Partner centres: registering one (its server, its log key, the trust agreement) and pulling
its signed list into a local one.

**Pulling** uses the verifying client of :mod:`vigil.exchange.client` — the provider's sync
client's checks, in one home: egress policy, bounded answers, the partner's log key chain
from the key registered here, signatures, and a signed tree head that covers each answer and is
consistent with the last one trusted. The network is used outside any transaction; each
verified answer (the first snapshot, then every feed page) is applied in one transaction of
its own, together with the partner's new position and trusted head: a crash resumes from the
last page applied.

**What an import is.** Every indicator imported keeps its provenance (:class:`PartnerIndicator`:
the origin centre, its id there, the origin's feed position and the size of the origin's signed
log head that covered it; the same in its log leaf). It enters *pending* (proposed by the
partner's organisation, through the partner's import key) and waits for a local reviewer of
another organisation — unless the agreement says the origin's verification counts and the
origin's signed list is a *verified* one: then it enters active through the lifecycle's
``indicator:imported_verified`` (decision 0021). A withdrawal at the origin retracts every
local indicator imported from that origin id, through the lifecycle, in the same sync.

**Duplicates.** Before an import, the lists' duplicate check (``indicators.service.listed``,
as a proposal and the programmes' imports take it): a hash already on the local list is not
added again (the record's provenance is audited against the existing indicator,
``partner:record_already_listed``; the origin's withdrawal does not retract it); a hash this
Centre rejected or retracted there is quarantined as locally rejected, never re-imported.

**The key at the partner** comes from ``VIGIL_PARTNER_KEYS`` by the partner's URL
(:func:`partner_key`), never by its name; nothing is sent to a partner whose import key is
not approved yet.

**Quarantine.** A record that is malformed (an unknown action, a bad hash, no id) is kept in
:class:`QuarantinedRecord`, reported, and skipped: the rest of the page is applied. An answer
that fails its checks as a whole (unsigned, tampered, not covered by a consistent head) is
quarantined too, and nothing of it is applied; the partner's position stays where it was — its
content is not authenticated, so nothing in it can be skipped to — and the next pull tries again.
Other partners are pulled regardless.
"""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.errors import Conflict, Invalid, NotFound
from vigil.exchange.client import FeedClient, HttpClient, LogTrust, Page, SyncError
from vigil.federation import repository
from vigil.federation.models import Partner, PartnerIndicator, QuarantinedRecord
from vigil.indicators import lifecycle
from vigil.indicators import service as indicators
from vigil.indicators.lifecycle import IndicatorEvent, IndicatorStatus
from vigil.indicators.models import HashList, Indicator
from vigil.matching.errors import ListFileError
from vigil.matching.listfile import served_entry
from vigil.matching.policy import Trust
from vigil.orgs import service as orgs
from vigil.orgs.access import OrgKind, Principal, Scope, effective_scopes
from vigil.orgs.models import ApiKey
from vigil.translog.keys import key_of, raw_key

#: Statuses of an imported indicator that a withdrawal at the origin retracts.
_LIVE = (IndicatorStatus.PENDING, IndicatorStatus.ACTIVE, IndicatorStatus.QUARANTINED)
#: How a retraction because a partner withdrew the indicator begins (not a local refusal).
_WITHDRAWN = "withdrawn by partner centre "
#: How much of a quarantined record is kept.
_RECORD_CHARS = 2000


# -- registering -------------------------------------------------------------------------------


def parse_log_key(text: str) -> bytes:
    """A partner's log key: PEM (``GET /v1/log/key``), or 64 hex digits or base64 of the raw 32
    bytes. Returns the raw key; :class:`~vigil.errors.Invalid` naming the problem."""
    value = text.strip()
    try:
        if value.startswith("-----BEGIN"):
            key = load_pem_public_key(value.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not an Ed25519 key")
            return raw_key(key)
        raw = bytes.fromhex(value) if len(value) == 64 else base64.b64decode(value, validate=True)
        key_of(raw)
        return raw
    except (ValueError, binascii.Error) as exc:
        raise Invalid(f"not a log key (PEM, or the 32-byte Ed25519 key as 64 hex digits or "
                      f"base64): {exc}") from None


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise Invalid(f"a partner's URL is http(s)://host[:port][/path], got {url!r}")
    return url.strip().rstrip("/")


def register(session: Session, actor: Principal | None, name: str, *, url: str,
             log_key: bytes, remote_list: str, local_list: str | None = None,
             origin_verification_counts: bool = False) -> Partner:
    """Register a partner centre. ``name`` is its organisation here: made (a founding partner
    centre) when the operator registers it on the server (``actor`` None); through the API it
    must exist already, as a partner centre. Imports go into ``local_list`` (default: a local
    list named like the remote one), which must be verified or allow; a verified-origin
    agreement needs a verified one. Its import key is issued like any key: one the Centre
    issues through the API waits for a second party's approval before imports count."""
    name = name.strip()
    if repository.active_partner_named(session, name) is not None:
        raise Conflict(f"a partner named {name!r} is registered already")
    url = _check_url(url)
    hl = indicators.get_list(session, (local_list or remote_list).strip())
    trust = Trust(hl.trust)
    if trust is Trust.UNVERIFIED:
        raise Invalid(f"list {hl.name!r} is unverified: a partner's indicators go onto a "
                      "verified (or allow) list, where a local reviewer confirms them")
    if origin_verification_counts and trust is not Trust.VERIFIED:
        raise Invalid("an agreement that counts the origin's verification needs a verified "
                      f"local list ({hl.name!r} is {trust.value})")
    try:
        org = orgs.organisation_named(session, name)
    except NotFound:
        if actor is not None:
            raise NotFound(f"no organisation named {name!r}: add the partner centre as an "
                           "organisation first (it needs a second party's approval)") from None
        org = orgs.create_organisation(session, None, name, OrgKind.PARTNER_CENTRE)
    if org.kind != OrgKind.PARTNER_CENTRE.value:
        raise Invalid(f"organisation {name!r} is a {org.kind}, not a partner centre")
    issued = orgs.issue_key(session, actor, org.id, f"imports from {name}"[:200],
                            {Scope.INDICATORS_PROPOSE})  # its secret is discarded here
    pinned: dict[str, Any] = {"keys": [], "head": None,
                              "pinned": base64.b64encode(log_key).decode()}
    partner = Partner(name=name, organisation_id=org.id, url=url,
                      remote_list=remote_list.strip(), local_list_id=hl.id,
                      origin_verification_counts=origin_verification_counts,
                      import_key_id=issued.key.id, log_trust=json.dumps(pinned), failures=0,
                      created_at=now())
    session.add(partner)
    session.flush()
    record(session, actor, AuditAction.PARTNER_REGISTERED, subject=str(partner.id),
           details={"organisation": org.id, "list": hl.name, "remote_list": partner.remote_list,
                    "origin_verification_counts": origin_verification_counts})
    return partner


def remove(session: Session, actor: Principal | None, name: str) -> Partner:
    """Stop pulling from a partner and revoke its import key. What was imported stays, with
    its provenance (retract it through the indicators' lifecycle if it must go)."""
    partner = repository.partner_named(session, name)
    partner.removed_at = now()
    orgs.revoke_key(session, actor, partner.import_key_id)
    record(session, actor, AuditAction.PARTNER_REMOVED, subject=str(partner.id))
    return partner


# -- pulling -----------------------------------------------------------------------------------


@dataclass
class PullResult:
    """What one pull of one partner did."""

    partner: str
    imported: int = 0
    #: Records whose hash was on the local list already (their provenance is audited).
    already_listed: int = 0
    withdrawn: int = 0
    quarantined: int = 0
    pages: int = 0
    snapshot: bool = False
    seq: int | None = None
    error: str | None = None


def pull(factory: sessionmaker[Session], settings: Settings, partner_id: int, *,
         client: HttpClient | None = None) -> PullResult:
    """Pull one partner's feed (the module docstring has the rules); never raises for what
    the partner sent or for the network: the error is recorded on the partner and returned."""
    with transaction(factory) as s:
        p = repository.partner(s, partner_id)
        name, url, remote, seq = p.name, p.url, p.remote_list, p.seq
        trust, pinned = _trust(p.log_trust)
        try:
            # Nothing goes to a partner whose registration is not approved (its import key
            # waits for a second party): not even a request, let alone the key.
            approved = not _principal(s, p).scopes.isdisjoint({Scope.INDICATORS_PROPOSE})
            waiting = f"partner {name!r}: its import key cannot propose yet (it waits for a " \
                      "second party's approval): not pulled"
        except SyncError as exc:
            approved, waiting = False, f"{exc.message}: not pulled"
    result = PullResult(name, seq=seq)
    if not approved:
        _failed(factory, partner_id, result, waiting, refused=False)
        return result
    key = partner_key(settings, url)
    if not key:
        _failed(factory, partner_id, result, f"no API key for partner {name!r} at {url} in "
                "VIGIL_PARTNER_KEYS (a key is given for the partner's exact URL): not pulled",
                refused=False)
        return result
    feed = FeedClient(url, key, remote, policy=settings.egress(), trust=trust,
                      pinned=pinned, client=client)
    try:
        feed.refresh_keys()
        if seq is None:
            _pull_snapshot(factory, feed, partner_id, settings.data_dir, result)
        while True:
            assert result.seq is not None
            page = feed.changes(result.seq, None)
            feed.covering_head(page.log_size)
            with transaction(factory) as s:
                _apply_page(s, repository.partner(s, partner_id, lock=True), page, feed.trust,
                            result)
            result.seq = page.until
            result.pages += 1 if page.changes else 0
            if page.complete:
                break
    except SyncError as exc:
        _failed(factory, partner_id, result, exc.message, refused=exc.refused)
        return result
    finally:
        feed.close()
    with transaction(factory) as s:
        p = repository.partner(s, partner_id)
        p.last_attempt_at = p.last_success_at = now()
        p.last_error, p.failures = None, 0
        if result.imported or result.withdrawn or result.quarantined:
            record(s, None, AuditAction.PARTNER_SYNCED, subject=str(partner_id),
                   details={"imported": result.imported, "withdrawn": result.withdrawn,
                            "quarantined": result.quarantined, "seq": result.seq})
    return result


def _destination(url: str) -> str:
    """A partner's base URL as keys are looked up: scheme and host in lower case, no trailing
    slash (the path as written)."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def partner_key(settings: Settings, url: str) -> str | None:
    """The API key this Centre holds at the partner server ``url``: ``VIGIL_PARTNER_KEYS``
    maps each partner's exact base URL to the key for it. The secret is bound to its
    destination, never to a name that an API caller can register again with another URL:
    a key is only ever sent to the server it was given for."""
    want = _destination(url)
    for where, key in settings.partner_keys.items():
        if _destination(where) == want:
            return key
    return None


def _trust(text: str) -> tuple[LogTrust, list[Ed25519PublicKey]]:
    obj = json.loads(text)
    pinned = [key_of(base64.b64decode(obj["pinned"]))] if obj.get("pinned") else []
    return LogTrust.from_json(obj), pinned


def _save_trust(p: Partner, trust: LogTrust) -> None:
    old = json.loads(p.log_trust)
    p.log_trust = json.dumps({**trust.to_json(), "pinned": old.get("pinned")})


def _failed(factory: sessionmaker[Session], partner_id: int, result: PullResult, message: str,
            *, refused: bool) -> None:
    result.error = message
    with transaction(factory) as s:
        p = repository.partner(s, partner_id)
        p.last_attempt_at = now()
        p.last_error = message[:2000]
        p.failures += 1
        if refused:  # the partner sent something that failed its checks: report it
            _quarantine(s, p, p.seq, None, f"refused: {message}", "(the whole answer)")
            result.quarantined += 1


def _pull_snapshot(factory: sessionmaker[Session], feed: FeedClient, partner_id: int,
                   data_dir: Path, result: PullResult) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="partner-", dir=data_dir) as tmp:
        snap = feed.snapshot(Path(tmp) / "snapshot.json")
        assert snap is not None  # no ETag was sent
        feed.covering_head(snap.log_size)
        with transaction(factory) as s:
            p = repository.partner(s, partner_id, lock=True)
            if p.seq is not None:  # another pull took it meanwhile
                result.seq = p.seq
                return
            origin = _Origin(p, _principal(s, p), str(snap.obj.get("trust")), snap.log_size)
            entries = snap.obj["entries"]
            for i, e in enumerate(entries):
                origin.add(s, e, snap.seq, f"snapshot entry {i}", result)
            p.seq = p.list_seq = snap.seq
            _save_trust(p, feed.trust)
    result.snapshot, result.seq = True, snap.seq


def _apply_page(s: Session, p: Partner, page: Page, trust: LogTrust, result: PullResult) -> None:
    if p.seq != page.since:  # another worker applied it meanwhile
        return
    origin = _Origin(p, _principal(s, p), str(page.obj.get("trust")), page.log_size)
    for c in page.changes:
        raw_seq = c.get("seq")
        seq: int = raw_seq if isinstance(raw_seq, int) else page.since  # checked by the client
        if c.get("action") == "withdraw":
            if not isinstance(c.get("id"), int):
                _quarantine(s, p, seq, None, "a withdrawal without an id", c)
                result.quarantined += 1
                continue
            result.withdrawn += _withdraw(s, p, c["id"], seq)
        elif c.get("action") == "add":
            origin.add(s, c, seq, f"change {seq}", result)
        else:
            _quarantine(s, p, seq, c.get("id") if isinstance(c.get("id"), int) else None,
                        f"unknown action {c.get('action')!r}", c)
            result.quarantined += 1
        p.list_seq = max(p.list_seq or 0, seq)
    p.seq = page.until
    _save_trust(p, trust)


def _principal(s: Session, p: Partner) -> Principal:
    """The partner's import key as the actor of its imports (its scopes as any key's: none to
    propose while it waits for a second party's approval)."""
    key = s.get(ApiKey, p.import_key_id)
    if key is None or key.revoked_at is not None:
        raise SyncError(f"partner {p.name!r}: its import key is revoked")
    org = key.organisation
    kind = OrgKind(org.kind)
    return Principal(org.id, org.name, kind, org.member_state, key.id, key.holder,
                     effective_scopes(kind, org.approved_at is not None,
                                      key.approved_at is not None, key.scopes.split()))


@dataclass
class _Origin:
    """Imports from one verified answer of one partner."""

    partner: Partner
    actor: Principal
    origin_trust: str
    log_size: int

    def add(self, s: Session, e: Any, seq: int, where: str, result: PullResult) -> None:
        p = self.partner
        origin_id = e.get("id") if isinstance(e, dict) else None
        try:
            if not isinstance(origin_id, int) or isinstance(origin_id, bool):
                raise ListFileError(f"{where}: no indicator id")
            entry = served_entry(e, where, 0)
            signal_type, value = indicators.normalise(entry.signal_type.value, entry.value)
        except (ListFileError, Invalid) as exc:
            _quarantine(s, p, seq, origin_id if isinstance(origin_id, int) else None,
                        getattr(exc, "message", str(exc)), e)
            result.quarantined += 1
            return
        if _live_imports(s, p.id, origin_id):
            return  # imported already (a snapshot entry met again, a re-sent page)
        if self.actor.scopes.isdisjoint({Scope.INDICATORS_PROPOSE}):
            raise SyncError(f"partner {p.name!r}: its import key cannot propose yet (it waits "
                            "for a second party's approval)")
        counts = p.origin_verification_counts and self.origin_trust == Trust.VERIFIED.value
        event = IndicatorEvent.IMPORTED_VERIFIED if counts else IndicatorEvent.PROPOSED
        hl = s.get(HashList, p.local_list_id)
        assert hl is not None
        provenance = {"centre": p.name, "id": origin_id, "seq": seq, "log_size": self.log_size}
        # The duplicate check of every path that adds to a list (propose, the programmes'
        # imports): a hash already on the list is not added twice.
        existing = indicators.listed(s, hl, signal_type, value)
        if existing is not None:
            record(s, None, AuditAction.PARTNER_RECORD_ALREADY_LISTED, subject=str(p.id),
                   details={"indicator": existing.id, "status": existing.status, **provenance})
            result.already_listed += 1
            return
        refused = _locally_refused(s, hl, signal_type, value)
        if refused is not None:
            _quarantine(s, p, seq, origin_id, f"locally rejected: this {signal_type} hash was "
                        f"{refused.status} here (indicator {refused.id}); not imported", e)
            result.quarantined += 1
            return
        ind = lifecycle.create(
            s, event, self.actor, hl, signal_type=signal_type, value=value,
            legal_basis=f"imported from partner centre {p.name}"[:200], label=entry.label,
            source=f"partner:{p.name}#{origin_id}"[:200], log_extra={"origin": provenance})
        s.add(PartnerIndicator(partner_id=p.id, indicator_id=ind.id, origin_id=origin_id,
                               origin_seq=seq, origin_log_size=self.log_size,
                               imported_at=now()))
        result.imported += 1


def _locally_refused(s: Session, hl: HashList, signal_type: str, value: str
                     ) -> Indicator | None:
    """An indicator of this hash on ``hl`` that this Centre rejected or retracted — not one
    that was retracted because a partner withdrew it (:func:`_withdraw`): a partner may list
    that again."""
    for ind in s.scalars(select(Indicator).where(
            Indicator.list_id == hl.id, Indicator.signal_type == signal_type,
            Indicator.value == value,
            Indicator.status.in_([IndicatorStatus.REJECTED.value,
                                  IndicatorStatus.RETRACTED.value])).order_by(Indicator.id)):
        withdrawn = (ind.status == IndicatorStatus.RETRACTED.value
                     and (ind.retract_reason or "").startswith(_WITHDRAWN)
                     and s.scalar(select(PartnerIndicator.id).where(
                         PartnerIndicator.indicator_id == ind.id)) is not None)
        if not withdrawn:
            return ind
    return None


def _live_imports(s: Session, partner_id: int, origin_id: int) -> list[Indicator]:
    return list(s.scalars(
        select(Indicator).join(PartnerIndicator, PartnerIndicator.indicator_id == Indicator.id)
        .where(PartnerIndicator.partner_id == partner_id, PartnerIndicator.origin_id == origin_id,
               Indicator.status.in_([st.value for st in _LIVE]))))


def _withdraw(s: Session, p: Partner, origin_id: int, seq: int) -> int:
    """Retract what was imported from ``origin_id`` (the origin withdrew it); returns how many."""
    n = 0
    for ind in _live_imports(s, p.id, origin_id):
        lifecycle.transition(s, ind, IndicatorEvent.RETRACTED, None,
                             reason=f"{_WITHDRAWN}{p.name} (its feed position {seq})",
                             log_extra={"origin": {"centre": p.name,
                                                                      "id": origin_id,
                                                                      "seq": seq}})
        n += 1
    return n


def _quarantine(s: Session, p: Partner, seq: int | None, origin_id: int | None, reason: str,
                raw: object) -> None:
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str, sort_keys=True)
    row = QuarantinedRecord(partner_id=p.id, origin_seq=seq, origin_id=origin_id,
                            reason=reason[:2000], record=text[:_RECORD_CHARS], at=now())
    s.add(row)
    s.flush()
    record(s, None, AuditAction.PARTNER_RECORD_QUARANTINED, subject=str(p.id),
           details={"record": row.id, "seq": seq})


def active_partner_ids(session: Session) -> Iterable[int]:
    return [p.id for p in repository.partners(session)]


def overview(session: Session) -> list[tuple[Partner, int, int | None]]:
    """Every registered partner with how many indicators it brought and the size of its last
    trusted tree head (what the CLI and the API list)."""
    counts = repository.imported_counts(session)
    out = []
    for p in repository.partners(session):
        head = json.loads(p.log_trust).get("head")
        out.append((p, counts.get(p.id, 0), head.get("tree_size") if head else None))
    return out
