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

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.matching.codes import pack_hex
from vigil.matching.exact import ExactIndex
from vigil.matching.index import PdqIndex
from vigil.matching.policy import Candidate, ListRef, Trust
from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD, SignalType, VpdqHash
from vigil.matching.video import usable_frames, vpdq_compare

log = logging.getLogger(__name__)

#: Frame slots per video indicator in the frame index (vPDQ hashes carry at most 100,000).
FRAME_SLOTS = 1 << 17
_DIGEST_SIZE = {SignalType.MD5: 16, SignalType.SHA256: 32, SignalType.VIDEO_MD5: 16}
_TYPES = list(SignalType)
_TYPE_CODES = {st: i for i, st in enumerate(_TYPES)}


class LiveMatcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
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
        """Apply every change committed since the last sync; returns how many."""
        with self._lock, factory() as session:
            self.lists = {hl.id: ListRef(hl.name, Trust(hl.trust), hl.pdq_threshold, hl.robust)
                          for hl in session.scalars(select(HashList))}
            changes = list(session.execute(
                select(ListChange.seq, ListChange.indicator_id, ListChange.action)
                .where(ListChange.seq > self.last_seq).order_by(ListChange.seq)))
            if not changes:
                return 0
            # Net effect per indicator, in order (an add then a withdraw cancels out).
            final: dict[int, str] = {}
            for _, ind_id, action in changes:
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
            self.last_seq = changes[-1][0]
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

    def start(self, factory: sessionmaker[Session], interval: float) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sync(factory)
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
