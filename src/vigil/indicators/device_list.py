"""The Centre's side of end-to-end encrypted matching: export a *device list* — the setup a
device downloads for option (b), (c) or perceptual PSI (:mod:`vigil.e2ee`), and the log entries
that let the device check it (:mod:`vigil.e2ee.devicelist`).

Only the active indicators of *verified* lists whose proposing and verifying organisations are
two organisations of two jurisdictions (:func:`vigil.e2ee.devicelist.two_jurisdictions`, the
rule's one copy, applied to what the log says about them) go into it; the others are named in
the export's ``skipped``. The export appends one ``e2ee:list_published`` leaf (the setup's
SHA-256, the option, the indicators, ``previous``: the log index of the option's previous
publication or null) and signs a head over it, in the caller's transaction: the caller
commits. Before it returns, the export checks its own document as a device would
(:func:`vigil.e2ee.devicelist.accept`); a document a device would refuse is an error, and the
caller's transaction (with the publication leaf) is rolled back. :func:`refresh` re-proves a
document under the log's current head (with the leaves after the publication), as a Centre
serves it to a device whose state is newer than the export's head.

Keys: the caller's 32-byte ``key`` is key material, never used as is: each option gets its own
scalar, :func:`option_key` (HKDF-SHA256 with the option's name), so the PSI server's key
(which answers k·P for any point P a client sends) is never the threshold table's alpha — a
PSI server would otherwise be an oracle that tests any picture against the threshold table.

Cost: one pass over the whole log (every leaf parsed once) and the setup's cryptography
(``vigil bench e2ee`` measures it: ~0.2 ms per element for PSI, ~0.3 ms per slot for the
threshold table, on one core).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.e2ee import encoding, threshold
from vigil.e2ee.curve import ORDER, Scalar
from vigil.e2ee.devicelist import (
    PUBLISHED,
    DeviceList,
    DeviceState,
    Entry,
    ListRefused,
    LoggedLeaf,
    accept,
    two_jurisdictions,
)
from vigil.e2ee.perceptual import ChunkScheme, perceptual_server
from vigil.e2ee.psi import PsiServer
from vigil.errors import Invalid
from vigil.indicators.lifecycle import IndicatorEvent, IndicatorStatus
from vigil.indicators.models import HashList, Indicator
from vigil.matching.policy import Trust
from vigil.orgs.access import Principal
from vigil.translog import repository as log
from vigil.translog.sth import TreeHeadSigner

OPTION_TYPES = {"psi": ("pdq", "md5", "sha256"), "threshold": ("pdq", "md5", "sha256"),
                "psi_perceptual": ("pdq",)}


@dataclass
class Export:
    document: DeviceList
    setup: bytes
    #: Indicators left out, each with why.
    skipped: dict[int, str] = field(default_factory=dict)


@dataclass
class _Logged:
    orgs: dict[int, LoggedLeaf] = field(default_factory=dict)
    lists: dict[str, LoggedLeaf] = field(default_factory=dict)
    proposed: dict[int, LoggedLeaf] = field(default_factory=dict)
    verified: dict[int, LoggedLeaf] = field(default_factory=dict)
    data: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: The log index of each option's newest publication.
    published: dict[str, int] = field(default_factory=dict)


def _read_log(session: Session, size: int) -> _Logged:
    out = _Logged()
    for e in log.entries(session, 0, size):
        leaf = json.loads(e.leaf)
        event = leaf.get("event")
        ref = LoggedLeaf(e.index, bytes(e.leaf), ())
        if event == "org:created" and isinstance(leaf.get("org"), int):
            out.orgs.setdefault(leaf["org"], ref)
        elif event == "list:created":
            out.lists.setdefault(str(leaf.get("list")), ref)
        elif event == IndicatorEvent.PROPOSED.value:
            out.proposed.setdefault(int(leaf["indicator"]), ref)
        elif event == IndicatorEvent.VERIFIED.value:
            out.verified[int(leaf["indicator"])] = ref
        elif event == PUBLISHED:
            out.published[str(leaf.get("option"))] = e.index
            continue
        else:
            continue
        out.data[e.index] = leaf
    return out


def option_key(key: bytes, option: str) -> bytes:
    """The secret scalar of ``option`` (32 bytes, big-endian, in [1, the group order)) derived
    from the Centre's key material ``key`` (32 bytes, not all zero): HKDF-SHA256 with info
    ``vigil-e2ee-option-key\0<option>``, 48 bytes reduced modulo the order minus one (bias
    below 2^-128). The server that answers an option's queries uses this key; one option's key
    says nothing about another's. :class:`~vigil.errors.Invalid` for a malformed ``key``."""
    if len(key) != 32:
        raise Invalid("the server's key is 32 bytes")
    if not any(key):
        raise Invalid("the server's key is all zeros: generate a random one")
    okm = HKDF(hashes.SHA256(), 48, None,
               b"vigil-e2ee-option-key\0" + option.encode()).derive(key)
    return (1 + int.from_bytes(okm, "big") % (ORDER - 1)).to_bytes(32, "big")


def _setup(option: str, values: Sequence[tuple[str, str]], key: bytes,
           scheme: ChunkScheme) -> bytes:
    key = option_key(key, option)
    if option == "psi":
        return PsiServer([encoding.exact_element(t, v) for t, v in values], key=key).setup
    if option == "threshold":
        secret = Scalar(int.from_bytes(key, "big"))
        seed = hashlib.sha256(b"vigil-e2ee-table-seed" + key).digest()[:16]
        items = [encoding.exact_element(t, v).encode() for t, v in values]
        return threshold.build_table(items, secret, seed).to_bytes()
    return perceptual_server(scheme, [v for _, v in values], key=key).setup


