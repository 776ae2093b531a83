"""Who hosts a URL and where: host → address (the resolver) → the hosting directory
(``hosting_contacts``: a domain and its subdomains, or an address range) → provider, abuse
contact, country. Without a directory entry the country comes from the address (offline
IP-to-country) and notices go to ``abuse@<host's domain>`` (RFC 2142)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import iptocc
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.takedown.fetch import Resolver
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


def resolve(session: Session, host: str, resolver: Resolver) -> Hosting:
    address = resolver.address(host)
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
