"""Series linking: register a case's series, decide whether it can be found, withdraw it, and
ask which other authorities hold near-duplicates (every answer audited).

A de-confliction answer is *hit / no hit* per organisation (as in the Prüm exchanges): it names
each other organisation whose *discoverable* series hold near-duplicates (PDQ within the
threshold) of the asker's — whom to contact — and nothing more: no counts, no item numbers,
never their media, hashes, series ids or case references. A count would let an asker weigh its
probes (an item repeated 1, 2, 4 … times) and read many yes/no answers out of one number, which
recovers another authority's exact hash in a few dozen asks; hit / no hit tells at most one bit
per organisation per ask, and asks are a daily quota per organisation (decision 0035). The
counts are kept in the audit record, for the Centre and auditors. A video item is its frames'
PDQs (frames below PDQ quality 50 are dropped): two video items match when a frame of one is
within the threshold of a frame of the other. Each server worker keeps one index of every discoverable
hash (:class:`DiscoverableIndex`, exact radius queries with
:class:`~vigil.matching.index.PdqIndex`) and rebuilds it when the series' version has moved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.errors import Conflict, Forbidden, Invalid
from vigil.matching.errors import InvalidSignal
from vigil.matching.index import PdqIndex
from vigil.matching.signals import PDQ_MIN_QUALITY, PdqHash, VpdqHash
from vigil.orgs.access import Principal
from vigil.orgs.models import Organisation
from vigil.series import repository
from vigil.series.models import CaseSeries, SeriesHash

#: Items of one series, at most; and PDQs in all (a video's frames count one each).
MAX_ITEMS = 10_000
MAX_HASHES = 100_000


@dataclass(frozen=True)
class ItemIn:
    """One item: an image's ``pdq`` or a video's ``vpdq`` (threatexchange's text form)."""

    pdq: str | None = None
    vpdq: str | None = None


@dataclass(frozen=True)
class Contact:
    """Whom to contact: an organisation whose discoverable series hold near-duplicates (all an
    answer tells: see the module's docstring)."""

    organisation: str
    kind: str
    member_state: str | None


def require_linking(principal: Principal) -> None:
    """:class:`~vigil.errors.Forbidden` unless the caller is an authority or Europol (the Centre's
    keys hold every scope, series:link included, and are refused here)."""
    if principal.kind not in repository.LINKING_KINDS:
        raise Forbidden("series linking is for law-enforcement authorities and Europol")


def _hashes(items: list[ItemIn]) -> list[tuple[int, str]]:
    if not 1 <= len(items) <= MAX_ITEMS:
        raise Invalid(f"a series has 1 to {MAX_ITEMS} items, got {len(items)}")
    out: list[tuple[int, str]] = []
    for n, item in enumerate(items):
        if (item.pdq is None) == (item.vpdq is None):
            raise Invalid(f"item {n}: give either pdq or vpdq")
        try:
            if item.pdq is not None:
                out.append((n, PdqHash.parse(item.pdq).hex))
            else:
                frames = [f.pdq for f in VpdqHash.parse(item.vpdq).frames
                          if f.quality >= PDQ_MIN_QUALITY]
                if not frames:
                    raise Invalid(f"item {n}: no frame of PDQ quality {PDQ_MIN_QUALITY} or more")
                out += [(n, f) for f in frames]
        except InvalidSignal as exc:
            raise Invalid(f"item {n}: {exc.message}") from None
        if len(out) > MAX_HASHES:
            raise Invalid(f"a series has at most {MAX_HASHES} hashes (video frames included)")
    return out


def register(session: Session, principal: Principal, reference: str, discoverable: bool,
             items: list[ItemIn], *, max_hashes: int) -> CaseSeries:
    """Register a series of the caller's case; audited (``series:registered``). Raises
    :class:`~vigil.errors.Conflict` when the organisation's series would hold more than
    ``max_hashes`` hashes (``VIGIL_SERIES_HASHES_PER_ORGANISATION``)."""
    require_linking(principal)
    hashes = _hashes(items)
    # One registration at a time per organisation (PostgreSQL: the row lock; SQLite has one
    # writer anyway), so that two at once cannot both pass the check.
    session.scalar(select(Organisation.id).where(Organisation.id == principal.organisation_id)
                   .with_for_update())
    held = repository.hashes_held(session, principal)
    if held + len(hashes) > max_hashes:
        raise Conflict(f"your organisation's series hold {held:,} hashes; this one adds "
                       f"{len(hashes):,}, over the {max_hashes:,} an organisation may hold "
                       "(VIGIL_SERIES_HASHES_PER_ORGANISATION): withdraw a series first")
    found = CaseSeries(organisation_id=principal.organisation_id, reference=reference,
                       discoverable=discoverable, items=len(items), created_at=datetime.now(UTC))
    session.add(found)
    session.flush()
    session.add_all(SeriesHash(series_id=found.id, item=i, pdq=p) for i, p in hashes)
    if discoverable:
        repository.bump_version(session)
    record(session, principal, AuditAction.SERIES_REGISTERED, f"series:{found.id}",
           {"items": len(items), "hashes": len(hashes), "discoverable": discoverable})
    return found


def set_discoverable(session: Session, principal: Principal, series_id: int,
                     discoverable: bool) -> CaseSeries:
    found = repository.series(session, principal, series_id, for_change=True)
    if found.discoverable != discoverable:
        found.discoverable = discoverable
        repository.bump_version(session)
        record(session, principal, AuditAction.SERIES_DISCOVERABILITY_CHANGED,
               f"series:{found.id}", {"discoverable": discoverable})
    return found


def withdraw(session: Session, principal: Principal, series_id: int) -> CaseSeries:
    """Withdraw a series: its hashes are deleted at once."""
    found = repository.series(session, principal, series_id, for_change=True)
    session.execute(delete(SeriesHash).where(SeriesHash.series_id == found.id))
    found.withdrawn_at = datetime.now(UTC)
    if found.discoverable:
        repository.bump_version(session)
    record(session, principal, AuditAction.SERIES_WITHDRAWN, f"series:{found.id}", {})
    return found


@dataclass(frozen=True)
class _Snapshot:
    version: int
    index: PdqIndex
    #: Per indexed hash (its id in the index is its position): organisation, series, item.
    org: np.ndarray
    series: np.ndarray
    item: np.ndarray


class DiscoverableIndex:
    """Every discoverable series hash of every organisation, indexed once per version of the
    series (:func:`repository.version`) for one server worker's asks: an ask then costs a
    version read and a search, not a read and an index of all others' hashes (which also made
    its time tell how many there are). Thread-safe; a rebuild happens under a lock, once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap: _Snapshot | None = None

    def refresh(self, factory: sessionmaker[Session]) -> None:
        """Bring the index up to date before an ask opens its transaction: a connection is
        held only to read the token and, by the one ask that rebuilds, the hashes — asks that
        wait for a rebuild hold none (they held their request's, and one rebuild left the
        whole service waiting for the pool)."""
        with factory() as s:
            version = repository.version(s)
        snap = self._snap
        if snap is not None and snap.version == version:
            return
        with self._lock, factory() as s:
            self._rebuild_if_stale(s)

    def current(self, session: Session) -> _Snapshot:
        version = repository.version(session)
        snap = self._snap
        if snap is not None and snap.version == version:
            return snap
        with self._lock:
            return self._rebuild_if_stale(session)

    def _rebuild_if_stale(self, session: Session) -> _Snapshot:
        """Under the lock. Reads the token again: asks that waited for one rebuild use it
        rather than each rebuilding for the token it read before waiting."""
        version = repository.version(session)
        snap = self._snap
        if snap is None or snap.version != version:
            rows = repository.discoverable_hashes(session)
            index = (PdqIndex.build([p for *_, p in rows], range(len(rows))) if rows
                     else PdqIndex())
            cols = np.array([r[:3] for r in rows], dtype=np.int64).reshape(len(rows), 3)
            snap = self._snap = _Snapshot(version, index, cols[:, 0].copy(),
                                          cols[:, 1].copy(), cols[:, 2].copy())
        return snap


def deconflict(session: Session, principal: Principal, series_id: int, threshold: int,
               discoverable: DiscoverableIndex | None = None) -> list[Contact]:
    """Which other organisations hold near-duplicates of this series, by name (see the
    module's docstring); audited (``series:queried``) with the counts behind the answer.
    Raises :class:`~vigil.errors.NotFound` for a series that is not the caller's."""
    found = repository.series(session, principal, series_id)
    ours = repository.hashes_of(session, found)
    snap = (discoverable or DiscoverableIndex()).current(session)
    per_org: dict[int, tuple[set[int], set[tuple[int, int]]]] = {}
    if ours and len(snap.org):
        hits = snap.index.search_batch([p for _, p in ours], threshold)
        for q, t in zip(hits.query.tolist(), hits.ids.tolist(), strict=True):
            org = int(snap.org[t])
            if not repository.counts_for(principal, org):
                continue
            mine, others = per_org.setdefault(org, (set(), set()))
            mine.add(ours[q][0])
            others.add((int(snap.series[t]), int(snap.item[t])))
    orgs = repository.organisations(session, set(per_org))
    contacts = sorted((Contact(orgs[o].name, orgs[o].kind, orgs[o].member_state)
                       for o in per_org), key=lambda c: c.organisation)
    record(session, principal, AuditAction.SERIES_QUERIED, f"series:{found.id}",
           {"threshold": threshold, "items": found.items,
            "answers": [{"organisation_id": o, "your_items": len(m), "their_items": len(t),
                         "their_series": len({s for s, _ in t})}
                        for o, (m, t) in sorted(per_org.items())]})
    return contacts


def refused(session: Session, principal: Principal, series_id: int, reason: str) -> None:
    """Audit an ask that got no answer (``series:query_refused``, ``reason`` ``not_found`` or
    ``quota``), in a transaction of its own: the Centre sees who probes series ids or runs
    into the quota. A series that is another's and one that does not exist are recorded
    alike."""
    record(session, principal, AuditAction.SERIES_QUERY_REFUSED, f"series:{series_id}",
           {"reason": reason})
