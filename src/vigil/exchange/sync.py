"""The provider's sync client: keep a folder holding one list of a vigil server, verified.

``vigil sync --server URL --key KEY --list NAME --dir DIR`` and :class:`ListSync` download the
list's signed snapshot once, then follow its change feed page by page; every answer passes the
checks of :class:`~vigil.exchange.client.FeedClient` (signatures by the log's key chain, a
signed tree head that covers it, consistent with the last one trusted) before it is kept.
``vigil match --list DIR`` reads the folder (:func:`vigil.matching.listfile.read_synced_folder`).

**The folder** holds the artefacts exactly as the server signed them and a state file::

    vigil-sync.json                      state: what the folder holds, the trusted log keys
                                         and tree head, the feed position (the commit point)
    snapshot-<seq>-<sha256/16>.json      the snapshot the folder started from
    changes-<since>-<until>-<sha256/16>.json   each page of the feed that changed the list
    vigil-sync-status.json               how far behind it is (for monitoring)

**Crash safety.** Every file is written to a temporary name, flushed with ``fsync``, renamed
into place, and the folder fsynced; the state file is written the same way *last*, naming
only files already in place. So the folder is at all times either before or after a step:
a crash at any point leaves the old state naming the old files, plus perhaps a temporary or
unreferenced file that the next run deletes before it starts. A withdrawal is therefore
applied — kept, and read by ``vigil match`` — as soon as its page is verified: one page, one
commit. The trusted head and keys are saved in the same state write as what they covered.

**Compaction.** Once the pages hold more changes than half the snapshot's entries (and at
least ``compact_min``), the next run downloads a new snapshot (a new version of the list, whose
feed position must not be older than the last change applied) and drops the pages.

**Following** (:meth:`ListSync.follow`, ``--follow``): a sync every ``interval`` seconds;
after a failure the wait doubles (with jitter) up to ``max_backoff``. Each round writes the
status file: seconds since the last successful sync and feed positions behind the last
position the server announced.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigil.egress import EgressPolicy
from vigil.exchange.client import FeedClient, HttpClient, Limits, LogTrust, Page, Snapshot, SyncError
from vigil.matching.errors import ListFileError
from vigil.matching.listfile import (
    SYNC_FORMAT,
    SYNC_STATE,
    parse_snapshot,
    served_entry,
)

STATUS = "vigil-sync-status.json"


@dataclass(frozen=True)
class SyncResult:
    """What one run did: the feed position reached, whether a snapshot was taken, how many
    pages were kept, additions and withdrawals applied, the trusted head's size."""

    list: str
    seq: int
    snapshot: bool
    pages: int
    added: int
    withdrawn: int
    head_size: int


@dataclass(frozen=True)
class SyncStatus:
    """How far behind the folder is: seconds since the last successful sync (None: never),
    feed positions between the folder and the last position the server announced."""

    list: str
    seq: int | None
    server_seq: int | None
    positions_behind: int | None
    last_success: str | None
    seconds_behind: float | None
    last_error: str | None
    failures: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- durable files (module functions: the crash tests inject failures here) -----------------


def _fsync(fd: int) -> None:
    os.fsync(fd)


