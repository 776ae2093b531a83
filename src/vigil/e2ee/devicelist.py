"""Safeguards a device applies before it uses a list it cannot read: the list must be in the
Centre's transparency log, every entry verified by two organisations of two jurisdictions, and
the log's head consistent with every head this device saw before.

A device under options (b), (c) and perceptual PSI holds a list it cannot read (blinded
elements, a table of points). So it cannot check the list's *values*; it checks everything else,
from the Centre's log (:mod:`vigil.translog`) and nothing else:

1. the signed tree head (``head``) verifies with the log key the device was shipped;
2. that head is consistent (RFC 9162 consistency proof) with the newest head this device saw
   before (:class:`DeviceState`), and not older: a log that showed this device another history
   than everyone else — the only way to give one device a list of its own — is refused;
3. a ``e2ee:list_published`` leaf, included under the head, names the SHA-256 of the exact setup
   bytes the device got, the option, and the indicators it was built from: every device that
   accepts a list accepts the same bytes, which an auditor holding the server's key can
   rebuild (:func:`vigil.indicators.device_list.export` is deterministic in the key and the
   indicators);
4. for each indicator: its ``indicator:proposed`` and ``indicator:verified`` leaves, included
   under the head; the list it was proposed on was created as a *verified* list
   (``list:created`` leaf); the ``org:created`` leaves of the proposing and verifying
   organisations; and :func:`two_jurisdictions` on them.

5. the list is the **newest** publication of its option (no rollback to an older list, e.g.
   one with an indicator since retracted): the document carries every leaf after the
   publication up to ``head.size`` (``tail``, each with its inclusion proof; empty when the
   head was signed right after the publication, as :func:`vigil.indicators.device_list.export`
   does), and none of them may be a later publication of the same option; the device keeps the
   log index of the publication it accepted per option (:class:`DeviceState`) and refuses a
   lower one; the head is at most ``max_age`` old (:data:`MAX_HEAD_AGE`) by the device's
   clock, so an old document with its old head cannot be replayed to a new device for longer
   than that. Each publication leaf also names its predecessor of the same option
   (``previous``: its log index, or null), so the chain can be followed back in the log;
6. the list is of the option the device expects (``option``).

What the device cannot check, and who does: that each blinded element is the value of its
indicator (only the holder of the server's key can: the auditor's rebuild), and that no
indicator was retracted between its verification and the publication (the auditor's replay of
the whole log, ``vigil audit verify``, sees every later leaf; the device sees only the ones
it is given). A Centre that gives one device a head it gives nobody else (a fork), or withholds
the newest publication from one device for less than ``max_age``, is found only by comparing
heads between devices or with auditors (gossip), **which is not implemented**. A list that
fails any check is refused whole, with the first reason.

Format (JSON, ``format: "vigil-e2ee-device-list-v3"``): ``option``, ``setup_sha256`` (hex),
``head`` (a signed tree head as ``GET /v1/log/head`` gives it), ``published``, ``entries``
(``indicator``, ``proposed``, ``verified``), ``orgs`` and ``lists`` (by id / name), ``tail``
(the leaves after ``published``, in order), ``nodes`` (every hash of every inclusion proof,
once, base64: the proofs of neighbouring leaves share most of their nodes); every leaf is
``{"index", "leaf": the logged bytes as text, "proof": [positions in nodes]}``. v2 wrote each
proof's hashes out in full (2,351 bytes an entry at 20,000 entries, over
:data:`MAX_DOCUMENT_BYTES` at a million); ``vigil bench e2ee`` measures the size per entry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigil.clock import now as _now
from vigil.countries import country_of
from vigil.translog.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from vigil.translog.sth import SignedTreeHead, verify_tree_head

FORMAT = "vigil-e2ee-device-list-v3"
PUBLISHED = "e2ee:list_published"
OPTIONS = ("psi", "threshold", "psi_perceptual")
#: A device list larger than this is refused before it is parsed.
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024 * 1024
#: A list whose tree head is older than this (by the device's clock) is refused: the longest a
#: Centre can keep serving a device a superseded list it has the old head of. The Centre signs
#: a fresh head over the newest publication (:func:`vigil.indicators.device_list.refresh`)
#: more often than this.
MAX_HEAD_AGE = timedelta(days=7)
#: Clock skew tolerated for a head from the future.
_SKEW = timedelta(minutes=10)
_MAX_PROOF = 64


class ListRefused(ValueError):
    """The device refuses the list; the message says why (the first failed check)."""


def two_jurisdictions(proposer: tuple[int, str | None], verifier: tuple[int, str | None]) -> str | None:
    """The rule for lists a device matches against without reading them: the proposing and the
    verifying organisation (id, country code as logged) are two organisations *and* two
    jurisdictions (countries, :func:`vigil.countries.country_of`: ``EL`` and ``GR`` are one).
    Returns why not, or None when the rule holds. The one copy of the rule: the Centre's export
    (:mod:`vigil.indicators.device_list`) and the device both call it."""
    (p_org, p_code), (v_org, v_code) = proposer, verifier
    if p_org == v_org:
        return f"proposed and verified by the same organisation ({p_org})"
    p, v = country_of(p_code), country_of(v_code)
    if p is None or v is None:
        missing = p_org if p is None else v_org
        return f"organisation {missing} has no country in the log: its jurisdiction is unknown"
    if p == v:
        return f"organisations {p_org} and {v_org} are both in one jurisdiction ({p})"
    return None


@dataclass(frozen=True)
class LoggedLeaf:
    """A log leaf (its exact bytes) with its inclusion proof under the document's head."""

    index: int
    leaf: bytes
    proof: tuple[bytes, ...]

    def data(self) -> dict[str, Any]:
        try:
            out = json.loads(self.leaf)
        except ValueError:
            raise ListRefused(f"log entry {self.index} is not JSON") from None
        if not isinstance(out, dict):
            raise ListRefused(f"log entry {self.index} is not a JSON object")
        return out

    def to_json(self, nodes: dict[bytes, int]) -> dict[str, Any]:
        """The leaf, its proof as positions in the document's node table ``nodes`` (filled
        here with the hashes it did not hold yet)."""
        return {"index": self.index, "leaf": self.leaf.decode(),
                "proof": [nodes.setdefault(p, len(nodes)) for p in self.proof]}

    @classmethod
    def from_json(cls, obj: object, nodes: Sequence[bytes]) -> LoggedLeaf:
        if not isinstance(obj, dict) or type(obj.get("index")) is not int \
                or not isinstance(obj.get("leaf"), str) or not isinstance(obj.get("proof"), list) \
                or len(obj["proof"]) > _MAX_PROOF:
            raise ListRefused("malformed log entry in the device list")
        at = obj["proof"]
        if not all(type(i) is int and 0 <= i < len(nodes) for i in at):
            raise ListRefused("malformed proof in the device list (not a node of its table)")
        return cls(obj["index"], obj["leaf"].encode(), tuple(nodes[i] for i in at))


