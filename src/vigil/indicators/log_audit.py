"""``vigil audit verify``: the log and the indicator database, checked end to end.

Checks, in order:

1. the log's entries are dense (0..n-1), each leaf hashes to its stored hash and names its own
   index (:func:`vigil.translog.audit.check_leaves`);
2. every tree head the log ever signed has a valid signature and the root of the stored leaves
   at its size (so history was never rewritten, reordered or truncated), and no entry has
   waited longer for a signed head than the worker lets it
   (:func:`vigil.translog.audit.check_coverage`: else the heads were removed);
3. replaying the leaves with the lifecycle's own table
   (:data:`vigil.indicators.lifecycle.TRANSITIONS`) gives every indicator's status, list,
   commitments (value and label) and deciding organisation, every list's trust and PDQ
   threshold, and every organisation's kind and approval; each event must be allowed from the
   status before it, on its kind of list, by an organisation whose logged kind holds the
   event's scope — and, for a second party's scope (reviewing), that a second party had
   approved by then —, and a verification must come from another organisation than the
   proposal; the indicators, lists and organisations tables must agree row by row, with
   nothing missing and nothing extra;
4. the list-change feed (what providers and the live index follow) yields exactly the active
   set of the replay;
5. every ``e2ee:list_published`` leaf (a device list, :mod:`vigil.indicators.device_list`)
   names only indicators active on verified lists at that point, and its option's previous
   publication (the device checks the rest: two jurisdictions, inclusion);
6. the audit trail: every sealed range of audit events re-chained against its seal, the seals
   read from the leaves (:mod:`vigil.audit.seal`);
7. the log still contains the head the auditor saw last time (``known``: same root at that
   size).

Fields added to leaves later (a list's ``org``, an indicator's ``label_commitment``) are
checked where a leaf has them; older leaves are replayed as they were written.

It works on a database directly, or on a server through its API (as an auditor's key: the
events and the leaves are fetched and checked here, not taken from the server's word).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit import seal
from vigil.audit.models import AuditEvent
from vigil.indicators import log_orgs
from vigil.indicators.lifecycle import (
    DECIDING,
    TRANSITIONS,
    IndicatorEvent,
    IndicatorStatus,
    commitment,
    label_commitment,
)
from vigil.indicators.log_orgs import OrgLog
from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.matching.policy import Trust
from vigil.orgs.access import Scope
from vigil.orgs.models import Organisation
from vigil.translog.audit import (
    AuditReport,
    check_against_known,
    check_coverage,
    check_heads,
    check_key_chain,
    check_leaves,
)
from vigil.translog.merkle import MerkleTree
from vigil.translog.models import LogEntry, LogState, TreeHead
from vigil.translog.sth import SignedTreeHead, log_id_of

__all__ = ["AuditReport", "StoredIndicator", "replay", "verify_database", "verify_server"]

#: Logs written before lists carried a trust level name it by these rules (the same ones the
#: migration that added the column applied).
LEGACY_VICTIM_LIST = "victim-submitted"

@dataclass(frozen=True)
class Replayed:
    list: str
    signal_type: str
    commitment: str
    status: str
    proposer_org: int | None = None
    #: The organisation whose event made it active or rejected it; ``decided``: whether the log
    #: tells (every leaf names its organisation, but a leaf without ``org`` would not).
    decided_by_org: int | None = None
    decided: bool = True
    #: From the newest leaf that carries one (older leaves do not: then not compared).
    label_commitment: str | None = None


@dataclass
class Replay:
    indicators: dict[int, Replayed]
    lists: dict[str, Trust]
    #: Each list's PDQ threshold, as created or last updated (None: not in its leaf).
    thresholds: dict[str, int | None] = field(default_factory=dict)
    #: Whether each list takes robust hits, as created or last updated (logs from before
    #: robust matching say nothing: False, as the migration set every list).
    robust: dict[str, bool] = field(default_factory=dict)
    orgs: OrgLog = field(default_factory=OrgLog)


def _list_trust(leaf: dict[str, Any]) -> Trust:
    if "trust" in leaf:
        return Trust(leaf["trust"])
    if leaf.get("kind") == "allow":
        return Trust.ALLOW
    return Trust.UNVERIFIED if leaf.get("list") == LEGACY_VICTIM_LIST else Trust.VERIFIED


_TARGET = {t.event: t.target for t in TRANSITIONS}
#: The scope of each event (every row of one event asks the same).
_SCOPE = {t.event: t.scope for t in TRANSITIONS}


def _list_event(leaf: dict[str, Any], replayed: Replay, report: AuditReport) -> None:
    name = str(leaf.get("list"))
    created = leaf.get("event") == "list:created"
    if created:
        replayed.lists[name] = _list_trust(leaf)
        replayed.thresholds[name] = None
    elif name not in replayed.lists:
        report.problems.append(f"log: list {name!r} was updated before it was created")
    if isinstance(leaf.get("pdq_threshold"), int):
        replayed.thresholds[name] = leaf["pdq_threshold"]
    if created or "robust" in leaf:
        replayed.robust[name] = leaf.get("robust") is True
    replayed.orgs.check(leaf.get("org"), Scope.LISTS_MANAGE,
                        f"list {name!r} {'created' if created else 'updated'}", report)


def _published(leaf: dict[str, Any], out: Replay, last: dict[str, int], report: AuditReport) -> None:
    """An ``e2ee:list_published`` leaf (:mod:`vigil.indicators.device_list`): every indicator
    it names is active on a verified list at that point of the log, and it names the option's
    previous publication (when the leaf has the field; older leaves do not)."""
    at, option = leaf.get("index"), str(leaf.get("option"))
    for ind in leaf.get("indicators") or ():
        r = out.indicators.get(ind) if isinstance(ind, int) else None
        if r is None or r.status != IndicatorStatus.ACTIVE.value \
                or out.lists.get(r.list) is not Trust.VERIFIED:
            report.problems.append(
                f"log: the e2ee list published at entry {at} names indicator {ind}, which is "
                f"{r.status if r else 'not in the log'}"
                f"{'' if r is None or out.lists.get(r.list) is Trust.VERIFIED else ' (not on a verified list)'} there")
    if "previous" in leaf and leaf["previous"] != last.get(option):
        report.problems.append(f"log: the e2ee list published at entry {at} names entry "
                               f"{leaf['previous']} as the previous {option!r} list, the log "
                               f"says {last.get(option)}")
    if isinstance(at, int):
        last[option] = at


def replay(leaves: Iterable[dict[str, Any]], report: AuditReport) -> Replay:
    out = Replay({}, {})
    state, orgs = out.indicators, out.orgs
    org_events = {"org:created": orgs.created, "org:approved": orgs.approved,
                  "key:issued": orgs.key_issued, "key:approved": orgs.key_approved}
    published: dict[str, int] = {}
    for leaf in leaves:
        name = leaf.get("event")
        if name in org_events:
            org_events[str(name)](leaf, report)
            continue
        if name == "e2ee:list_published":
            _published(leaf, out, published, report)
            continue
        if name in ("list:created", "list:updated"):
            _list_event(leaf, out, report)
            continue
        try:
            event = IndicatorEvent(str(name))
        except ValueError:
            continue
        ind = int(leaf["indicator"])
        old = state.get(ind)
        source = IndicatorStatus(old.status) if old else None
        row = TRANSITIONS.find(event, source)
        org = leaf.get("org")
        target = row.target if row else _TARGET[event]
        if row is None:
            report.problems.append(f"log: indicator {ind} {event.value} while "
                                   f"{source.value if source else 'not yet proposed'}")
        trust = out.lists.get(leaf["list"])
        if row is not None and row.lists is not None and trust not in row.lists:
            report.problems.append(
                f"log: indicator {ind} {event.value} on list {leaf['list']!r}, a "
                f"{trust.value if trust else 'unknown'} list (allowed only on "
                f"{', '.join(sorted(t.value for t in row.lists))} lists)")
        if row is not None and row.two_organisations and old is not None and org == old.proposer_org:
            report.problems.append(f"log: indicator {ind} was verified by the organisation "
                                   "that proposed it (two-organisation rule)")
        orgs.check(org, _SCOPE[event], f"indicator {ind} {event.value.split(':')[1]}", report,
                   leaf.get("key"))
        if leaf.get("status") not in (None, target.value):
            report.problems.append(f"log: indicator {ind}'s {event.value} entry says status "
                                   f"{leaf.get('status')!r}, the lifecycle says {target.value!r}")
        proposer = org if source is None else (old.proposer_org if old else None)
        decided, known = (old.decided_by_org, old.decided) if old else (None, True)
        if target in DECIDING:
            decided, known = (org if isinstance(org, int) else None), "org" in leaf
        label = leaf.get("label_commitment")
        if old is not None and old.label_commitment is not None:
            if label is not None and label != old.label_commitment:
                report.problems.append(f"log: indicator {ind}'s label changed at {event.value}")
            label = label or old.label_commitment
        new = Replayed(leaf["list"], leaf["signal_type"], leaf["commitment"], target.value,
                       proposer, decided, known, label)
        if old is not None and old.commitment != new.commitment:
            report.problems.append(f"log: indicator {ind}'s commitment changed at {event.value}")
        state[ind] = new
    if orgs.unlogged:
        report.notes.append(f"{len(orgs.unlogged)} organisations acted before organisations "
                            "were logged: their kind and approval are not checked")
    return out


@dataclass(frozen=True)
class StoredIndicator:
    """An indicator as the database (or the API) holds it, in the terms the log uses."""

    id: int
    list: str
    status: str
    #: Of the row's salt, type and value, and of its salt and label.
    commitment: str
    label_commitment: str
    signal_type: str
    proposed_by_org: int | None
    decided_by_org: int | None


def compare(replayed: Replay, rows: Iterable[StoredIndicator],
            changes: list[tuple[str, int, str]], report: AuditReport,
            lists: dict[str, tuple[str, int, bool]] | None = None) -> None:
    """lists: name → (trust, PDQ threshold, robust) as stored (None: not checked)."""
    state = replayed.indicators
    for name, (trust, threshold, robust) in sorted((lists or {}).items()):
        logged = replayed.lists.get(name)
        if logged is None:
            report.problems.append(f"list {name!r} is not in the log")
            continue
        if logged.value != trust:
            report.problems.append(f"list {name!r}: trust is {trust!r} but the log says "
                                   f"{logged.value!r}")
        want = replayed.thresholds.get(name)
        if want is not None and want != threshold:
            report.problems.append(f"list {name!r}: pdq_threshold is {threshold} but the log "
                                   f"says {want}")
        if replayed.robust.get(name, False) != robust:
            report.problems.append(f"list {name!r}: robust matching is "
                                   f"{'on' if robust else 'off'} but the log says "
                                   f"{'on' if replayed.robust.get(name) else 'off'}")
    seen = set()
    for row in rows:
        seen.add(row.id)
        report.indicators_checked += 1
        r = state.get(row.id)
        if r is None:
            report.problems.append(f"indicator {row.id} is not in the log")
            continue
        if r.commitment != row.commitment:
            report.problems.append(f"indicator {row.id}: its hash value or salt differs from "
                                   "what the log committed to")
        if r.label_commitment is not None and r.label_commitment != row.label_commitment:
            report.problems.append(f"indicator {row.id}: its label differs from what the log "
                                   "committed to")
        if r.status != row.status:
            report.problems.append(f"indicator {row.id}: status is {row.status!r} but the log "
                                   f"says {r.status!r}")
        if r.list != row.list or r.signal_type != row.signal_type:
            report.problems.append(f"indicator {row.id}: list or type differs from the log")
        if r.proposer_org is not None and r.proposer_org != row.proposed_by_org:
            report.problems.append(f"indicator {row.id}: proposed by organisation "
                                   f"{row.proposed_by_org} but the log says {r.proposer_org}")
        if r.decided and r.decided_by_org != row.decided_by_org:
            report.problems.append(f"indicator {row.id}: decided by organisation "
                                   f"{row.decided_by_org} but the log says {r.decided_by_org}")
    for ind_id in sorted(set(state) - seen):
        report.problems.append(f"indicator {ind_id} is in the log but missing from the database")
    active = {i for i, r in state.items() if r.status == IndicatorStatus.ACTIVE}
    report.active = len(active)
    # Each list's feed on its own: a withdrawal slipped into one list's feed and an addition
    # into another's (an allow list's, which then suppresses it) is caught by list.
    fed: dict[tuple[str, int], str] = {}
    for list_name, ind_id, action in changes:
        fed[list_name, ind_id] = action
    fed_active = {key for key, a in fed.items() if a == "add"}
    on_lists = {(state[i].list, i) for i in active}
    for list_name, ind_id in sorted(fed_active - on_lists):
        report.problems.append(f"change feed: indicator {ind_id} is distributed as active on "
                               f"list {list_name!r} but the log says it is not")
    for list_name, ind_id in sorted(on_lists - fed_active):
        report.problems.append(f"change feed: indicator {ind_id} is active on list "
                               f"{list_name!r} in the log but not distributed there")


def _audit_trail(leaves: list[dict[str, Any]], events: list[dict[str, Any]],
                 report: AuditReport) -> None:
    seals = seal.seals_in(leaves)
    report.seals = len(seals)
    report.audit_events_checked = len(events)
    report.problems += [f"audit trail: {p}" for p in seal.check(seals, events)]
    _acts_in_both(leaves, events, report)


#: The audit action each indicator event records (one per event, whatever the row).
_AUDIT = {t.event.value: t.audit.value for t in TRANSITIONS}


def _acts_in_both(leaves: list[dict[str, Any]], events: list[dict[str, Any]],
                  report: AuditReport) -> None:
    """Every indicator event is written twice in one transaction — a log leaf and an audit
    event (:func:`vigil.indicators.lifecycle.transition`) — by the same organisation. A leaf
    with no event (or an event with no leaf) was written outside vigil: whoever forges a
    verification must forge both, and the audit trail's chain with it."""
    logged = Counter((_AUDIT[str(leaf["event"])], str(leaf.get("indicator")), leaf.get("org"))
                     for leaf in leaves if str(leaf.get("event")) in _AUDIT)
    recorded = Counter((str(e["action"]), str(e.get("subject")), e.get("org"))
                       for e in events if e.get("action") in _AUDIT.values())
    for (action, ind, org), n in sorted((logged - recorded).items(), key=str):
        report.problems.append(f"log: indicator {ind} {action.split(':')[1]} by organisation "
                               f"{org} ({n}x) with no such audit event: written outside vigil")
    for (action, ind, org), n in sorted((recorded - logged).items(), key=str):
        report.problems.append(f"audit trail: indicator {ind} {action.split(':')[1]} by "
                               f"organisation {org} ({n}x) is not in the log")


