"""A verifying client of a vigil server's signed lists: the one home of every check that a
downloaded snapshot or change feed passes before anything is applied.

Used by the provider's sync client (:mod:`vigil.exchange.sync`, ``vigil sync``) and by the
Centre's import from partner centres (:mod:`vigil.federation`): the same code, so the same
checks, whoever consumes the result.

What a :class:`FeedClient` checks, in order:

1. **Every request** goes through the egress policy (:mod:`vigil.egress`): the server's host
   must be public or pinned in the settings, and the connection goes to the checked address.
   The server comes from the command line or the Centre's data, never from an API caller.
2. **Every answer** is bounded before it is parsed: a ``Content-Length`` above the limit is
   refused without reading, a body that grows past it is abandoned; it must say
   ``application/json`` and be one JSON object.
3. **The log's keys** (``GET /v1/log/keys``) must extend the chain the client trusts
   (:class:`LogTrust`): the keys it already holds first, in order, then only keys whose
   announcement (``GET /v1/log/entries``) the key before signed (:mod:`vigil.translog.keys`)
   and whose announcement leaf is included in the next trusted tree head (an inclusion proof).
   Without a chain yet, the first answer is trusted (or the key the caller pinned must be in
   it).
4. **Every snapshot and feed page** is signed by one of those keys
   (:func:`vigil.translog.signing.verify_any`), names the list asked for, its trust and its
   positions agree with what was asked, and it says ``log_size`` — the log size that covers
   it (:mod:`vigil.indicators.feeds`).
5. **A signed tree head** (``GET /v1/log/head``) of at least that size, signed by the key the
   chain names for its size, **consistent** with the last head trusted (an RFC 9162
   consistency proof from ``GET /v1/log/proof/consistency``): a log that forked, shrank or
   rewrote its past is refused.
6. **Freshness** (:meth:`FeedClient.changes`): a head is fetched before the first page of each
   run, and a page must say a ``log_size`` at least its size — an old signed page replayed
   (a stale cache, a man in the middle) is refused, so it cannot freeze the client. Neither
   ``log_size`` nor ``generated_at`` of a page (or of a snapshot, against the last snapshot)
   may go back from the last one accepted (``LogTrust.accepted``, kept by the caller), and the
   key that signed it must sign that log size (its range in the key chain).

A failure raises :class:`SyncError` with one line naming the problem; ``refused`` says that
the server's data failed a check (tampered or inconsistent) rather than that the server could
not be reached. Nothing is applied by this module: it returns verified objects.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigil.egress import EgressPolicy, EgressRefused
from vigil.translog.keys import LogKey, LogKeys, key_of, parse_published, raw_key
from vigil.translog.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from vigil.translog.signing import verify_any
from vigil.translog.sth import SignedTreeHead, verify_tree_head

#: The HTTP client this module connects with (callers name it without importing httpx: only
#: this module opens connections, each through the egress policy).
HttpClient = httpx.Client

FORMAT = "vigil-list-v1"
USER_AGENT = "vigil-sync/1"
#: Limits of the small answers (keys, heads, proofs, log entries), in bytes.
SMALL_BYTES = 1024 * 1024
CHUNK = 1 << 20
#: How far the server's clocks (several workers) may disagree: an answer's ``generated_at``
#: may be this much before the last one accepted, or before the tree head fetched before it.
CLOCK_SKEW = timedelta(minutes=2)


class SyncError(Exception):
    """A sync step failed; ``message`` is one line for a person. ``refused``: the server's data
    failed a check (a bad signature, an inconsistent tree head, a malformed answer) — nothing
    of it was applied."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.refused = refused


@dataclass(frozen=True)
class Limits:
    """Bounds of what a server may send, checked before parsing."""

    #: A snapshot, in bytes (the list reader's own limit is 2 GiB).
    snapshot_bytes: int = 2 * 1024**3
    #: One page of the change feed, in bytes.
    page_bytes: int = 64 * 1024 * 1024
    #: Seconds for each request.
    timeout: float = 60.0


# -- what the client trusts ----------------------------------------------------------------


