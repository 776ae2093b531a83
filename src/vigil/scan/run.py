"""The scan: members (:mod:`vigil.scan.sources`) hashed on an executor (a local process pool or
a Dask cluster, :func:`vigil.executors.batch_executor`), in order, into a journal in ``--out``.

**Resumable.** ``journal.jsonl`` receives one line per member, in the members' fixed order, and
``state.json`` (replaced atomically: written beside, flushed, renamed) says how many lines and
bytes of the journal are final, the path of the last, and what the scan is (its sources and
hashing options). A killed scan run again with the same arguments truncates the journal to the
last checkpoint, walks the sources past the members it has (reading archives again, hashing
nothing), and goes on; a checkpoint is written at most every second, so at most a second of
hashing is done twice. Other sources or options with the same ``--out`` are refused.

**Memory flat in the number of files.** Members are read as the window of work in flight moves
(at most ``16 x workers`` of them, sent in tasks of up to :data:`BATCH`, and at most
:data:`MAX_IN_FLIGHT_BYTES` of their bytes — a larger member goes alone); results go to the
journal as they come. Matching, grouping and the outputs read the journal afterwards
(:mod:`vigil.scan.results`).

**Per-file errors never stop it**: an unreadable member is a journal line with its error, and a
worker process that dies (a decoder crashed on a hostile file) costs the file it was hashing,
found by hashing the suspects alone on a fresh pool.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from vigil.matching.errors import HashingError
from vigil.matching.hashing import read_limited
from vigil.scan.sources import Member, ScanLimits, iter_members
from vigil.scan.work import Hashed, WorkOptions, as_dict, hash_batch, hash_member

JOURNAL = "journal.jsonl"
STATE = "state.json"
STATE_FORMAT = "vigil-scan-state-v1"
#: Seconds between two checkpoints.
CHECKPOINT_EVERY = 1.0
#: The error of a file whose hashing killed its worker process.
CRASHED = "hashing crashed the worker process (corrupt or hostile file?)"
#: Files in a row whose workers died, each alone: then a probe with nothing to decode tells
#: whether the workers cannot run at all (they cannot start, or memory is gone: the scan stops
#: rather than fail every file) or the files are hostile (each is a journal line, the scan
#: goes on).
MAX_CRASHES = 5
#: Members per task sent to a worker.
BATCH = 8
#: Bytes of members (from archives and disk images, or shipped to a cluster) in flight at most.
MAX_IN_FLIGHT_BYTES = 512 * 1024 * 1024


class ScanError(Exception):
    """A scan that cannot start or go on (not a bad file: those are per-file errors)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Progress:
    files: int
    bytes: int
    resumed: int


@dataclass(frozen=True)
class HashRun:
    """What a hashing run did: ``files`` in the journal, ``resumed`` of them from a run before,
    ``errors`` per-file errors among the new ones."""

    files: int
    resumed: int
    errors: int
    seconds: float


def identity(sources: Sequence[str | Path], limits: ScanLimits, options: WorkOptions
             ) -> dict[str, Any]:
    """What makes two runs the same scan: the sources (absolute) and every option that changes
    what is read or hashed."""
    return {"sources": [str(Path(s).absolute()) for s in sources],
            "limits": asdict(limits), "options": as_dict(options)}


def _state_path(out: Path) -> Path:
    return out / STATE


def read_state(out: Path) -> dict[str, Any] | None:
    p = _state_path(out)
    if not p.exists():
        return None
    try:
        state = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScanError(f"{p}: not a scan state file ({exc}); use another --out") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ScanError(f"{p}: not a scan state file of this version; use another --out")
    return state


def _write_state(out: Path, state: dict[str, Any]) -> None:
    tmp = out / (STATE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, _state_path(out))


ExecutorFactory = Callable[[], AbstractContextManager[Executor]]