def _written(entry: LogEntry) -> datetime:
    """When an entry was written: the older of its row's time and its leaf's ``at`` (both can
    be rewritten once no head covers the entry; taking the older makes a forger rewrite both)."""
    times = [entry.created_at]
    try:
        at = datetime.fromisoformat(str(json.loads(entry.leaf)["at"]))
        times.append(at if at.tzinfo else at.replace(tzinfo=UTC))
    except (ValueError, KeyError, TypeError):
        pass
    return min(times)


def verify_database(session: Session, key: Ed25519PublicKey,
                    known: SignedTreeHead | None = None, *,
                    now: datetime | None = None) -> AuditReport:
    """``now``: the time the entries no head covers are aged against (default: the clock)."""
    report = AuditReport()
    entries = list(session.scalars(select(LogEntry).order_by(LogEntry.index)))
    rows = [(e.index, e.leaf, e.leaf_hash) for e in entries]
    leaves = check_leaves(rows, report)
    state_row = session.get(LogState, 1)
    if state_row is None or state_row.size != len(rows):
        report.problems.append(f"log: size is recorded as {state_row.size if state_row else None}"
                               f" but {len(rows)} entries are stored")
    tree = MerkleTree(r[2] for r in rows)
    chain = check_key_chain(leaves, key, report)
    heads = [SignedTreeHead(log_id_of(chain.key_for(h.size, key)), h.size, h.timestamp_ms,
                            h.root, h.signature)
             for h in session.scalars(select(TreeHead).order_by(TreeHead.size))]
    check_heads(tree, heads, key, report, chain)
    check_against_known(tree, known, report)
    if heads:
        report.head = heads[-1]
    check_coverage(min(heads[-1].size, len(tree)) if heads else 0,
                   [_written(e) for e in entries], now or datetime.now(UTC), report)
    replayed = replay(leaves, report)
    lists = {hl.id: hl for hl in session.scalars(select(HashList))}
    ind_rows = [StoredIndicator(
        i.id, lists[i.list_id].name if i.list_id in lists else "?", i.status,
        commitment(i.salt, i.signal_type, i.value), label_commitment(i.salt, i.label),
        i.signal_type, i.proposed_by_org, i.decided_by_org)
        for i in session.scalars(select(Indicator).order_by(Indicator.id))]
    changes = [(lists[c.list_id].name if c.list_id in lists else "?", c.indicator_id, c.action)
               for c in session.scalars(select(ListChange).order_by(ListChange.seq))]
    compare(replayed, ind_rows, changes, report,
            {hl.name: (hl.trust, hl.pdq_threshold, hl.robust) for hl in lists.values()})
    orgs = session.scalars(select(Organisation).order_by(Organisation.id))
    log_orgs.compare(replayed.orgs, [(o.id, o.kind, o.approved_at is not None, o.approved_by_org)
                                     for o in orgs], report)
    _audit_trail(leaves, [seal.as_mapping(e) for e in session.scalars(
        select(AuditEvent).order_by(AuditEvent.id))], report)
    return report