@dataclass
class LogTrust:
    """What a client trusts about one server's log: the chain of its signing keys and the last
    tree head it accepted. Kept by the caller between runs (JSON: :meth:`to_json`)."""

    keys: list[LogKey] = field(default_factory=list)
    head: SignedTreeHead | None = None
    #: The last answer of each kind accepted ("snapshot", "changes"): its ``log_size`` and
    #: ``generated_at``, as the server signed them. A later one may not go back
    #: (:meth:`FeedClient.changes`, :meth:`FeedClient.snapshot`).
    accepted: dict[str, Accepted] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        b64 = base64.b64encode
        return {"keys": [{"public_key": b64(k.public_key).decode(), "first_size": k.first_size,
                          "last_size": k.last_size, "announced_at_index": k.announced_at_index,
                          "retired_at": k.retired_at} for k in self.keys],
                "head": self.head.to_json() if self.head else None,
                "accepted": {kind: {"log_size": a.log_size, "generated_at": a.generated_at}
                             for kind, a in sorted(self.accepted.items())}}

    @classmethod
    def from_json(cls, obj: Any) -> LogTrust:
        """Raises ``ValueError`` if malformed."""
        if not isinstance(obj, dict) or not isinstance(obj.get("keys"), list):
            raise ValueError("not a log trust record")
        try:
            keys = [LogKey(base64.b64decode(str(k["public_key"]), validate=True),
                           int(k["first_size"]),
                           None if k.get("last_size") is None else int(k["last_size"]),
                           None if k.get("announced_at_index") is None
                           else int(k["announced_at_index"]),
                           None if k.get("retired_at") is None else str(k["retired_at"]))
                    for k in obj["keys"]]
            for k in keys:
                key_of(k.public_key)
            head = SignedTreeHead.from_json(obj["head"]) if obj.get("head") else None
            accepted = {str(kind): Accepted(int(a["log_size"]), str(a["generated_at"]))
                        for kind, a in (obj.get("accepted") or {}).items()}
            for a in accepted.values():
                a.when()
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error,
                ProofError) as exc:
            raise ValueError(f"not a log trust record ({exc})") from None
        return cls(keys, head, accepted)

    def verifying_keys(self) -> list[tuple[Ed25519PublicKey, str | None]]:
        """(key, retired at), as :func:`~vigil.translog.signing.verify_any` takes them."""
        return [(key_of(k.public_key), k.retired_at) for k in self.keys]

    def key_ranges(self) -> list[tuple[int, int | None]]:
        """The log sizes each key signs (first, last; None: no end), in the order of
        :meth:`verifying_keys`: a signed snapshot or page must say a ``log_size`` its key
        signs (:func:`~vigil.translog.signing.verify_any`)."""
        return [(k.first_size, k.last_size) for k in self.keys]

    def key_for(self, size: int) -> Ed25519PublicKey:
        for k in self.keys:
            if k.signs(size):
                return key_of(k.public_key)
        raise SyncError(f"no trusted log key signs tree heads of size {size}", refused=True)


@dataclass(frozen=True)
class Accepted:
    """What the client last accepted of one kind of answer: the log size it said and when the
    server says it generated it (ISO 8601, with a time zone)."""

    log_size: int
    generated_at: str

    def when(self) -> datetime:
        return _instant(self.generated_at)