def hash_sources(sources: Sequence[str | Path], out: Path, executor: ExecutorFactory, *,
                 limits: ScanLimits | None = None, options: WorkOptions | None = None,
                 window: int = 32, ship_bytes: bool = False, restart: bool = False,
                 progress: Callable[[Progress], None] | None = None) -> HashRun:
    """Hash every member of ``sources`` into ``out/journal.jsonl``, resuming a run before.

    ``executor()``: a context manager giving the executor (called again after a worker process
    died). ``ship_bytes``: send files' bytes to the workers (a Dask cluster need not see this
    machine's disks) rather than their paths. ``restart``: forget a run before. Raises
    :class:`ScanError` when ``out`` holds another scan or the sources changed under a resumed
    one."""
    lim = limits or ScanLimits()
    opts = options or WorkOptions()
    out.mkdir(parents=True, exist_ok=True)
    ident = identity(sources, lim, opts)
    state = None if restart else read_state(out)
    journal = out / JOURNAL
    if state is not None and state.get("identity") != ident:
        raise ScanError(f"{out} holds another scan (other sources, limits or options): give "
                        "another --out, or --restart to start this one again there")
    done = int(state["done"]) if state else 0
    keep = int(state["journal_bytes"]) if state else 0
    if state is None:
        journal.write_bytes(b"")
    else:
        with open(journal, "r+b") as fh:
            fh.truncate(keep)
    paths = hashlib.sha256()  # of every member's path so far: the sources must not change
    expected = state.get("paths_sha256") if state else None
    state = {"format": STATE_FORMAT, "identity": ident, "done": done, "journal_bytes": keep,
             "paths_sha256": expected or paths.hexdigest(), "finished": False}
    _write_state(out, state)
    start = time.monotonic()
    members = _skip(iter_members(sources, lim), done, expected, paths, out)
    errors = 0
    count = done
    size = 0
    last_checkpoint = time.monotonic()
    with open(journal, "ab") as fh:
        for result in _hashed(members, executor, opts, window, ship_bytes, lim):
            fh.write(json.dumps(result.to_json(), sort_keys=True).encode() + b"\n")
            count += 1
            size += result.size or 0
            errors += result.problem is not None
            paths.update(_path_key(result.path))
            state["done"] = count
            now = time.monotonic()
            if now - last_checkpoint >= CHECKPOINT_EVERY:
                fh.flush()
                os.fsync(fh.fileno())
                state["journal_bytes"], state["paths_sha256"] = fh.tell(), paths.hexdigest()
                _write_state(out, state)
                last_checkpoint = now
            if progress:
                progress(Progress(count, size, done))
        fh.flush()
        os.fsync(fh.fileno())
        state["journal_bytes"], state["paths_sha256"] = fh.tell(), paths.hexdigest()
    state["finished"] = True
    _write_state(out, state)
    return HashRun(count, done, errors, time.monotonic() - start)


