"""A list in the formats the programmes take (``vigil exchange export``).

* ``threatexchange``: threatexchange's local-file format, ``<signal type> <hash>`` per line
  (written by :func:`vigil.matching.listfile.te_text`, the home of that format; threatexchange
  reads ``pdq`` and ``video_md5`` lines, vigil reads all).
* ``ncmec``: NCMEC hash sharing's entries document — ``<images>``/``<videos>`` of entries with
  an ``<id>``, a ``<member id>``, a ``<classification>`` and ``<fingerprints>`` (``MD5``,
  ``SHA1``, ``PDQ``) — the shape threatexchange's ``NCMECEntryUpdate.from_xml`` reads. The
  library has no call that uploads entries (NCMEC takes them through its own submission
  agreement), so this is the document to hand over. ``<member id>`` is the vigil organisation
  that proposed the hash, not an NCMEC ESP id. SHA-256 and vPDQ have no NCMEC fingerprint name
  and are left out (counted).
* ``stopncii``: the body of StopNCII's ``SubmitHashes`` as the library's ``submit_hashes``
  builds it — ``{"count", "hashRecords": [{"lastModtimestamp", "signalType", "hashValue",
  "CSPFeedbacks": [{"tags", "feedbackValue": "Blocked"}]}]}`` — with ``signalType`` written
  as the API's name (``ImagePDQ``, ``VideoMD5``; the library's ``str()`` of the enum would
  write ``StopNCIISignalType.ImagePDQ``). StopNCII takes image PDQs and video MD5s only.
* ``vics``: Project VIC's VICS 1.3 media file (:mod:`vigil.matching.vics`) of the MD5, SHA1 and
  PDQ indicators (PDQ as an ``AlternativeHashes`` entry); hashes a VICS import brought go back
  as their media record (flags, series, PhotoDNA), others one media per indicator (MediaID
  ``vigil-<indicator id>``).

Only **active** indicators are exported unless asked otherwise: a pending hash has not been
verified by two organisations, and sharing it would spread it as if it had.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from threatexchange.exchanges.clients.stopncii import api as stopncii_api

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.errors import Invalid
from vigil.indicators import service as indicators
from vigil.indicators.models import Indicator
from vigil.matching.listfile import te_text
from vigil.matching.vics import VicsMedia, write_vics
from vigil.orgs import service as orgs
from vigil.orgs.access import Scope
from vigil.sharing import service

FORMATS = ("threatexchange", "ncmec", "stopncii", "vics")
NCMEC_NAMESPACE = "https://hashsharing.ncmec.org/hashsharing/v2"
_NCMEC_FINGERPRINTS = {"pdq": ("image", "PDQ"), "md5": ("image", "MD5"), "sha1": ("image", "SHA1"),
                       "video_md5": ("video", "MD5")}
_STOPNCII_TYPES = {"pdq": stopncii_api.StopNCIISignalType.ImagePDQ,
                   "video_md5": stopncii_api.StopNCIISignalType.VideoMD5}
_VICS_TYPES = ("md5", "sha1", "pdq")


@dataclass
class Export:
    data: bytes
    exported: int = 0
    #: Signal type → how many indicators the format has no place for.
    left_out: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"exported": self.exported, "left_out": self.left_out, "bytes": len(self.data)}


def _indicators(session: Session, list_name: str, status: str) -> Iterator[Indicator]:
    actor = service.import_principal(session, "export", frozenset({Scope.INDICATORS_READ}))
    after = 0
    while True:
        page = indicators.list_indicators(session, actor, status, list_name, 1000, after)
        yield from page
        if len(page) < 1000:
            return
        after = page[-1].id


def export_list(session: Session, list_name: str, fmt: str, *, status: str = "active") -> Export:
    """``list_name``'s indicators (of ``status``) in format ``fmt``; records
    ``exchange:exported`` in the caller's transaction. Raises :class:`Invalid` for an unknown
    format or status, NotFound for an unknown list."""
    if fmt not in FORMATS:
        raise Invalid(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    indicators.get_list(session, list_name)
    rows = list(_indicators(session, list_name, status))
    out = {"threatexchange": _threatexchange, "ncmec": _ncmec, "stopncii": _stopncii,
           "vics": _vics}[fmt](session, rows)
    actor = service.import_principal(session, "export", frozenset({Scope.INDICATORS_READ}))
    record(session, actor, AuditAction.EXCHANGE_EXPORTED, subject=list_name,
           details={"format": fmt, "status": status, "exported": out.exported,
                    "left_out": out.left_out})
    return out


def _left_out(out: Export, ind: Indicator) -> None:
    out.left_out[ind.signal_type] = out.left_out.get(ind.signal_type, 0) + 1


def _threatexchange(session: Session, rows: list[Indicator]) -> Export:
    return Export(te_text([(i.signal_type, i.value) for i in rows]).encode(), len(rows))


def _ncmec(session: Session, rows: list[Indicator]) -> Export:
    names = orgs.names(session)
    root = ET.Element("queryResult", {"xmlns": NCMEC_NAMESPACE})
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    blocks = {kind: ET.SubElement(root, f"{kind}s", {"maxTimestamp": stamp})
              for kind in ("image", "video")}
    out = Export(b"")
    for ind in rows:
        where = _NCMEC_FINGERPRINTS.get(ind.signal_type)
        if where is None:
            _left_out(out, ind)
            continue
        kind, name = where
        entry = ET.SubElement(blocks[kind], kind)
        ET.SubElement(entry, "id").text = f"vigil-{ind.id}"
        member = ET.SubElement(entry, "member", {"id": str(ind.proposed_by_org)})
        member.text = names.get(ind.proposed_by_org, "")
        if ind.label:
            ET.SubElement(entry, "classification").text = ind.label
        prints = ET.SubElement(entry, "fingerprints")
        ET.SubElement(prints, name).text = ind.value
        out.exported += 1
    for block in blocks.values():
        block.set("count", str(len(block)))
        if not len(block):
            root.remove(block)
    out.data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


def _stopncii(session: Session, rows: list[Indicator]) -> Export:
    now = int(time.time())
    records = []
    out = Export(b"")
    for ind in rows:
        st = _STOPNCII_TYPES.get(ind.signal_type)
        if st is None:
            _left_out(out, ind)
            continue
        feedback = stopncii_api.StopNCIICSPFeedback(stopncii_api.StopNCIICSPFeedbackValue.Blocked,
                                                    {ind.label} if ind.label else set())
        records.append({"lastModtimestamp": now, "signalType": st.value, "hashValue": ind.value,
                        "CSPFeedbacks": [feedback.as_dict_for_post()]})
    out.exported = len(records)
    out.data = json.dumps({"count": len(records), "hashRecords": records}, indent=1).encode()
    return out


def _vics(session: Session, rows: list[Indicator]) -> Export:
    out = Export(b"")
    usable = [i for i in rows if i.signal_type in _VICS_TYPES]
    for ind in rows:
        if ind.signal_type not in _VICS_TYPES:
            _left_out(out, ind)
    actor = service.import_principal(session, "export", frozenset({Scope.INDICATORS_READ}))
    origin = service.imported_records(session, actor, [i.id for i in usable])
    media: dict[str, dict[str, Any]] = {}
    for ind in usable:
        programme, key, meta = origin.get(ind.id, ("", "", {}))
        if programme == "vics" and "media_id" in meta:
            group = media.setdefault(f"vics:{key}", {**meta})
        else:
            group = media.setdefault(f"vigil:{ind.id}", {"media_id": f"vigil-{ind.id}"})
        group[ind.signal_type] = ind.value
        out.exported += 1
    out.data = write_vics(VicsMedia(
        m["media_id"], m.get("category"), m.get("md5"), m.get("sha1"), m.get("photodna"),
        m.get("series"), m.get("victim_identified"), m.get("offender_identified"),
        m.get("is_distributed"), m.get("pdq")) for m in media.values())
    return out