def _instant(text: str) -> datetime:
    """A time zone-aware instant from ISO 8601; ``ValueError`` otherwise."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"{text!r} names no time zone")
    return when


@dataclass(frozen=True)
class Snapshot:
    """A verified snapshot: its object, its bytes' file (the caller's temporary file), ETag."""

    obj: dict[str, Any]
    path: Path
    etag: str | None

    @property
    def seq(self) -> int:
        return int(self.obj["seq"])

    @property
    def log_size(self) -> int:
        return int(self.obj["log_size"])


@dataclass(frozen=True)
class Page:
    """A verified page of the change feed, and its bytes as received."""

    obj: dict[str, Any]
    raw: bytes

    @property
    def since(self) -> int:
        return int(self.obj["since"])

    @property
    def until(self) -> int:
        return int(self.obj["until"])

    @property
    def complete(self) -> bool:
        return bool(self.obj["complete"])

    @property
    def changes(self) -> list[dict[str, Any]]:
        return list(self.obj["changes"])

    @property
    def log_size(self) -> int:
        return int(self.obj["log_size"])


# -- the client -------------------------------------------------------------------------------


class FeedClient:
    """Downloads and verifies one list of one vigil server (the module docstring has the
    checks). ``trust`` is updated in place as keys and heads are accepted; the caller saves it
    only together with what it applied. ``client``: an ``httpx.Client`` (tests pass one bound
    to an app); the egress policy is applied to every URL whatever the client."""

    def __init__(self, server: str, api_key: str, list_name: str, *, policy: EgressPolicy,
                 trust: LogTrust, pinned: list[Ed25519PublicKey] | None = None,
                 client: httpx.Client | None = None, limits: Limits | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> None:
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SyncError(f"{server!r} is not an http(s) URL of a vigil server")
        self.server = server.rstrip("/")
        self.api_key = api_key
        self.list_name = list_name
        self.policy = policy
        self.trust = trust
        self.pinned = pinned or []
        self.limits = limits or Limits()
        #: Told (stage, bytes so far, bytes declared or 0) while a snapshot downloads.
        self.progress = progress
        self._own = client is None
        self.client = client or httpx.Client(trust_env=False, follow_redirects=False)
        #: Announcements taken into the chain whose inclusion the next head must prove.
        self._unproven: list[tuple[int, bytes]] = []
        #: The last signed tree head fetched by this client (None: none yet this run).
        self._fresh: SignedTreeHead | None = None

    def close(self) -> None:
        if self._own:
            self.client.close()

    # -- HTTP ---------------------------------------------------------------------------------

    @staticmethod
    def _what(path: str) -> str:
        return path.split("?", 1)[0]

    def _stream(self, path: str, headers: dict[str, str] | None = None) -> Any:
        try:
            target = self.policy.target(self.server + path)
        except EgressRefused as exc:
            raise SyncError(f"{self.server}: {exc.message}") from None
        return self.client.stream(
            "GET", target.url, extensions=target.extensions, timeout=self.limits.timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json",
                     "Authorization": f"Bearer {self.api_key}", **target.headers,
                     **(headers or {})})

    def _check_status(self, r: httpx.Response, path: str) -> None:
        what = self._what(path)
        if r.status_code in (401, 403):
            raise SyncError(f"{what}: the server refused the key ({r.status_code}): check "
                            "--key and that it may download lists (lists:download, log:read)")
        if r.status_code == 404:
            raise SyncError(f"{what}: not found (404): is {self.list_name!r} a list of "
                            f"{self.server}?")
        if r.status_code != 200:
            raise SyncError(f"{what}: the server answered {r.status_code}")
        ctype = r.headers.get("content-type", "")
        if not ctype.split(";")[0].strip().lower() == "application/json":
            raise SyncError(f"{what}: expected application/json, got {ctype or 'no type'!r}",
                            refused=True)

    def _declared_too_large(self, r: httpx.Response, limit: int, path: str) -> None:
        declared = r.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise SyncError(f"{self._what(path)}: the answer is {int(declared)} bytes, more "
                            f"than the limit of {limit}: refused unread", refused=True)

    def _read(self, r: httpx.Response, limit: int, path: str, sink: IO[bytes] | None = None
              ) -> bytes:
        self._declared_too_large(r, limit, path)
        declared = r.headers.get("content-length", "")
        total = int(declared) if declared.isdigit() else 0
        size, chunks = 0, []
        for chunk in r.iter_bytes(CHUNK):
            size += len(chunk)
            if size > limit:
                raise SyncError(f"{self._what(path)}: the answer is larger than the limit of "
                                f"{limit} bytes: refused", refused=True)
            if sink is not None:
                sink.write(chunk)
                if self.progress is not None:
                    self.progress("downloading the snapshot (bytes)", size, max(total, size))
            else:
                chunks.append(chunk)
        return b"".join(chunks)

    def _get_json(self, path: str, limit: int = SMALL_BYTES) -> tuple[dict[str, Any], bytes]:
        try:
            with self._stream(path) as r:
                self._check_status(r, path)
                raw = self._read(r, limit, path)
        except httpx.HTTPError as exc:
            raise SyncError(f"{self.server}{self._what(path)}: {type(exc).__name__}: "
                            f"{exc}"[:300]) from None
        return parse_object(raw, self._what(path)), raw

    # -- keys and heads ---------------------------------------------------------------------

    def refresh_keys(self) -> None:
        """Take the server's key chain if it extends the trusted one (see the module
        docstring); raises :class:`SyncError` (refused) if it does not."""
        obj, _ = self._get_json("/v1/log/keys")
        try:
            published = parse_published(obj)
            meta = [(raw_key(k), item) for (k, _), item in zip(published, obj["keys"], strict=True)]
        except (ValueError, TypeError, KeyError) as exc:
            raise SyncError(f"/v1/log/keys: {exc}", refused=True) from None
        raws = [r for r, _ in meta]
        held = [k.public_key for k in self.trust.keys]
        if held:
            if raws[:len(held)] != held:
                raise SyncError("the server's log keys do not extend the keys this client "
                                "trusts (a key it held is missing or moved): refused",
                                refused=True)
        else:
            if self.pinned and not {raw_key(k) for k in self.pinned} & set(raws):
                raise SyncError("none of the server's log keys is the pinned log key: "
                                "refused", refused=True)
            first = meta[0][1]
            self.trust.keys = [LogKey(raws[0], 0)]
            if first.get("announced_at_index") is not None:
                raise SyncError("the server's first log key says it was announced: "
                                "refused", refused=True)
        chain = LogKeys(list(self.trust.keys))
        for raw, item in meta[len(chain.keys):]:
            index = item.get("announced_at_index")
            if not isinstance(index, int) or index < 0:
                raise SyncError("a new log key of the server names no announcement: refused",
                                refused=True)
            leaf, data = self._entry(index)
            problems: list[str] = []
            if not chain.add(index, leaf, problems) or chain.keys[-1].public_key != raw:
                raise SyncError(f"the server's new log key is not announced by the key before "
                                f"it ({'; '.join(problems) or 'another key announced'}): "
                                "refused", refused=True)
            self._unproven.append((index, leaf_hash(data)))
        self.trust.keys = chain.keys

    def _entry(self, index: int) -> tuple[dict[str, Any], bytes]:
        obj, _ = self._get_json(f"/v1/log/entries?{urlencode({'start': index, 'end': index + 1})}")
        try:
            (entry,) = obj["entries"]
            data = base64.b64decode(str(entry["leaf_data"]), validate=True)
            leaf = json.loads(data)
            if entry["index"] != index or not isinstance(leaf, dict):
                raise ValueError("not the entry asked for")
        except (KeyError, ValueError, TypeError, binascii.Error) as exc:
            raise SyncError(f"/v1/log/entries: malformed answer ({exc})", refused=True) from None
        return leaf, data

    def covering_head(self, log_size: int) -> SignedTreeHead:
        """The trusted head if it covers ``log_size``, else a new signed head of at least that
        size, consistent with the trusted one (which it then becomes in ``trust``)."""
        old = self.trust.head
        if old is not None and old.size >= log_size and not self._unproven:
            return old
        head = self.fresh_head()
        if head.size < log_size:
            raise SyncError(f"the server's signed tree head ({head.size} entries) does not "
                            f"cover what it sent (log size {log_size}): refused", refused=True)
        return head

    def fresh_head(self) -> SignedTreeHead:
        """Fetch the server's signed tree head now: signed by the key the chain names for its
        size, consistent with the head trusted before (which it then becomes in ``trust``),
        proving the announcements of keys taken since. Every page of the change feed asked for
        afterwards must say a ``log_size`` at least its size (:meth:`changes`)."""
        old = self.trust.head
        obj, _ = self._get_json("/v1/log/head")
        try:
            head = SignedTreeHead.from_json(obj)
            verify_tree_head(head, self.trust.key_for(head.size))
        except ProofError as exc:
            raise SyncError(f"the server's tree head is refused: {exc}", refused=True) from None
        if old is not None:
            self._consistent(old, head)
        for index, h in self._unproven:
            self._included(index, h, head)
        self._unproven.clear()
        self.trust.head = self._fresh = head
        return head

    def _consistent(self, old: SignedTreeHead, new: SignedTreeHead) -> None:
        if new.size < old.size:
            raise SyncError(f"the server's log went back from {old.size} to {new.size} "
                            "entries (a rollback or a fork): refused", refused=True)
        if old.size == 0:
            return
        proof: list[bytes] = []
        if new.size > old.size:
            obj, _ = self._get_json("/v1/log/proof/consistency?"
                                    + urlencode({"first": old.size, "second": new.size}))
            try:
                proof = [base64.b64decode(str(p), validate=True)
                         for p in obj["consistency_path"]]
            except (KeyError, TypeError, ValueError, binascii.Error) as exc:
                raise SyncError(f"/v1/log/proof/consistency: malformed answer ({exc})",
                                refused=True) from None
        try:
            verify_consistency(old.size, new.size, old.root, new.root, proof)
        except ProofError as exc:
            raise SyncError(f"the server's tree head of {new.size} entries is not consistent "
                            f"with the one trusted before ({old.size} entries): {exc}: refused",
                            refused=True) from None

    def _included(self, index: int, h: bytes, head: SignedTreeHead) -> None:
        obj, _ = self._get_json("/v1/log/proof/inclusion?"
                                + urlencode({"index": index, "size": head.size}))
        try:
            path = [base64.b64decode(str(p), validate=True) for p in obj["audit_path"]]
            verify_inclusion(h, index, head.size, path, head.root)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise SyncError(f"the announcement of a new log key (entry {index}) is not in the "
                            f"signed log: {exc}: refused", refused=True) from None

    # -- the list ---------------------------------------------------------------------------

    def snapshot(self, into: Path, etag: str | None = None) -> Snapshot | None:
        """Download the snapshot into the file ``into`` (the caller's temporary file, fsynced
        here), verify it, and return it; None when ``etag`` is still current (304)."""
        path = f"/v1/lists/{quote(self.list_name, safe='')}/snapshot"
        try:
            with self._stream(path, {"If-None-Match": etag} if etag else None) as r:
                if r.status_code == 304 and etag:
                    return None
                self._check_status(r, path)
                with open(into, "wb") as fh:
                    self._read(r, self.limits.snapshot_bytes, path, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                new_etag = r.headers.get("etag")
        except httpx.HTTPError as exc:
            raise SyncError(f"{self.server}{path}: {type(exc).__name__}: {exc}"[:300]) from None
        obj = parse_object(into.read_bytes(), path)
        self._check_signed(obj, "snapshot")
        for name in ("seq", "log_size", "pdq_threshold"):
            _int_field(obj, name, "snapshot")
        if not isinstance(obj.get("entries"), list):
            raise SyncError("the snapshot has no entries list: refused", refused=True)
        # A snapshot is written once per list version, so it may be older than the last page:
        # it is compared with the last snapshot only (the pages after it must be fresh).
        self._accept(obj, "snapshot", self._not_backwards(obj, "snapshot"))
        return Snapshot(obj, into, new_etag)

    def changes(self, since: int, trust: str | None) -> Page:
        """One verified page of the change feed after ``since``; ``trust``: the list's trust
        level as the client holds it (a list's trust never changes: another one is refused).

        **Fresh, not replayed.** A signed page stays valid forever, so an old one — "nothing
        new since ``since``, complete", kept by a proxy, a cache or an attacker — would freeze
        the client: withdrawals would never arrive, and it would say it is up to date. So a
        signed tree head is fetched *before* the first page of each run
        (:meth:`fresh_head`), and every page must say a ``log_size`` at least that head's size
        (the server reads the log's size as it generates the page: a page generated after the
        head covers at least it) and a ``generated_at`` no earlier than the head's timestamp
        (less :data:`CLOCK_SKEW`); neither may go back from the last page accepted
        (``trust.accepted``, which the caller keeps)."""
        if self._fresh is None:
            self.fresh_head()
        assert self._fresh is not None
        head = self._fresh
        path = f"/v1/lists/{quote(self.list_name, safe='')}/changes?{urlencode({'since': since})}"
        obj, raw = self._get_json(path, self.limits.page_bytes)
        self._check_signed(obj, "changes")
        for name in ("since", "until", "log_size"):
            _int_field(obj, name, "change feed")
        if obj["since"] != since or obj["until"] < since:
            raise SyncError(f"the change feed answered for positions {obj['since']} to "
                            f"{obj['until']}, not from {since}: refused", refused=True)
        if not isinstance(obj.get("complete"), bool) or not isinstance(obj.get("changes"), list):
            raise SyncError("the change feed is malformed (complete, changes): refused",
                            refused=True)
        if not obj["complete"] and not obj["changes"]:
            raise SyncError("the change feed page has no changes but says more follow (the "
                            "client would ask for the same page forever): refused",
                            refused=True)
        if trust is not None and obj.get("trust") != trust:
            raise SyncError(f"the change feed says the list is {obj.get('trust')!r}, the "
                            f"snapshot said {trust!r}: refused", refused=True)
        last = since
        for c in obj["changes"]:
            seq = c.get("seq") if isinstance(c, dict) else None
            if not isinstance(seq, int) or not last < seq <= obj["until"]:
                raise SyncError("the change feed's positions are out of order or outside "
                                "its range: refused", refused=True)
            last = seq
        if obj["log_size"] < head.size:
            raise SyncError(f"the change feed page says log size {obj['log_size']}, less than "
                            f"the signed tree head of {head.size} entries fetched before it: "
                            "an old page replayed (by a cache or a man in the middle): "
                            "refused", refused=True)
        generated = self._not_backwards(obj, "changes")
        signed_at = datetime.fromtimestamp(head.timestamp_ms / 1000, UTC)
        if generated < signed_at - CLOCK_SKEW:
            raise SyncError(f"the change feed page was generated at {obj['generated_at']}, "
                            f"before the signed tree head fetched before it "
                            f"({signed_at.isoformat()}): an old page replayed: refused",
                            refused=True)
        self._accept(obj, "changes", generated)
        return Page(obj, raw)

    def _not_backwards(self, obj: dict[str, Any], kind: str) -> datetime:
        """Check that a signed answer's ``log_size`` and ``generated_at`` do not go back from
        the last one of its kind accepted; returns ``generated_at``."""
        what = "snapshot" if kind == "snapshot" else "change feed page"
        try:
            generated = _instant(str(obj.get("generated_at")))
        except ValueError:
            raise SyncError(f"the {what} has no valid 'generated_at' (an ISO 8601 time with a "
                            "time zone): refused", refused=True) from None
        last = self.trust.accepted.get(kind)
        if last is not None:
            if obj["log_size"] < last.log_size:
                raise SyncError(f"the {what} says log size {obj['log_size']}, less than the "
                                f"{last.log_size} of the last one accepted (an old one "
                                "replayed): refused", refused=True)
            if generated < last.when() - CLOCK_SKEW:
                raise SyncError(f"the {what} was generated at {obj['generated_at']}, before "
                                f"the last one accepted ({last.generated_at}; an old one "
                                "replayed): refused", refused=True)
        return generated

    def _accept(self, obj: dict[str, Any], kind: str, generated: datetime) -> None:
        """Make a verified answer the last one of its kind accepted (in ``trust``: the caller
        saves it together with what it applies)."""
        last = self.trust.accepted.get(kind)
        newest = generated if last is None else max(generated, last.when())
        self.trust.accepted[kind] = Accepted(obj["log_size"], newest.isoformat())

    def _check_signed(self, obj: dict[str, Any], kind: str) -> None:
        if obj.get("format") != FORMAT or obj.get("type") != kind:
            raise SyncError(f"not a vigil {kind} (format {obj.get('format')!r}, type "
                            f"{obj.get('type')!r}): refused", refused=True)
        if obj.get("list") != self.list_name:
            raise SyncError(f"the {kind} is of list {obj.get('list')!r}, not "
                            f"{self.list_name!r}: refused", refused=True)
        _int_field(obj, "log_size", "change feed" if kind == "changes" else kind)
        try:
            # The key that signed it must sign the log size it says (a retired key, even
            # stolen, signs nothing of the log after its retirement).
            verify_any(obj, self.trust.verifying_keys(), self.trust.key_ranges())
        except ValueError as exc:
            raise SyncError(f"the {kind}: {exc}: refused", refused=True) from None


def _int_field(obj: dict[str, Any], name: str, what: str) -> None:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SyncError(f"the {what} has no valid {name!r} (a server too old to say which tree "
                        "head covers it?): refused", refused=True)


def parse_object(raw: bytes, what: str) -> dict[str, Any]:
    """One JSON object from ``raw``; :class:`SyncError` (refused) naming the problem."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise SyncError(f"{what}: malformed JSON ({getattr(exc, 'msg', exc)}): refused",
                        refused=True) from None
    if not isinstance(obj, dict):
        raise SyncError(f"{what}: expected a JSON object: refused", refused=True)
    return obj