def _http_get(base: str, path: str, token: str) -> Any:
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"server URL must start with http:// or https://, got {base!r}")
    req = urllib.request.Request(base.rstrip("/") + path,  # noqa: S310 - scheme checked above
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - scheme checked above
        return json.loads(resp.read())


Getter = Callable[[str, str, str], Any]


def verify_server(base: str, token: str, key: Ed25519PublicKey,
                  known: SignedTreeHead | None = None, get: Getter | None = None) -> AuditReport:
    """The same checks through the API, as an auditor sees them: the current signed head, and
    ``known`` — the head the auditor saw last time — must be contained in the same log.
    ``get(base, path, token)`` fetches JSON (default: over HTTP)."""
    _get = get or _http_get
    report = AuditReport()
    head = SignedTreeHead.from_json(_get(base, "/v1/log/head", token))
    rows: list[tuple[int, bytes, bytes]] = []
    start = 0
    while start < head.size:
        page = _get(base, f"/v1/log/entries?start={start}&end={head.size}", token)["entries"]
        if not page:
            break
        for e in page:
            leaf = base64.b64decode(e["leaf_data"])
            rows.append((e["index"], leaf, base64.b64decode(e["leaf_hash"])))
        start = page[-1]["index"] + 1
    leaves = check_leaves(rows, report)
    tree = MerkleTree(r[2] for r in rows)
    check_heads(tree, [head], key, report, check_key_chain(leaves, key, report))
    check_against_known(tree, known, report)
    report.head = head
    replayed = replay(leaves, report)
    report.notes.append("organisations not compared with the log: the API does not list them "
                        "(their history in the log is checked)")
    _server_audit_trail(base, token, _get, leaves, report)
    ind_rows: list[StoredIndicator] = []
    after = 0
    while True:
        page = _get(base, f"/v1/indicators?after={after}&limit=1000", token)
        if not page:
            break
        for i in page:
            ind_rows.append(StoredIndicator(
                i["id"], i["list"], i["status"],
                commitment(i["salt"], i["signal_type"], i["value"]),
                label_commitment(i["salt"], i.get("label")), i["signal_type"],
                i.get("proposed_by_org"), i.get("decided_by_org")))
        after = page[-1]["id"]
    # The feed's view (needs lists:download; an auditor's key may not have it).
    try:
        lists = _get(base, "/v1/lists", token)
    except urllib.error.HTTPError:
        lists = None
    if lists is None:
        report.notes.append("change feed and list trust not checked: this key lacks "
                            "lists:download")
        active = [(r.list, i, "add") for i, r in replayed.indicators.items()
                  if r.status == IndicatorStatus.ACTIVE]
        compare(replayed, ind_rows, active, report)
        return report
    changes: list[tuple[str, int, str]] = []
    for lst in lists:
        since = 0
        while True:
            feed = _get(base, f"/v1/lists/{lst['name']}/changes?since={since}", token)
            changes += [(lst["name"], c["id"], c["action"]) for c in feed["changes"]]
            if feed["complete"]:
                break
            since = feed["until"]
    compare(replayed, ind_rows, changes, report,
            {lst["name"]: (lst["trust"], lst["pdq_threshold"], bool(lst.get("robust")))
             for lst in lists})
    return report


def _server_audit_trail(base: str, token: str, get: Getter, leaves: list[dict[str, Any]],
                        report: AuditReport) -> None:
    """Fetch every audit event (needs audit:read) and re-chain the sealed ranges here."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        try:
            page = get(base, f"/v1/audit/events?after_id={after}&limit=5000", token)
        except urllib.error.HTTPError as exc:
            if exc.code == 403:
                report.notes.append("audit trail not checked: this key lacks audit:read")
                return
            raise
        events += [{"id": e["id"], "at": e["at"], "action": e["action"],
                    "org": e["organisation"], "key": e["key"], "subject": e["subject"],
                    "details": e["details"]} for e in page["events"]]
        if page["next_after_id"] is None:
            break
        after = page["next_after_id"]
    _audit_trail(leaves, events, report)
