"""The live match index of one server process, kept in step with the database.

Every server worker (process) holds one :class:`LiveMatcher`. It replays the list-change feed
(``list_changes``, in commit order) into the matching core's indexes: additions go into the
PDQ / exact indexes, withdrawals are removed at once — no rebuild. A background thread polls
the feed every ``index_poll_interval`` seconds, so a verification or retraction made through
any worker is visible in every worker within about that interval; the worker that made the
change syncs right after its commit.

Index ids are indicator ids. vPDQ queries go through an index too: every usable frame of every
video indicator is in a PDQ index of frames, a query's frames find the candidate videos there,
and only those are compared by vPDQ's rule (a match needs at least one close pair of frames, so
no match is missed) — not a comparison with every video on the list.

The matcher is a :class:`~vigil.matching.policy.CandidateSource`:
PDQ queries use the largest threshold of any list and every candidate carries its list (name,
trust, threshold); :func:`vigil.matching.policy.match_items` applies the rules.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.errors import IndexLoading
from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.matching.codes import pack_hex
from vigil.matching.errors import IndexFileError
from vigil.matching.exact import ExactIndex
from vigil.matching.index import PdqIndex
from vigil.matching.indexfile import map_arrays, read_position, save_arrays
from vigil.matching.policy import Candidate, ListRef, Trust
from vigil.matching.signals import DIGEST_BYTES, PDQ_DEFAULT_THRESHOLD, SignalType, VpdqHash
from vigil.matching.video import usable_frames, vpdq_compare

log = logging.getLogger(__name__)

#: Frame slots per video indicator in the frame index (vPDQ hashes carry at most 100,000).
FRAME_SLOTS = 1 << 17
_DIGEST_SIZE = DIGEST_BYTES
_TYPES = list(SignalType)
_TYPE_CODES = {st: i for i, st in enumerate(_TYPES)}
_PDQ = _TYPE_CODES[SignalType.PDQ]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: While a worker's index loads, a request that needs it waits at most this many seconds (a
#: small index is ready by then), then answers 503 ``index_loading``, with Retry-After
#: :data:`LOADING_RETRY_AFTER` seconds.
LOADING_WAIT = 2.0
LOADING_RETRY_AFTER = 5


def _micros(at: datetime | None) -> int:
    if at is None:
        return 0
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return (at - _EPOCH) // timedelta(microseconds=1)


@contextmanager
def _file_lock(path: Path, *, wait: bool) -> Iterator[bool]:
    """An exclusive lock on ``<index file>.lock`` between the server workers of one data
    directory: yields whether it was taken (always, when ``wait``)."""
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class LiveMatcher:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        #: Set once the index holds the database's indicators (:meth:`load` or a first
        #: :meth:`sync`); until then every query raises :class:`IndexLoading`.
        self.ready = threading.Event()
        self._loading = False
        #: The index file this worker keeps (None: none) and the feed position it covers.
        self.index_file: Path | None = None
        self.file_seq = 0
        self.last_at = 0  # microseconds since 1970 of the change at last_seq: the feed's mark
        #: How long :meth:`load` took, in seconds (None until it is done).
        self.load_seconds: float | None = None
        self.pdq = PdqIndex()
        self.exact = {st: ExactIndex(size) for st, size in _DIGEST_SIZE.items()}
        self.videos: dict[int, VpdqHash] = {}
        #: Usable frames of every video indicator: id = indicator id * FRAME_SLOTS + frame.
        self.frames = PdqIndex()
        self._frame_count: dict[int, int] = {}
        # Per indicator id, in numpy arrays rather than a dict of tuples: a million Python
        # objects would cost ~200 MB and make every full garbage collection pause requests.
        self._list_of = np.zeros(0, np.int32)  # 0: not loaded
        self._type_of = np.zeros(0, np.int8)
        self._labels: dict[int, str] = {}
        self._count = 0
        self.lists: dict[int, ListRef] = {}
        self.last_seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- keeping up with the database -----------------------------------------------------

    def sync(self, factory: sessionmaker[Session]) -> int:
        """Apply every change committed since the last sync; returns how many. While
        :meth:`start` loads the index in the background this waits at most
        :data:`LOADING_WAIT` seconds for the load, then returns 0 (the loading thread catches
        up when it is done): a request never waits long for a load."""
        if self._loading and not self.ready.wait(LOADING_WAIT):
            return 0
        applied = self._sync(factory)
        self.ready.set()
        return applied

    def _sync(self, factory: sessionmaker[Session]) -> int:
        with self._lock, factory() as session:
            self.lists = {hl.id: ListRef(hl.name, Trust(hl.trust), hl.pdq_threshold, hl.robust)
                          for hl in session.scalars(select(HashList))}
            changes = list(session.execute(
                select(ListChange.seq, ListChange.indicator_id, ListChange.action, ListChange.at)
                .where(ListChange.seq > self.last_seq).order_by(ListChange.seq)))
            if not changes:
                return 0
            # Net effect per indicator, in order (an add then a withdraw cancels out).
            final: dict[int, str] = {}
            for _, ind_id, action, _ in changes:
                final[ind_id] = action
            adds = [i for i, a in final.items() if a == "add" and not self._loaded(i)]
            withdrawals = [i for i, a in final.items() if a == "withdraw" and self._loaded(i)]
            self._remove(withdrawals)
            for start in range(0, len(adds), 10_000):
                rows = session.execute(
                    select(Indicator.id, Indicator.list_id, Indicator.signal_type,
                           Indicator.value, Indicator.label)
                    .where(Indicator.id.in_(adds[start : start + 10_000]))).all()
                self._add(rows)
            self.last_seq, self.last_at = changes[-1][0], _micros(changes[-1][3])
            return len(changes)

    def _loaded(self, ind_id: int) -> bool:
        return ind_id < len(self._list_of) and self._list_of[ind_id] != 0

    def _grow(self, max_id: int) -> None:
        if max_id >= len(self._list_of):
            size = max(max_id + 1, int(len(self._list_of) * 1.5) + 1024)
            for name in ("_list_of", "_type_of"):
                old = getattr(self, name)
                new = np.zeros(size, old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)

    def _add(self, rows: Sequence[Any]) -> None:
        """Rows of (id, list id, signal type, value, label)."""
        if not rows:
            return
        self._grow(max(r[0] for r in rows))
        pdq_ids, pdq_values = [], []
        exact: dict[SignalType, tuple[list[int], list[str]]] = {st: ([], []) for st in self.exact}
        for ind_id, list_id, st_name, value, label in rows:
            st = SignalType(st_name)
            self._list_of[ind_id] = list_id
            self._type_of[ind_id] = _TYPE_CODES[st]
            if label is not None:
                self._labels[ind_id] = label
            self._count += 1
            if st is SignalType.PDQ:
                pdq_ids.append(ind_id)
                pdq_values.append(value)
            elif st is SignalType.VPDQ:
                video = VpdqHash.parse(value)
                self.videos[ind_id] = video
                frames = usable_frames(video)[: FRAME_SLOTS - 1]
                if frames:
                    self.frames.add(pack_hex(frames),
                                    np.arange(len(frames), dtype=np.int64) + ind_id * FRAME_SLOTS)
                    self._frame_count[ind_id] = len(frames)
            else:
                exact[st][0].append(ind_id)
                exact[st][1].append(value)
        if pdq_ids:
            self.pdq.add(pack_hex(pdq_values), np.array(pdq_ids, dtype=np.int64))
        for st, (ids, values) in exact.items():
            if ids:
                self.exact[st].add(values, ids)

    def _remove(self, ids: list[int]) -> None:
        for ind_id in ids:
            st = _TYPES[self._type_of[ind_id]]
            self._list_of[ind_id] = 0
            self._labels.pop(ind_id, None)
            self._count -= 1
            if st is SignalType.PDQ:
                self.pdq.remove([ind_id])
            elif st is SignalType.VPDQ:
                self.videos.pop(ind_id, None)
                n = self._frame_count.pop(ind_id, 0)
                if n:
                    self.frames.remove(np.arange(n, dtype=np.int64) + ind_id * FRAME_SLOTS)
            else:
                self.exact[st].remove([ind_id])

    # -- loading at start-up: the index file, then the feed -------------------------------

    def load(self, factory: sessionmaker[Session], index_file: Path | None = None,
             min_file: int = 0) -> str:
        """Fill the index and mark it ready; returns where it came from: ``"file"`` (the
        memory-mapped index file, then the feed from the position it covers) or
        ``"database"``.

        With ``index_file``, a valid file is mapped (its pages shared with every other worker
        mapping it). Without one, or when the file is refused (damaged, another format, or
        written for another database: its feed position is not this database's), one worker
        at a time builds the index from the active indicators and, from ``min_file``
        indicators up, writes the file (atomically) and maps it; the others wait for that
        file. Runs in a background thread from :meth:`start`; the worker serves meanwhile."""
        began = time.monotonic()
        with self._lock:
            how = "database"
            if index_file is None:
                self._sync(factory)
            elif self._open_file(factory, index_file):
                how = "file"
            else:
                with _file_lock(index_file, wait=True):
                    if self._open_file(factory, index_file, quiet=True):
                        how = "file"  # another worker wrote it while this one waited
                    else:
                        arrays, seq = self._build_arrays(factory)
                        if int((arrays["list_of"] != 0).sum()) >= min_file > 0:
                            save_arrays(index_file, arrays, seq)
                            del arrays
                            if not self._open_file(factory, index_file):
                                raise IndexFileError("the index file just written is refused")
                        else:
                            self._restore(factory, arrays, seq)
            if index_file is not None:
                self._sync(factory)  # the changes since the position the file covers
        # The first query compiles the kernel for mapped (read-only) arrays: here, not in a
        # request.
        self.pdq.search_batch(np.zeros((1, 4), np.uint64), 0)
        self.load_seconds = round(time.monotonic() - began, 3)
        self.ready.set()
        return how

    def _open_file(self, factory: sessionmaker[Session], path: Path, *, quiet: bool = False
                   ) -> bool:
        if not path.exists():
            return False
        try:
            seq, arrays = map_arrays(path)
            self._restore(factory, arrays, seq)
        except (IndexFileError, ValueError) as exc:
            if not quiet:
                log.warning("index file %s refused, rebuilding it from the database: %s",
                            path, getattr(exc, "message", exc))
            self._reset()
            return False
        self.index_file, self.file_seq = path, seq
        return True

    def _reset(self) -> None:
        self.pdq = PdqIndex()
        self.exact = {st: ExactIndex(size) for st, size in _DIGEST_SIZE.items()}
        self.videos, self._frame_count, self._labels = {}, {}, {}
        self.frames = PdqIndex()
        self._list_of = np.zeros(0, np.int32)
        self._type_of = np.zeros(0, np.int8)
        self._count, self.last_seq, self.last_at = 0, 0, 0

    def _build_arrays(self, factory: sessionmaker[Session]) -> tuple[dict[str, np.ndarray], int]:
        """The active indicators, read once (streamed, in id order) at the feed's current
        position: the file's arrays and that position. Changes committed while reading are
        replayed afterwards; replaying is idempotent (an add of a loaded indicator and a
        withdrawal of an absent one do nothing), so reading a little later than the position
        is harmless."""
        with factory() as session:
            last = session.execute(select(ListChange.seq, ListChange.at)
                                   .order_by(ListChange.seq.desc()).limit(1)).first()
            seq, at = (int(last[0]), _micros(last[1])) if last else (0, 0)
            max_id = session.scalar(select(func.max(Indicator.id))) or 0
            list_of = np.zeros(max_id + 1, np.int32)
            type_of = np.zeros(max_id + 1, np.int8)
            pdq_ids: list[np.ndarray] = []
            pdq_codes: list[np.ndarray] = []
            result = session.execute(
                select(Indicator.id, Indicator.list_id, Indicator.signal_type, Indicator.value)
                .where(Indicator.status == "active").order_by(Indicator.id)
                .execution_options(yield_per=50_000))
            for part in result.partitions():
                ids = np.fromiter((r[0] for r in part), np.int64, len(part))
                list_of[ids] = np.fromiter((r[1] for r in part), np.int32, len(part))
                kinds = np.fromiter((_TYPE_CODES[SignalType(r[2])] for r in part), np.int8,
                                    len(part))
                type_of[ids] = kinds
                is_pdq = kinds == _PDQ
                if is_pdq.any():
                    pdq_ids.append(ids[is_pdq])
                    pdq_codes.append(pack_hex([r[3] for r, p in zip(part, is_pdq, strict=True)
                                               if p]))
        codes = np.concatenate(pdq_codes) if pdq_codes else np.empty((0, 4), np.uint64)
        ids = np.concatenate(pdq_ids) if pdq_ids else np.empty(0, np.int64)
        del pdq_codes, pdq_ids
        index = PdqIndex.build(codes, ids)
        del codes
        arrays = {f"pdq_{k}": v for k, v in index.arrays().items()}
        arrays.update(list_of=list_of, type_of=type_of,
                      feed_mark=np.array([seq, at], np.int64))
        return arrays, seq

    def _restore(self, factory: sessionmaker[Session], arrays: dict[str, np.ndarray],
                 seq: int) -> None:
        """Take over the arrays (mapped, or just built) at feed position ``seq``: the PDQ
        index and who is loaded are used in place; the few other indicators (digests,
        videos) and the labels come from the database by id. Raises ValueError (or
        IndexFileError) if the arrays do not agree with each other or with this database."""
        try:
            list_of, type_of, mark = arrays["list_of"], arrays["type_of"], arrays["feed_mark"]
        except KeyError as exc:
            raise ValueError(f"the index file lacks {exc.args[0]!r}") from None
        if (list_of.dtype != np.int32 or type_of.dtype != np.int8 or list_of.ndim != 1
                or list_of.shape != type_of.shape or mark.shape != (2,)
                or mark.dtype != np.int64 or int(mark[0]) != seq):
            raise ValueError("the index file's arrays do not fit together")
        if len(type_of) and (int(type_of.min()) < 0 or int(type_of.max()) >= len(_TYPES)):
            raise ValueError("the index file holds an unknown signal type")
        pdq = PdqIndex.from_arrays({k[4:]: v for k, v in arrays.items() if k.startswith("pdq_")})
        loaded = list_of != 0
        pdq_ids = arrays["pdq_ids"]
        if len(pdq_ids) and (int(pdq_ids.min()) < 0 or int(pdq_ids.max()) >= len(list_of)
                             or not loaded[pdq_ids].all() or (type_of[pdq_ids] != _PDQ).any()
                             or int((loaded & (type_of == _PDQ)).sum()) != len(pdq_ids)):
            raise ValueError("the index file's PDQ entries and indicators disagree")
        with factory() as session:
            if seq:
                at = session.scalar(select(ListChange.at).where(ListChange.seq == seq))
                if at is None or _micros(at) != int(mark[1]):
                    raise IndexFileError("the index file was written for another database "
                                         f"(its feed position {seq} is not this database's)")
            self._reset()
            self.pdq = pdq
            list_of.flags.writeable = True  # copy-on-write: only changed pages become private
            type_of.flags.writeable = True
            self._list_of, self._type_of = list_of, type_of
            self._count = int(loaded.sum())
            self.last_seq, self.last_at = seq, int(mark[1])
            others = np.flatnonzero(loaded & (type_of != _PDQ))
            for start in range(0, len(others), 10_000):
                chunk = others[start : start + 10_000]
                self._list_of[chunk] = 0
                self._count -= len(chunk)
                self._add(session.execute(
                    select(Indicator.id, Indicator.list_id, Indicator.signal_type,
                           Indicator.value, Indicator.label)
                    .where(Indicator.id.in_(chunk.tolist()))).all())
            for ind_id, label in session.execute(
                    select(Indicator.id, Indicator.label)
                    .where(Indicator.label.is_not(None), Indicator.status == "active")):
                if self._loaded(ind_id) and label is not None:
                    self._labels[ind_id] = label

    def save(self, *, min_changes: int = 0) -> bool:
        """Write this worker's index to its index file (atomically) if the file is at least
        ``min_changes`` changes behind it and no other worker is writing it; returns whether
        it wrote. The file then lets a (re)starting worker catch up from here."""
        path = self.index_file
        if path is None:
            return False
        with _file_lock(path, wait=False) as mine:
            if not mine:
                return False
            with suppress(IndexFileError):  # a missing or damaged file is simply rewritten
                self.file_seq = max(self.file_seq, read_position(path))
            if self.last_seq - self.file_seq < max(min_changes, 1):
                return False
            with self._lock:  # one consistent picture; the arrays are immutable once taken
                arrays = {f"pdq_{k}": v for k, v in self.pdq.arrays().items()}
                size = len(self._list_of)
                arrays.update(list_of=self._list_of[:size].copy(),
                              type_of=self._type_of[:size].copy(),
                              feed_mark=np.array([self.last_seq, self.last_at], np.int64))
                seq = self.last_seq
            save_arrays(path, arrays, seq)
            self.file_seq = seq
            return True

    def start(self, factory: sessionmaker[Session], interval: float,
              index_file: Path | None = None, min_file: int = 0, resave_changes: int = 0) -> None:
        """In a background thread: :meth:`load`, then poll the feed every ``interval``
        seconds (and rewrite the index file when it is ``resave_changes`` changes behind;
        0: never). The caller's event loop is never blocked; queries answer
        :class:`IndexLoading` until the load is done."""
        self._loading = True

        def loop() -> None:
            while not self.ready.is_set() and not self._stop.is_set():
                try:
                    how = self.load(factory, index_file, min_file)
                    log.info("index ready: %d indicators (from the %s) in %.1f s", len(self),
                             how, self.load_seconds)
                except Exception:  # keep the worker up (serving 503s) and try again
                    log.exception("index load failed; retrying")
                    self._stop.wait(5)
            while not self._stop.wait(interval):
                try:
                    self.sync(factory)
                    if resave_changes:
                        self.save(min_changes=resave_changes)
                except Exception:  # keep serving with the last good state; log and retry
                    log.exception("index sync failed")

        self._thread = threading.Thread(target=loop, name="vigil-index-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- queries ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def _require_ready(self) -> None:
        if not self.ready.is_set() and not (self._loading and self.ready.wait(LOADING_WAIT)):
            raise IndexLoading("the match index is still loading; retry shortly",
                               retry_after=LOADING_RETRY_AFTER)

    def _candidate(self, ind_id: int, distance: int | None, **extra: float) -> Candidate | None:
        if not self._loaded(ind_id):
            return None
        info = self.lists.get(int(self._list_of[ind_id]))
        if info is None:
            return None
        return Candidate(ind_id, info, _TYPES[self._type_of[ind_id]], distance,
                         self._labels.get(ind_id), None, **extra)

    def pdq_candidates(self, hexes: Sequence[str]) -> list[list[Candidate]]:
        """Candidates within the largest threshold of any list (the policy applies each
        list's own)."""
        self._require_ready()
        if not hexes:
            return []
        t = max((li.pdq_threshold for li in self.lists.values()), default=PDQ_DEFAULT_THRESHOLD)
        res = self.pdq.search_batch(pack_hex(list(hexes)), t)
        out: list[list[Candidate]] = [[] for _ in hexes]
        for q, ind_id, d in zip(res.query.tolist(), res.ids.tolist(), res.distances.tolist(),
                                strict=True):
            c = self._candidate(ind_id, d)
            if c is not None:
                out[q].append(c)
        return out

    def digest_candidates(self, signal_type: SignalType, hex_value: str) -> list[Candidate]:
        # An MD5 is an MD5, whatever kind of file it was taken of.
        self._require_ready()
        types = ([SignalType.MD5, SignalType.VIDEO_MD5]
                 if signal_type in (SignalType.MD5, SignalType.VIDEO_MD5) else [signal_type])
        out = []
        for st in types:
            for ind_id in self.exact[st].lookup(hex_value):
                c = self._candidate(ind_id, 0)
                if c is not None:
                    out.append(c)
        return out

    def vpdq_candidates(self, video: VpdqHash) -> list[Candidate]:
        """Videos matching frame by frame within their list's threshold (vPDQ's rule), among
        those that share at least one close frame with the query (the frame index)."""
        self._require_ready()
        frames = usable_frames(video)
        if not frames or not len(self.frames):
            return []
        t = max((li.pdq_threshold for li in self.lists.values()), default=PDQ_DEFAULT_THRESHOLD)
        near = self.frames.search_batch(pack_hex(frames), t)
        out = []
        for ind_id in sorted({int(i) // FRAME_SLOTS for i in near.ids.tolist()}):
            target = self.videos.get(ind_id)
            info = self.lists.get(int(self._list_of[ind_id])) if self._loaded(ind_id) else None
            if target is None:
                continue
            if info is None:
                continue
            result = vpdq_compare(video, target, distance=info.pdq_threshold)
            if result.is_match():
                c = self._candidate(ind_id, None,
                                    query_match_percent=result.query_match_percent,
                                    target_match_percent=result.target_match_percent)
                if c is not None:
                    out.append(c)
        return out
