"""Who hosts a URL and where: host → address (the egress policy's resolution) → the hosting directory
(``hosting_contacts``: a domain and its subdomains, or an address range) → provider, abuse
contact, country. Without a directory entry the country comes from the address (offline
IP-to-country) and notices go to ``abuse@<host's domain>`` (RFC 2142)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import iptocc
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.egress import EgressPolicy
from vigil.errors import Invalid
from vigil.orgs.access import Principal, Scope
from vigil.takedown.models import HostingContact
from vigil.takedown.urls import in_domains


@dataclass(frozen=True)
class Hosting:
    address: str | None
    country: str | None
    provider: str
    email: str | None
    webhook: str | None


def _country(address: str | None) -> str | None:
    if not address:
        return None
    try:
        code = iptocc.country_code(address)
    except Exception:
        return None
    return str(code) if code else None


def _domain(host: str) -> str:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host  # an address has no domain to write to
    except ValueError:
        pass
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else host


def resolve(session: Session, host: str, policy: EgressPolicy) -> Hosting:
    found = policy.addresses(host)
    address = found[0] if found else None
    contacts = list(session.scalars(select(HostingContact)))
    best: HostingContact | None = None
    for c in contacts:  # the most specific domain wins; an address range otherwise
        if "/" in c.match:
            try:
                if address and ipaddress.ip_address(address) in ipaddress.ip_network(c.match, strict=False):
                    best = best or c
            except ValueError:
                continue
        elif in_domains(host, [c.match]) and (best is None or "/" in best.match
                                              or len(c.match) > len(best.match)):
            best = c
    if best is not None:
        return Hosting(address, (best.country or _country(address)), best.provider, best.email,
                       best.webhook)
    return Hosting(address, _country(address), _domain(host), f"abuse@{_domain(host)}", None)


def set_contact(session: Session, actor: Principal, match: str, provider: str,
                email: str | None, webhook: str | None, country: str | None) -> HostingContact:
    """Add or replace the directory entry for a domain (and its subdomains) or an address
    range; audited."""
    actor.require(Scope.TAKEDOWN_MANAGE)
    if not email and not webhook:
        raise Invalid("a hosting contact needs an e-mail address or a webhook")
    if email and "@" not in email:
        raise Invalid(f"not an e-mail address: {email!r}")
    if webhook and not webhook.startswith(("https://", "http://")):
        raise Invalid("the webhook must be an http(s) URL")
    key = match.strip().lower()
    c = session.scalar(select(HostingContact).where(HostingContact.match == key))
    if c is None:
        c = HostingContact(match=key, provider=provider)
        session.add(c)
    c.provider, c.email, c.webhook = provider, email, webhook
    c.country = country.upper() if country else None
    session.flush()
    record(session, actor, AuditAction.HOSTING_CONTACT_SET, subject=key)
    return c
