"""The prevention hub's Atom feed (RFC 4287): its newest published and changed entries, so
practitioners and aggregators learn of them without polling the API."""

from __future__ import annotations

import uuid
from xml.etree import ElementTree as ET

from sqlalchemy.orm import Session

from vigil.prevention import repository

ATOM = "http://www.w3.org/2005/Atom"


def _id(name: str) -> str:
    """A stable absolute id (RFC 4287 asks for one): a name-based UUID, the same whatever
    address the site is reached at."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'vigil:prevention:{name}')}"


def atom(session: Session, base: str | None, limit: int = 50) -> bytes:
    """The feed as UTF-8 XML. ``base``: the site's public address (``VIGIL_PUBLIC_URL``) for
    absolute links, or None for links relative to the feed's own address — never the Host
    header a caller sent. Ids are name-based UUIDs, independent of both."""
    base = (base or "").rstrip("/")
    ET.register_namespace("", ATOM)
    rows = repository.newest(session, limit)
    root = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(root, f"{{{ATOM}}}title").text = "vigil prevention hub"
    ET.SubElement(root, f"{{{ATOM}}}id").text = _id("feed")
    ET.SubElement(root, f"{{{ATOM}}}link", href=f"{base}/v1/prevention/feed.atom", rel="self")
    ET.SubElement(root, f"{{{ATOM}}}link", href=f"{base}/prevention")
    updated = max((r.updated_at for r in rows), default=None)
    ET.SubElement(root, f"{{{ATOM}}}updated").text = (
        updated.isoformat() if updated else "1970-01-01T00:00:00+00:00")
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "The Centre"
    for r in rows:
        e = ET.SubElement(root, f"{{{ATOM}}}entry")
        ET.SubElement(e, f"{{{ATOM}}}title").text = r.title
        ET.SubElement(e, f"{{{ATOM}}}id").text = _id(f"entries/{r.public_id}")
        ET.SubElement(e, f"{{{ATOM}}}link", href=f"{base}/prevention/entries/{r.public_id}")
        ET.SubElement(e, f"{{{ATOM}}}updated").text = r.updated_at.isoformat()
        ET.SubElement(e, f"{{{ATOM}}}published").text = r.published_at.isoformat()
        ET.SubElement(e, f"{{{ATOM}}}category", term=r.kind)
        ET.SubElement(e, f"{{{ATOM}}}summary").text = r.summary
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
