"""List snapshots built once per list version, kept on disk and streamed.

A snapshot (format in :mod:`vigil.indicators.feeds`) used to be rebuilt in memory for every
download: about 26 s and 0.8 GB at a million entries. Now each **list version** is written
once to a file in ``<data dir>/snapshots`` and every download of that version streams the file.

**The version** of a list is what its snapshot is a function of: the list (id, name, trust,
threshold), the list's **last entry in the change feed** (``list_changes.seq`` of this list;
every change to the active set of a list — verify, retract, quarantine, reinstate, victim
submit and withdraw — writes one, see :mod:`vigil.indicators.lifecycle`), and the signing key
(a snapshot signed by a retired key must not be served after a rotation). Feed entries are
numbered in commit order (each is written while the log's lock is held), so a later version
always has a larger ``seq``. The snapshot's ``seq`` field is that number: a provider asks
``/changes?since=seq`` for what follows.

**The file** is the signed JSON object itself: every field the signature covers, exactly as
signed, plus ``signature``. The signature is over the canonical JSON (sorted keys, no spaces) of
the rest; the file keeps ``format`` first and the entries in their canonical bytes, so a reader
recognises a snapshot from its first bytes and re-creates what was signed. It is written to
temporary files (the canonical form, signed from the page cache; then the served form) and
renamed into place (atomic); a small ``.meta.json`` beside it names its ETag, size and entry
count. Concurrent requests for the same list take one file lock
(across server workers too), so a version is built once; the last ``keep`` versions of each
list are kept, older ones deleted.

**ETag**: strong, ``"<version>-<sha256 of the bytes>"``. Every principal allowed to download
lists gets the same bytes (the snapshot is the list's, not a per-caller view), so one file serves
everyone; who may download is decided by the endpoint's scope, as before.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import itertools
import json
import mmap
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_str
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.db import private_dir
from vigil.indicators.feeds import FORMAT, canonical
from vigil.indicators.lifecycle import IndicatorStatus
from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.indicators.service import get_list
from vigil.translog import repository as translog
from vigil.translog.sth import TreeHeadSigner

#: The layout of the files this module writes; a new one (v2: ``log_size``) is not mixed up
#: with files an older version left on disk.
_FILE_LAYOUT = 2
#: Rows read from the database per round trip while a snapshot is written.
_ROWS_PER_FETCH = 10_000
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ListVersion:
    """What a list's snapshot is a function of (see the module docstring)."""

    list_id: int
    name: str
    trust: str
    kind: str
    pdq_threshold: int
    seq: int
    key_id: str

    @property
    def stem(self) -> str:
        """File-name-safe name of this version: ``list<id>-<seq>-<digest of the rest>``."""
        rest = json.dumps([FORMAT, _FILE_LAYOUT, self.name, self.trust, self.kind, self.pdq_threshold,
                           self.key_id]).encode()
        return f"list{self.list_id}-{self.seq}-{hashlib.sha256(rest).hexdigest()[:16]}"


@dataclass(frozen=True)
class SnapshotFile:
    """One built snapshot: its file, strong ETag, size in bytes, entries and feed position."""

    path: Path
    etag: str
    size: int
    entries: int
    seq: int

    def open(self) -> IO[bytes]:
        """The file, open for reading; ``FileNotFoundError`` if it was deleted meanwhile."""
        return open(self.path, "rb")


def current_version(session: Session, hl: HashList, signer: TreeHeadSigner) -> ListVersion:
    seq = session.scalar(select(func.max(ListChange.seq)).where(ListChange.list_id == hl.id))
    return ListVersion(hl.id, hl.name, hl.trust, hl.kind, hl.pdq_threshold, seq or 0,
                       signer.log_id.hex()[:16])


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def iter_file(fh: IO[bytes]) -> Iterator[bytes]:
    """The file in chunks of ``CHUNK_BYTES``; closes it at the end (or when abandoned)."""
    with fh:
        while chunk := fh.read(CHUNK_BYTES):
            yield chunk