def _replace(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _temporary(directory: Path, what: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".tmp-{what}-", dir=directory)
    os.close(fd)
    return Path(name)


def write_atomic(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` or what it held before, whatever happens: temporary file,
    fsync, rename, fsync of the folder."""
    tmp = _temporary(path.parent, path.name)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            _fsync(fh.fileno())
        _replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            _unlink(tmp)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _now() -> datetime:
    return datetime.now(UTC)


# -- the client ---------------------------------------------------------------------------------


class ListSync:
    """Keeps ``directory`` holding list ``list_name`` of ``server`` (see the module
    docstring). ``policy``: the egress policy every request passes (from the settings);
    ``log_keys``: keys to pin on the first sync (else the server's chain is taken on first
    use and pinned from then on); ``client``: an ``HttpClient`` (tests pass one bound to an
    app)."""

    def __init__(self, server: str, api_key: str, list_name: str, directory: Path, *,
                 policy: EgressPolicy, client: HttpClient | None = None,
                 log_keys: list[Ed25519PublicKey] | None = None, limits: Limits | None = None,
                 compact_min: int = 10_000,
                 progress: Callable[[str, int, int], None] | None = None) -> None:
        self.server = server.rstrip("/")
        self.api_key = api_key
        self.list_name = list_name
        self.directory = Path(directory)
        self.policy = policy
        self.client = client
        self.log_keys = log_keys
        self.limits = limits or Limits()
        self.compact_min = compact_min
        #: Told (stage, done, total) as the snapshot downloads (bytes) and pages arrive.
        self.progress = progress
        self._server_seq: int | None = None
        self._failures = 0
        self._last_error: str | None = None

    # -- state --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any] | None:
        """The folder's state (None: never synced); :class:`SyncError` if it is unreadable or
        holds another server's or list's data."""
        path = self.directory / SYNC_STATE
        try:
            state = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SyncError(f"{path}: unreadable ({exc}); move the folder away to start "
                            "afresh") from None
        if not isinstance(state, dict) or state.get("format") != SYNC_FORMAT:
            raise SyncError(f"{path}: not a vigil sync state")
        if state.get("server") != self.server or state.get("list") != self.list_name:
            raise SyncError(f"{self.directory} holds list {state.get('list')!r} of "
                            f"{state.get('server')}: use another --dir for {self.list_name!r} "
                            f"of {self.server}")
        return state

    def _commit(self, state: dict[str, Any]) -> None:
        write_atomic(self.directory / SYNC_STATE,
                     json.dumps(state, sort_keys=True, indent=1).encode())

    def _clean(self, state: dict[str, Any] | None) -> None:
        """Delete what a run that died left: temporary files and artefacts the state does not
        name (written, but never committed; or replaced by a compaction)."""
        keep = {SYNC_STATE, STATUS, ".lock"}
        if state is not None:
            keep |= {state["snapshot"], *state["pages"]}
        for p in self.directory.iterdir():
            if p.name.startswith(".tmp-") or (
                    p.name not in keep and p.name.startswith(("snapshot-", "changes-"))):
                _unlink(p)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One sync of a folder at a time (a second one fails at once, saying so)."""
        with open(self.directory / ".lock", "a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SyncError(f"{self.directory}: another sync is running on this "
                                "folder") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- one run ------------------------------------------------------------------------------

    def sync(self) -> SyncResult:
        """Bring the folder up to date (snapshot if needed, then every page of the feed);
        raises :class:`SyncError` — with everything verified before the failure kept, and
        nothing unverified. The status file is written either way."""
        try:
            result = self._sync()
        except SyncError as exc:
            self._failures += 1
            self._last_error = exc.message
            self._write_status()
            raise
        self._failures, self._last_error = 0, None
        self._write_status()
        return result

    def _sync(self) -> SyncResult:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._lock():
            state = self.state()
            self._clean(state)
            trust = LogTrust() if state is None else _trust_of(state)
            feed = FeedClient(self.server, self.api_key, self.list_name, policy=self.policy,
                              trust=trust, pinned=self.log_keys, client=self.client,
                              limits=self.limits, progress=self.progress)
            took_snapshot, pages, added, withdrawn = False, 0, 0, 0
            try:
                feed.refresh_keys()
                if state is not None and not state.get("chained"):
                    # A folder of an older vigil: its pages skip the empty stretches of the
                    # feed, so its chain cannot be checked; start again from a new snapshot.
                    state = {**state, "etag": None}
                    fresh = self._take_snapshot(feed, state)
                    if fresh is not None:
                        state, took_snapshot = fresh, True
                elif state is None or self._compaction_due(state):
                    fresh = self._take_snapshot(feed, state)
                    if fresh is not None:
                        state, took_snapshot = fresh, True
                assert state is not None
                while True:
                    page = feed.changes(int(state["seq"]), str(state["trust"]))
                    adds, withdraws = _check_records(page)
                    feed.covering_head(page.log_size)
                    # A verified page, fresher than the head fetched before it: what the
                    # server's position is (never an unverified or replayed answer's).
                    self._server_seq = page.until
                    state = self._keep_page(state, page, feed.trust)
                    pages += 1 if page.changes else 0
                    added, withdrawn = added + adds, withdrawn + withdraws
                    if self.progress is not None:
                        self.progress("following the change feed (pages)", pages, pages)
                    if page.complete:
                        break
            finally:
                feed.close()
            head = feed.trust.head
            return SyncResult(self.list_name, _reached(state), took_snapshot, pages, added,
                              withdrawn, head.size if head else 0)

    def _compaction_due(self, state: dict[str, Any]) -> bool:
        return int(state.get("page_changes", 0)) > max(self.compact_min,
                                                        int(state.get("entries", 0)) // 2)

    def _take_snapshot(self, feed: FeedClient, state: dict[str, Any] | None
                       ) -> dict[str, Any] | None:
        tmp = _temporary(self.directory, "snapshot")
        try:
            snap = feed.snapshot(tmp, None if state is None else state.get("etag"))
            if snap is None:
                return None  # 304: the version the folder started from is still current
            entries = _check_snapshot(snap)
            if state is not None and snap.seq < int(state["list_seq"]):
                raise SyncError(f"the server's snapshot is at feed position {snap.seq}, older "
                                f"than the change {state['list_seq']} already applied (a "
                                "rollback): refused", refused=True)
            feed.covering_head(snap.log_size)
            name = f"snapshot-{snap.seq}-{_digest(tmp.read_bytes())}.json"
            _replace(tmp, self.directory / name)
            _fsync_dir(self.directory)
        finally:
            if tmp.exists():
                _unlink(tmp)
        obj = snap.obj
        new: dict[str, Any] = {"format": SYNC_FORMAT, "server": self.server, "list": self.list_name,
                               "trust": obj.get("trust"), "kind": obj.get("kind"),
                               "pdq_threshold": obj.get("pdq_threshold"), "snapshot": name, "etag": snap.etag,
                               "entries": entries, "pages": [], "page_changes": 0, "seq": snap.seq,
                               "list_seq": snap.seq, "checked": snap.seq, "chained": True,
                               "log": feed.trust.to_json(), "synced_at": _now().isoformat()}
        self._commit(new)
        self._clean(new)  # the snapshot and pages it replaces
        return new

    def _keep_page(self, state: dict[str, Any], page: Page, trust: LogTrust) -> dict[str, Any]:
        """Commit a verified page. The folder's position (``seq``) moves only with a page that
        is kept — one with changes — so the kept pages form an unbroken chain from the
        snapshot's position (each page's ``since`` is the ``until`` of the one before), which
        the reader checks; ``checked`` says how far the feed was read (for the status)."""
        new: dict[str, Any] = {**state, "checked": page.until, "log": trust.to_json(),
                               "synced_at": _now().isoformat()}
        if page.changes:
            new["seq"] = page.until
            name = f"changes-{page.since}-{page.until}-{_digest(page.raw)}.json"
            write_atomic(self.directory / name, page.raw)
            new["pages"] = [*state["pages"], name]
            new["page_changes"] = int(state.get("page_changes", 0)) + len(page.changes)
            new["list_seq"] = max(int(state["list_seq"]), page.changes[-1]["seq"])
        self._commit(new)
        return new

    # -- status and following ---------------------------------------------------------------

    def status(self) -> SyncStatus:
        """How far behind the folder is now."""
        try:
            state = self.state()
        except SyncError:
            state = None
        seq = None if state is None else _reached(state)
        last = None if state is None else str(state["synced_at"])
        behind = None
        if seq is not None and self._server_seq is not None:
            behind = max(0, self._server_seq - seq)
        seconds = None
        if last is not None:
            seconds = max(0.0, (_now() - datetime.fromisoformat(last)).total_seconds())
        return SyncStatus(self.list_name, seq, self._server_seq, behind, last,
                          None if seconds is None else round(seconds, 3), self._last_error,
                          self._failures)

    def _write_status(self) -> None:
        with contextlib.suppress(OSError):
            write_atomic(self.directory / STATUS,
                         json.dumps(self.status().to_json(), indent=1).encode())

    def follow(self, interval: float, *, stop: threading.Event,
               report: Callable[[SyncStatus, SyncResult | None], None] | None = None,
               max_backoff: float = 3600.0) -> None:
        """Sync every ``interval`` seconds until ``stop`` is set; after a failure wait
        ``interval * 2**failures`` (at most ``max_backoff``, with ±20% jitter) before trying
        again. ``report`` is told the status after every round."""
        while not stop.is_set():
            result = None
            try:
                result = self.sync()
                wait = interval
            except SyncError:
                wait = min(max_backoff, interval * 2 ** min(self._failures, 30))
                wait *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
            if report is not None:
                report(self.status(), result)
            stop.wait(wait)


def _reached(state: dict[str, Any]) -> int:
    """How far the folder has read the feed: its last kept page's ``until`` or further (the
    empty pages read since are not kept)."""
    return max(int(state["seq"]), int(state.get("checked") or 0))


def _trust_of(state: dict[str, Any]) -> LogTrust:
    try:
        return LogTrust.from_json(state.get("log"))
    except ValueError as exc:
        raise SyncError(f"the folder's trusted log keys are unreadable ({exc}); move the "
                        "folder away to start afresh") from None


def _check_snapshot(snap: Snapshot) -> int:
    """Every entry of a verified snapshot must be a valid hash (the server signed it; a
    provider still refuses to half-load a list); returns how many there are."""
    try:
        return len(parse_snapshot(snap.obj, "the snapshot"))
    except ListFileError as exc:
        raise SyncError(f"{exc.message}: refused", refused=True) from None


def _check_records(page: Page) -> tuple[int, int]:
    """Every change of a verified page must be a withdrawal by id or a valid addition; returns
    (additions, withdrawals)."""
    adds = withdraws = 0
    for i, c in enumerate(page.changes):
        where = f"the change feed, change {c.get('seq')}"
        if c.get("action") == "withdraw":
            if not isinstance(c.get("id"), int):
                raise SyncError(f"{where}: a withdrawal without an id: refused", refused=True)
            withdraws += 1
        elif c.get("action") == "add":
            if not isinstance(c.get("id"), int):
                raise SyncError(f"{where}: an addition without an id: refused", refused=True)
            try:
                served_entry(c, where, i)
            except ListFileError as exc:
                raise SyncError(f"{exc.message}: refused", refused=True) from None
            adds += 1
        else:
            raise SyncError(f"{where}: unknown action {c.get('action')!r}: refused",
                            refused=True)
    return adds, withdraws
