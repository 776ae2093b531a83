"""Every read of registered series goes through here, and what a principal may read is decided
here only: an authority (or Europol) reads its own series; nobody else reads any. The hashes
of discoverable series are read only into the de-confliction index
(:func:`discoverable_hashes`), never returned, and an ask counts the hits of other
organisations only (:func:`counts_for`)."""

from __future__ import annotations

import secrets

from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigil.errors import NotFound
from vigil.orgs.access import OrgKind, Principal
from vigil.orgs.models import Organisation
from vigil.series.models import CaseSeries, SeriesHash, SeriesVersion

#: The organisations that link series: law enforcement.
LINKING_KINDS = frozenset({OrgKind.AUTHORITY, OrgKind.EUROPOL})


def readable_series(principal: Principal) -> ColumnElement[bool]:
    """Which series this caller may read: an authority's or Europol's own, not withdrawn."""
    if principal.kind not in LINKING_KINDS:
        return false()
    return (CaseSeries.organisation_id == principal.organisation_id) \
        & CaseSeries.withdrawn_at.is_(None)


def own_series(session: Session, principal: Principal) -> list[CaseSeries]:
    return list(session.scalars(select(CaseSeries).where(readable_series(principal))
                                .order_by(CaseSeries.id)))


def series(session: Session, principal: Principal, series_id: int, *,
           for_change: bool = False) -> CaseSeries:
    """The caller's series ``series_id`` (not withdrawn); :class:`~vigil.errors.NotFound`
    otherwise, another's alike. ``for_change``: locked until the transaction ends (PostgreSQL;
    SQLite has one writer), so that two changes of one series run one after the other and each
    decides from what the other committed — a withdrawal that read "not discoverable" while a
    change to discoverable committed left the index's token unchanged and its hashes found."""
    query = select(CaseSeries).where(CaseSeries.id == series_id, readable_series(principal))
    found = session.scalar(query.with_for_update() if for_change else query)
    if found is None:
        raise NotFound(f"no series {series_id}")
    return found


def hashes_of(session: Session, found: CaseSeries) -> list[tuple[int, str]]:
    """(item, pdq) of a series the caller read through :func:`series`."""
    return [(r.item, r.pdq) for r in session.scalars(
        select(SeriesHash).where(SeriesHash.series_id == found.id).order_by(SeriesHash.id))]


def hashes_held(session: Session, principal: Principal) -> int:
    """How many hashes the caller's own series (not withdrawn) hold."""
    return int(session.scalar(
        select(func.count()).select_from(SeriesHash)
        .join(CaseSeries, CaseSeries.id == SeriesHash.series_id)
        .where(readable_series(principal))) or 0)


def discoverable_hashes(session: Session) -> list[tuple[int, int, int, str]]:
    """(organisation, series, item, pdq) of every discoverable series, for the de-confliction
    index only (no caller ever sees them; :func:`counts_for` says whose hits an ask counts)."""
    rows = session.execute(
        select(CaseSeries.organisation_id, SeriesHash.series_id, SeriesHash.item, SeriesHash.pdq)
        .join(CaseSeries, CaseSeries.id == SeriesHash.series_id)
        .where(CaseSeries.discoverable.is_(True), CaseSeries.withdrawn_at.is_(None))
        .order_by(SeriesHash.id))
    return [(int(o), int(s), int(i), str(p)) for o, s, i, p in rows]


def counts_for(principal: Principal, organisation_id: int) -> bool:
    """Whether a hit in ``organisation_id``'s series counts in this caller's answer: another
    organisation's, and the caller links series."""
    return principal.kind in LINKING_KINDS and organisation_id != principal.organisation_id


def version(session: Session) -> int:
    """The token of what the de-confliction index holds now. Read it *before*
    :func:`discoverable_hashes`: an index labelled with an older token is only rebuilt once
    more, never kept stale. Without the row (or with 0, which no change writes), a new random
    number each time: no index is taken for current until a change writes a token again."""
    token = session.scalar(select(SeriesVersion.token).where(SeriesVersion.id == 1))
    return int(token) if token else -1 - secrets.randbits(62)


def bump_version(session: Session) -> None:
    """A new token for a change of what the index holds, in the change's transaction (an
    upsert: a missing row is made again, and two first changes at once both succeed)."""
    token = secrets.randbits(62) + 1
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(SeriesVersion).values(id=1, token=token)
                    .on_conflict_do_update(index_elements=["id"], set_={"token": token}))


def organisations(session: Session, ids: set[int]) -> dict[int, Organisation]:
    """The organisations a de-confliction answer names (name, kind, member state)."""
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}