@dataclass(frozen=True)
class Entry:
    indicator: int
    proposed: LoggedLeaf
    verified: LoggedLeaf


@dataclass(frozen=True)
class DeviceList:
    option: str
    setup_sha256: str
    head: SignedTreeHead
    published: LoggedLeaf
    entries: tuple[Entry, ...]
    orgs: dict[int, LoggedLeaf] = field(default_factory=dict)
    lists: dict[str, LoggedLeaf] = field(default_factory=dict)
    #: Every leaf after ``published`` up to the head, in order (see the module's check 5).
    tail: tuple[LoggedLeaf, ...] = ()

    def to_json(self) -> dict[str, Any]:
        nodes: dict[bytes, int] = {}  # every proof hash once: neighbouring leaves share most
        out = {"format": FORMAT, "option": self.option, "setup_sha256": self.setup_sha256,
               "head": self.head.to_json(), "published": self.published.to_json(nodes),
               "entries": [{"indicator": e.indicator, "proposed": e.proposed.to_json(nodes),
                            "verified": e.verified.to_json(nodes)} for e in self.entries],
               "orgs": {str(k): v.to_json(nodes) for k, v in sorted(self.orgs.items())},
               "lists": {k: v.to_json(nodes) for k, v in sorted(self.lists.items())},
               "tail": [t.to_json(nodes) for t in self.tail]}
        out["nodes"] = [base64.b64encode(h).decode() for h in nodes]
        return out

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> DeviceList:
        """Parse a device list; :class:`ListRefused` if it is larger than ``max_bytes``
        (checked first) or not one."""
        if len(data) > max_bytes:
            raise ListRefused(f"device list larger than {max_bytes:,} bytes")
        try:
            obj = json.loads(data, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise ListRefused("device list is not JSON (or nested too deep, or holds "
                              "Infinity/NaN)") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ListRefused(f"not a device list (format is not {FORMAT!r})")
        if obj.get("option") not in OPTIONS:
            raise ListRefused(f"unknown option {obj.get('option')!r} (known: {', '.join(OPTIONS)})")
        try:
            nodes = _nodes(obj["nodes"])
            head = SignedTreeHead.from_json(obj["head"])
            entries = tuple(Entry(int(e["indicator"]), LoggedLeaf.from_json(e["proposed"], nodes),
                                  LoggedLeaf.from_json(e["verified"], nodes))
                            for e in obj["entries"])
            orgs = {int(k): LoggedLeaf.from_json(v, nodes) for k, v in dict(obj["orgs"]).items()}
            lists = {str(k): LoggedLeaf.from_json(v, nodes)
                     for k, v in dict(obj["lists"]).items()}
            tail = tuple(LoggedLeaf.from_json(t, nodes) for t in obj["tail"])
            return cls(str(obj["option"]), str(obj["setup_sha256"]), head,
                       LoggedLeaf.from_json(obj["published"], nodes), entries, orgs, lists, tail)
        except (KeyError, TypeError, ValueError, ArithmeticError, ProofError) as exc:
            if isinstance(exc, ListRefused):
                raise
            raise ListRefused(f"malformed device list: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a device list holds")


def _nodes(raw: object) -> list[bytes]:
    """The document's node table: every proof hash once (32 bytes, base64)."""
    if not isinstance(raw, list):
        raise ListRefused("malformed device list: no node table")
    try:
        nodes = [base64.b64decode(str(n), validate=True) for n in raw]
    except (ValueError, binascii.Error):
        raise ListRefused("malformed proof in the device list (a node is not base64)") from None
    if any(len(n) != 32 for n in nodes):
        raise ListRefused("malformed proof in the device list (a node is not a 32-byte hash)")
    return nodes


@dataclass
class DeviceState:
    """What a device keeps between lists: the newest log head it accepted (size, root), and
    per option the log index of the newest publication it accepted (``publications``)."""

    size: int = 0
    root: bytes = b""
    publications: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "root": base64.b64encode(self.root).decode(),
                "publications": dict(sorted(self.publications.items()))}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DeviceState:
        pubs = obj.get("publications") or {}
        return cls(int(obj["size"]), base64.b64decode(str(obj["root"])),
                   {str(k): int(v) for k, v in dict(pubs).items()})