def _path_key(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape") + b"\0"


def _skip(members: Iterator[Member], n: int, expected: str | None, paths: Any, out: Path
          ) -> Iterator[Member]:
    """The members after the first ``n``, whose paths must hash to ``expected`` (else the
    sources changed since the checkpoint, and the journal would no longer line up with
    them); ``paths`` takes every path."""
    checked = n == 0
    for i, member in enumerate(members):
        if i < n:
            paths.update(_path_key(member.path))
            continue
        if not checked:
            _check_paths(paths, expected, n, out)
            checked = True
        yield member
    if not checked:
        _check_paths(paths, expected, n, out)


def _check_paths(paths: Any, expected: str | None, n: int, out: Path) -> None:
    if paths.hexdigest() != expected:
        raise ScanError(f"the sources changed since the scan in {out} was stopped (the first "
                        f"{n} files are not those it hashed): give --restart to start again")


def _payload(member: Member, ship_bytes: bool, lim: ScanLimits) -> Member:
    """What goes to a worker: the member, with a file's bytes in it when workers may not see
    this machine's disks."""
    if not ship_bytes or member.file is None or member.data is not None:
        return member
    try:
        return replace(member, data=read_limited(Path(member.file), lim.max_member_bytes))
    except HashingError as exc:
        return Member(member.path, error=exc.message)


def _carried(member: Member) -> int:
    return len(member.data) if member.data is not None else 0


def _hashed(members: Iterator[Member], executor: ExecutorFactory, opts: WorkOptions,
            window: int, ship_bytes: bool, lim: ScanLimits, batch: int = BATCH
            ) -> Iterator[Hashed]:
    """Results in the members' order, with at most ``window`` members and
    :data:`MAX_IN_FLIGHT_BYTES` of their bytes in flight (a larger member goes alone), sent to
    the workers in tasks of up to ``batch`` members (fewer round trips: the pool's per-task
    cost is a fifth of a small picture's hashing)."""
    per_task = max(1, min(batch, window // 2))
    pending: deque[tuple[list[Member], Future[list[Hashed]]]] = deque()
    members = iter(members)
    waiting: Member | None = None  # pulled, not yet sent (it did not fit)
    exhausted = False
    crashes = 0
    while True:
        with executor() as ex:
            try:
                # After a worker died: what was in flight, on the fresh pool.
                pending = deque((b, _submit(ex, b, opts)) for b, _ in pending)
                while True:
                    in_flight = sum(len(b) for b, _ in pending)
                    carried = sum(_carried(m) for b, _ in pending for m in b)
                    task: list[Member] = []
                    while not exhausted and in_flight + len(task) < window \
                            and len(task) < per_task:
                        member = waiting if waiting is not None else next(members, None)
                        waiting = None
                        if member is None:
                            exhausted = True
                            break
                        member = _payload(member, ship_bytes, lim)
                        size = _carried(member)
                        if size and carried + size > MAX_IN_FLIGHT_BYTES and (pending or task):
                            waiting = member  # it goes when what is in flight has come back
                            break
                        task.append(member)
                        carried += size
                    if task:
                        pending.append((task, _submit(ex, task, opts)))
                        if waiting is None and not exhausted and \
                                in_flight + len(task) < window:
                            continue  # fill the window before waiting for a result
                    if not pending:
                        return
                    sent, future = pending[0]
                    results = future.result()
                    pending.popleft()
                    yield from results
            except BrokenProcessPool:
                pass
        # A worker died: hash the first unfinished task's members alone, to find the one.
        sent, _ = pending.popleft()
        for member in sent:
            result = _isolated(executor, member, opts)
            crashes = crashes + 1 if result.error == CRASHED else 0
            if crashes >= MAX_CRASHES:
                # Hostile files side by side, or workers that cannot run at all? A fresh worker
                # given nothing to decode tells them apart: only the latter stops the scan.
                if not _workers_run(executor, opts):
                    raise ScanError(f"worker processes died on {crashes} files in a row and on "
                                    f"a file with nothing to decode (the last {member.path}): "
                                    "they cannot run here; the journal keeps what was hashed, "
                                    "run the scan again to resume")
                crashes = 0
            yield result


def _submit(ex: Executor, task: list[Member], opts: WorkOptions) -> Future[list[Hashed]]:
    """The task on the pool; a pool already broken (a worker died since the last result) gives
    a future holding that error, so the task stays in flight and is retried with the rest."""
    try:
        return ex.submit(hash_batch, task, opts)
    except BrokenProcessPool as exc:
        failed: Future[list[Hashed]] = Future()
        failed.set_exception(exc)
        return failed


def _workers_run(executor: ExecutorFactory, opts: WorkOptions) -> bool:
    """Whether a fresh worker hashes a few bytes that decode as nothing."""
    probe = Member("(probe)", data=b"vigil scan probe: not a picture")
    return _isolated(executor, probe, opts).error != CRASHED


def _isolated(executor: ExecutorFactory, member: Member, opts: WorkOptions) -> Hashed:
    if member.error is not None:
        return hash_member(member, opts)  # nothing to hash: the error is the result
    try:
        with executor() as ex:
            return ex.submit(hash_member, member, opts).result()
    except BrokenProcessPool:
        return Hashed(member.path, error=CRASHED)


def digest_of_file(path: Path) -> str:
    """SHA-256 of a file, streamed (what names a hash set in the results)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()
