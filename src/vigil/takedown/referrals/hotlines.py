"""The registry of partner hotlines: one per country, written by the Centre only (it decides
where every referral goes), read by the referral flow. A hotline's secret is sealed at rest and
never shown again; listings carry everything else."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Forbidden, Invalid, NotFound
from vigil.orgs.access import OrgKind, Principal, Scope
from vigil.takedown.referrals import lifecycle
from vigil.takedown.referrals.models import PartnerHotline, Referral

#: ``vigil``: a partner vigil, referred through its API; ``webhook``: a signed webhook.
KINDS = ("vigil", "webhook")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class HotlineIn:
    """What the Centre registers: ``country`` (ISO 3166-1 alpha-2, any country), ``name``
    (1-200 characters), ``kind`` (one of :data:`KINDS`), ``url`` (http(s), at most 2048
    characters: a partner vigil's base URL or the webhook's URL) and ``secret`` (1-512
    characters: the API key the partner vigil issued to this Centre, or the webhook's shared
    secret)."""

    country: str
    name: str
    kind: str
    url: str
    secret: str


def _check(entry: HotlineIn) -> HotlineIn:
    country = entry.country.strip().upper()
    if not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise Invalid(f"the country must be a two-letter code, not {entry.country!r}")
    name = entry.name.strip()
    if not 1 <= len(name) <= 200 or _CONTROL.search(name):
        raise Invalid("a hotline's name is 1-200 characters without control characters")
    kind = entry.kind.strip().lower()
    if kind not in KINDS:
        raise Invalid(f"a hotline's kind is one of {', '.join(KINDS)}, not {entry.kind!r}")
    url = entry.url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > 2048 or _CONTROL.search(url) \
            or " " in url:
        raise Invalid("a hotline's URL is an http(s) URL of at most 2048 characters")
    if not 1 <= len(entry.secret) <= 512 or _CONTROL.search(entry.secret):
        raise Invalid("a hotline's secret is 1-512 characters without control characters")
    return HotlineIn(country, name, kind, url.rstrip("/") if kind == "vigil" else url,
                     entry.secret)


def _centre(actor: Principal | None) -> None:
    if actor is None:
        return  # the operator, at the server's command line
    actor.require(Scope.ORGS_MANAGE)
    if actor.kind is not OrgKind.CENTRE:
        raise Forbidden("only the Centre keeps the registry of partner hotlines")


def add(session: Session, actor: Principal | None, entry: HotlineIn) -> PartnerHotline:
    """Register a partner hotline for its country; audited. Raises Invalid naming the bad
    field, Conflict when the country has one already (remove it first: one hotline per
    country receives its referrals)."""
    _centre(actor)
    entry = _check(entry)
    held = session.scalar(select(PartnerHotline).where(PartnerHotline.country == entry.country))
    if held is not None:
        raise Conflict(f"{entry.country} has a partner hotline already ({held.name}); remove "
                       "it first")
    hotline = PartnerHotline(country=entry.country, name=entry.name, kind=entry.kind,
                             url=entry.url, secret=entry.secret, created_at=now(),
                             created_by_org=actor.organisation_id if actor else None)
    session.add(hotline)
    session.flush()
    record(session, actor, AuditAction.HOTLINE_ADDED, subject=entry.country,
           details={"name": entry.name, "kind": entry.kind, "url": entry.url})
    return hotline


def listing(session: Session, actor: Principal | None) -> list[PartnerHotline]:
    """Every partner hotline, by country."""
    _centre(actor)
    return list(session.scalars(select(PartnerHotline).order_by(PartnerHotline.country)))


def remove(session: Session, actor: Principal | None, country: str) -> PartnerHotline:
    """Remove the hotline of ``country``; audited. Its referrals keep their history (its name)
    but are no longer delivered or followed. Raises NotFound."""
    _centre(actor)
    code = country.strip().upper()
    hotline = session.scalar(select(PartnerHotline).where(PartnerHotline.country == code))
    if hotline is None:
        raise NotFound(f"no partner hotline for {code or '(no country)'}")
    for referral in session.scalars(select(Referral).where(Referral.hotline_id == hotline.id)):
        referral.hotline_id = None
        lifecycle.release_notice(session, referral)  # nobody there sends the notice now
    session.delete(hotline)
    session.flush()
    record(session, actor, AuditAction.HOTLINE_REMOVED, subject=code,
           details={"name": hotline.name})
    return hotline


def for_country(session: Session, country: str | None) -> PartnerHotline | None:
    """The partner hotline of ``country`` (None: none, or no country)."""
    if not country:
        return None
    return session.scalar(select(PartnerHotline).where(PartnerHotline.country == country.upper()))


def as_json(h: PartnerHotline) -> dict[str, object]:
    """A hotline without its secret."""
    return {"id": h.id, "country": h.country, "name": h.name, "kind": h.kind, "url": h.url,
            "created_at": h.created_at}