def _included(leaf: LoggedLeaf, head: SignedTreeHead, what: str) -> dict[str, Any]:
    try:
        verify_inclusion(leaf_hash(leaf.leaf), leaf.index, head.size, leaf.proof, head.root)
    except ProofError as exc:
        raise ListRefused(f"{what} (log entry {leaf.index}) is not in the log: {exc}") from None
    data = leaf.data()
    if data.get("index") != leaf.index:
        raise ListRefused(f"{what}: log entry {leaf.index} names another index")
    return data


def accept(doc: DeviceList, setup: bytes, log_key: Ed25519PublicKey, state: DeviceState,
           consistency: Sequence[bytes] = (), *, option: str, now: datetime | None = None,
           max_age: timedelta = MAX_HEAD_AGE) -> DeviceState:
    """Check ``doc`` and the ``setup`` bytes it describes (the module's docstring lists the
    checks) for a device that expects a list of ``option``; ``consistency``: the proof from
    ``state``'s head to the document's; ``now``: the device's clock (default: the system's);
    ``max_age``: the oldest head accepted. Returns the device's new state (``state`` is not
    changed); raises :class:`ListRefused` with the first reason otherwise."""
    head = doc.head
    if doc.option != option:
        raise ListRefused(f"the list is for option {doc.option!r}, this device expects {option!r}")
    try:
        verify_tree_head(head, log_key)
    except ProofError as exc:
        raise ListRefused(f"the list's tree head: {exc}") from None
    at = (now or _now()).timestamp() * 1000
    age_ms = at - head.timestamp_ms
    if age_ms > max_age.total_seconds() * 1000:
        raise ListRefused(f"the list's tree head is {age_ms / 3_600_000:,.1f} hours old (at most "
                          f"{max_age.total_seconds() / 3600:,.0f}): a stale list")
    if -age_ms > _SKEW.total_seconds() * 1000:
        raise ListRefused("the list's tree head is dated in the future")
    if state.size:
        if head.size < state.size:
            raise ListRefused(f"the list's log head (size {head.size}) is older than one this "
                              f"device saw (size {state.size}): a rolled-back list")
        try:
            verify_consistency(state.size, head.size, state.root, head.root, consistency)
        except ProofError as exc:
            raise ListRefused("the log's head is not consistent with the head this device saw "
                              f"before (a log forked for this device?): {exc}") from None
    if hashlib.sha256(setup).hexdigest() != doc.setup_sha256:
        raise ListRefused("the setup bytes are not the ones the device list describes")
    published = _included(doc.published, head, "the publication")
    if published.get("event") != PUBLISHED or published.get("setup_sha256") != doc.setup_sha256 \
            or published.get("option") != doc.option:
        raise ListRefused("the log's publication entry does not name this setup and option")
    _check_newest(doc, published, state)
    ids = [e.indicator for e in doc.entries]
    if published.get("indicators") != sorted(ids) or len(set(ids)) != len(ids):
        raise ListRefused("the indicators of the list are not the ones the log's publication "
                          "names")
    for e in doc.entries:
        _check_entry(doc, e, published["index"])
    return DeviceState(head.size, head.root,
                       {**state.publications, doc.option: doc.published.index})