def export(session: Session, actor: Principal | None, signer: TreeHeadSigner, option: str,
           key: bytes, scheme: ChunkScheme | None = None) -> Export:
    """Build the device list for ``option`` (``psi``, ``threshold``, ``psi_perceptual``) with
    the Centre's key material ``key`` (32 bytes; the option's scalar is :func:`option_key`),
    log its publication and sign a head over it, in the caller's transaction, and check the
    document as a device would. Raises :class:`~vigil.errors.Invalid` for an unknown option, a
    malformed key, or a document a device would refuse (naming why)."""
    if option not in OPTION_TYPES:
        raise Invalid(f"unknown option {option!r} (known: {', '.join(OPTION_TYPES)})")
    option_key(key, option)  # the key's checks, before any work
    scheme = scheme or ChunkScheme()
    logged = _read_log(session, log.size(session))
    rows = session.execute(
        select(Indicator.id, Indicator.signal_type, Indicator.value)
        .join(HashList, HashList.id == Indicator.list_id)
        .where(Indicator.status == IndicatorStatus.ACTIVE, HashList.trust == Trust.VERIFIED.value,
               Indicator.signal_type.in_(OPTION_TYPES[option]))
        .order_by(Indicator.id)).all()
    skipped: dict[int, str] = {}
    chosen: list[tuple[int, str, str]] = []
    for ind_id, signal_type, value in rows:
        p, v = logged.proposed.get(ind_id), logged.verified.get(ind_id)
        if p is None or v is None:
            skipped[ind_id] = "no proposal and verification in the log"
            continue
        parties: list[tuple[int, str | None]] = []
        for ref in (p, v):
            org = logged.data[ref.index].get("org")
            created = logged.orgs.get(org) if isinstance(org, int) else None
            if created is None or not isinstance(org, int):
                break
            state = logged.data[created.index].get("member_state")
            parties.append((org, state if isinstance(state, str) else None))
        reason = (two_jurisdictions(parties[0], parties[1]) if len(parties) == 2
                  else "an organisation that acted on it is not in the log")
        if reason is not None:
            skipped[ind_id] = reason
            continue
        chosen.append((ind_id, signal_type, value))
    setup = _setup(option, [(t, v) for _, t, v in chosen], key, scheme)
    digest = hashlib.sha256(setup).hexdigest()
    ids = [i for i, _, _ in chosen]
    index = log.append(session, {"event": PUBLISHED, "option": option, "setup_sha256": digest,
                                 "indicators": ids, "at": now().isoformat(),
                                 "previous": logged.published.get(option),
                                 "org": actor.organisation_id if actor else None})
    cache = log.TreeCache()
    head = log.signed_head(session, cache, signer)
    tree = cache.tree

    def proved(ref: LoggedLeaf) -> LoggedLeaf:
        return LoggedLeaf(ref.index, ref.leaf, tuple(tree.inclusion_proof(ref.index, head.size)))

    published = log.entries(session, index, index + 1)[0]
    entries, orgs, lists = [], {}, {}
    for ind_id in ids:
        p, v = logged.proposed[ind_id], logged.verified[ind_id]
        entries.append(Entry(ind_id, proved(p), proved(v)))
        for ref in (p, v):
            org = logged.data[ref.index]["org"]
            orgs[org] = proved(logged.orgs[org])
        name = str(logged.data[p.index].get("list"))
        if name in logged.lists:
            lists[name] = proved(logged.lists[name])
    doc = DeviceList(option, digest, head, proved(LoggedLeaf(index, bytes(published.leaf), ())),
                     tuple(entries), orgs, lists,
                     tuple(proved(LoggedLeaf(e.index, bytes(e.leaf), ()))
                           for e in log.entries(session, index + 1, head.size)))
    try:
        accept(doc, setup, signer.public_key, DeviceState(), option=option)
    except ListRefused as exc:
        raise Invalid(f"the device list would be refused by a device: {exc}") from None
    record(session, actor, AuditAction.E2EE_LIST_PUBLISHED, subject=option,
           details={"indicators": len(ids), "skipped": len(skipped), "log_index": index})
    return Export(doc, setup, skipped)


def refresh(session: Session, doc: DeviceList, signer: TreeHeadSigner) -> DeviceList:
    """``doc`` with every leaf re-proved under a head signed now over the whole log, and the
    leaves after its publication as ``tail``: what the Centre serves a device whose state is
    newer than the export's head, or once the export's head is close to
    :data:`~vigil.e2ee.devicelist.MAX_HEAD_AGE`. A device refuses a refreshed document that is
    no longer its option's newest publication (the tail shows the newer one)."""
    cache = log.TreeCache()
    head = log.signed_head(session, cache, signer)
    tree = cache.tree

    def proved(ref: LoggedLeaf) -> LoggedLeaf:
        return LoggedLeaf(ref.index, ref.leaf, tuple(tree.inclusion_proof(ref.index, head.size)))

    start = doc.published.index + 1
    tail = tuple(proved(LoggedLeaf(e.index, bytes(e.leaf), ()))
                 for e in log.entries(session, start, head.size))
    return DeviceList(doc.option, doc.setup_sha256, head, proved(doc.published),
                      tuple(Entry(e.indicator, proved(e.proposed), proved(e.verified))
                            for e in doc.entries),
                      {k: proved(v) for k, v in doc.orgs.items()},
                      {k: proved(v) for k, v in doc.lists.items()}, tail)