class SnapshotStore:
    """Snapshot files of every list under ``directory``, the last ``keep`` versions of each."""

    def __init__(self, directory: Path, keep: int = 3) -> None:
        self.directory = directory
        self.keep = max(1, keep)

    def get(self, factory: sessionmaker[Session], name: str,
            signer: TreeHeadSigner) -> tuple[SnapshotFile, IO[bytes]]:
        """The current version's snapshot of list ``name``, built if it is not on disk yet, and
        the file open for reading (open before anything can delete it). Raises
        :class:`~vigil.errors.NotFound` for an unknown list."""
        for _ in range(3):  # a file deleted between finding and opening it: look again
            snap = self._current(factory, name, signer)
            with contextlib.suppress(FileNotFoundError):
                return snap, snap.open()
        snap = self._current(factory, name, signer)
        return snap, snap.open()

    def _current(self, factory: sessionmaker[Session], name: str,
                 signer: TreeHeadSigner) -> SnapshotFile:
        with factory() as session:
            version = current_version(session, get_list(session, name), signer)
        found = self._find(version)
        if found is not None:
            return found
        private_dir(self.directory)
        with self._lock(version.list_id), _consistent(factory) as session:
            # Read the version again in the session the entries come from: it may have moved
            # on, and another worker may have built it while this one waited for the lock.
            version = current_version(session, get_list(session, name), signer)
            found = self._find(version)
            if found is None:
                self._clear_temporary(version.list_id)
                found = self._write(session, version, signer)
            self._evict(version.list_id)
            return found

    # -- files --------------------------------------------------------------------------

    def _find(self, version: ListVersion) -> SnapshotFile | None:
        try:
            meta = json.loads((self.directory / f"{version.stem}.meta.json").read_text())
        except (OSError, ValueError):
            return None
        path = self.directory / f"{version.stem}.json"
        if not path.is_file() or path.stat().st_size != meta.get("size"):
            return None
        return SnapshotFile(path, meta["etag"], meta["size"], meta["entries"], meta["seq"])

    @contextlib.contextmanager
    def _lock(self, list_id: int) -> Iterator[None]:
        """One builder per list at a time, across threads and server processes."""
        with open(self.directory / f"list{list_id}.lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _clear_temporary(self, list_id: int) -> None:
        """Leftovers of a build that died (the lock is held: nobody else is writing)."""
        for p in self.directory.glob(f".tmp-list{list_id}-*"):
            p.unlink(missing_ok=True)

    def _evict(self, list_id: int) -> None:
        metas = []
        for p in self.directory.glob(f"list{list_id}-*.meta.json"):
            try:
                metas.append((json.loads(p.read_text()).get("seq", 0), p.stat().st_mtime, p))
            except (OSError, ValueError):
                metas.append((-1, 0.0, p))
        metas.sort(key=lambda m: (m[0], m[1]), reverse=True)
        for _, _, meta in metas[self.keep:]:
            meta.unlink(missing_ok=True)  # first the meta: a half-deleted version is a miss
            meta.with_name(meta.name.removesuffix(".meta.json") + ".json").unlink(missing_ok=True)

    def _write(self, session: Session, version: ListVersion,
               signer: TreeHeadSigner) -> SnapshotFile:
        # Served order: the small fields first (a reader recognises a snapshot by "format" in
        # its first few kilobytes: vigil.matching.listfile), the entries, the signature last.
        head = {"format": FORMAT, "type": "snapshot", "list": version.name,
                "kind": version.kind, "trust": version.trust,
                "pdq_threshold": version.pdq_threshold, "seq": version.seq,
                "generated_at": datetime.now(UTC).isoformat(),
                # Read in the session the entries come from: the log leaf of every change
                # behind them is among these (vigil.indicators.feeds, "which tree head").
                "log_size": translog.size(session)}
        signed, served = (self._temporary(version) for _ in range(2))
        try:
            with open(signed, "w+b") as body, open(served, "w+b") as out:
                # 1. The canonical JSON the signature covers ("entries" sorts first), signed
                # from the page cache (mmap), not from a copy on the heap.
                entries = _write_entries(session, version.list_id, body)
                entries_end = body.tell() - 1  # before the "," that follows the array
                body.write(canonical(head)[1:])
                body.flush()
                with mmap.mmap(body.fileno(), 0, access=mmap.ACCESS_READ) as message:
                    signature = signer.sign_bytes(message)  # type: ignore[arg-type]
                # 2. What is served: the same object, the same entries' bytes.
                digest = hashlib.sha256()

                def emit(data: bytes) -> None:
                    out.write(data)
                    digest.update(data)

                emit(json.dumps(head, separators=(",", ":")).encode()[:-1] + b',"entries":')
                body.seek(len(_ENTRIES_OPEN) - 1)
                left = entries_end - body.tell()
                while left > 0:
                    chunk = body.read(min(CHUNK_BYTES, left))
                    emit(chunk)
                    left -= len(chunk)
                emit(b',"signature":' + json.dumps(base64.b64encode(signature).decode())
                     .encode() + b"}")
                out.flush()
                os.fsync(out.fileno())
                size = out.tell()
            path = self.directory / f"{version.stem}.json"
            os.replace(served, path)
            snap = SnapshotFile(path, f'"{version.stem}-{digest.hexdigest()[:32]}"', size,
                                entries, version.seq)
            _atomic_write(self.directory / f"{version.stem}.meta.json", json.dumps({
                "etag": snap.etag, "size": size, "entries": entries, "seq": version.seq,
                "sha256": digest.hexdigest(), "generated_at": head["generated_at"]}).encode())
            return snap
        finally:
            signed.unlink(missing_ok=True)
            served.unlink(missing_ok=True)

    def _temporary(self, version: ListVersion) -> Path:
        fd, name = tempfile.mkstemp(prefix=f".tmp-list{version.list_id}-", dir=self.directory)
        os.close(fd)
        return Path(name)


_ENTRIES_OPEN = b'{"entries":['


def _write_entries(session: Session, list_id: int, fh: IO[bytes]) -> int:
    """``{"entries":[...],`` with every active indicator of the list in id order, each entry
    canonical (keys sorted, ASCII); returns how many."""
    # Core rows, not ORM ones: the ORM's per-row processing was 40% of the build.
    rows = session.connection().execute(
        select(Indicator.id, Indicator.label, Indicator.signal_type, Indicator.value)
        .where(Indicator.list_id == list_id, Indicator.status == IndicatorStatus.ACTIVE)
        .order_by(Indicator.id).execution_options(yield_per=_ROWS_PER_FETCH))
    fh.write(_ENTRIES_OPEN)
    n = 0
    out = []
    for ind_id, label, signal_type, value in itertools.chain.from_iterable(
            rows.partitions(_ROWS_PER_FETCH)):
        out.append(f'{"," if n else ""}{{"id":{int(ind_id)},"label":'
                   f'{"null" if label is None else _json_str(label)},"signal_type":'
                   f'{_json_str(signal_type)},"value":{_json_str(value)}}}')
        n += 1
        if len(out) >= _ROWS_PER_FETCH:
            fh.write("".join(out).encode())
            out.clear()
    out.append("],")
    fh.write("".join(out).encode())
    return n


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def _consistent(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A read-only session whose statements all see one state of the database: the version and
    the entries must agree. SQLite gives that within a transaction; PostgreSQL needs
    REPEATABLE READ (its default, READ COMMITTED, gives each statement its own)."""
    with factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        try:
            yield session
        finally:
            session.rollback()