def _check_newest(doc: DeviceList, published: dict[str, Any], state: DeviceState) -> None:
    """Check 5: no later publication of the option up to the head, none older than the one
    this device accepted, and a predecessor that is not older than that one either."""
    index = doc.published.index
    seen = state.publications.get(doc.option)
    if seen is not None and index < seen:
        raise ListRefused(f"the list's publication (log entry {index}) is older than the one "
                          f"this device accepted (log entry {seen}): a rolled-back list")
    previous = published.get("previous")
    if previous is not None and (not isinstance(previous, int) or not 0 <= previous < index):
        raise ListRefused("the log's publication entry names no valid predecessor")
    if seen is not None and index > seen and (previous is None or previous < seen):
        raise ListRefused(f"the log's publication (log entry {index}) does not follow the one "
                          f"this device accepted (log entry {seen}): the log skips a publication")
    if [t.index for t in doc.tail] != list(range(index + 1, doc.head.size)):
        raise ListRefused("the list does not show every log entry after its publication up to "
                          "its head: it may not be the newest")
    for t in doc.tail:
        data = _included(t, doc.head, "a log entry after the publication")
        if data.get("event") == PUBLISHED and data.get("option") == doc.option:
            raise ListRefused(f"a newer list of option {doc.option!r} was published (log entry "
                              f"{t.index}): this one is rolled back")


def _check_entry(doc: DeviceList, e: Entry, published_at: int) -> None:
    head, ind = doc.head, e.indicator
    proposed = _included(e.proposed, head, f"indicator {ind}'s proposal")
    verified = _included(e.verified, head, f"indicator {ind}'s verification")
    if proposed.get("event") != "indicator:proposed" or proposed.get("indicator") != ind:
        raise ListRefused(f"indicator {ind}: its proposal entry is not one")
    if verified.get("event") != "indicator:verified" or verified.get("indicator") != ind \
            or not e.proposed.index < e.verified.index < published_at:
        raise ListRefused(f"indicator {ind}: not verified after its proposal and before the "
                          "publication")
    name = proposed.get("list")
    list_leaf = doc.lists.get(str(name))
    if list_leaf is None:
        raise ListRefused(f"indicator {ind}: its list {name!r} is not shown")
    created = _included(list_leaf, head, f"list {name!r}")
    if created.get("event") != "list:created" or created.get("list") != name \
            or created.get("trust") != "verified" or verified.get("list") != name:
        raise ListRefused(f"indicator {ind}: list {name!r} is not a verified list")
    parties: list[tuple[int, str | None]] = []
    for what, leaf in (("proposing", proposed), ("verifying", verified)):
        org = leaf.get("org")
        org_leaf = doc.orgs.get(org) if isinstance(org, int) else None
        if org_leaf is None or not isinstance(org, int):
            raise ListRefused(f"indicator {ind}: the {what} organisation {org!r} is not shown")
        created = _included(org_leaf, head, f"organisation {org}")
        if created.get("event") != "org:created" or created.get("org") != org:
            raise ListRefused(f"indicator {ind}: organisation {org}'s entry is not its creation")
        state = created.get("member_state")
        parties.append((org, state if isinstance(state, str) else None))
    reason = two_jurisdictions(parties[0], parties[1])
    if reason is not None:
        raise ListRefused(f"indicator {ind}: {reason} (two organisations of two jurisdictions "
                          "are required)")
