"""Exact index for cryptographic digests (md5, sha256, video_md5).

Digests are kept in numpy arrays sorted by their first 8 bytes, so 10 million MD5s cost about
25 bytes each instead of the ~180 of a Python dict, and a batch lookup is one vectorised
``searchsorted``. Additions go to a small dict (the *tail*) that is merged into the sorted arrays
when it grows past ``max(tail_limit, size / 8)``; removals clear a liveness byte at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np

from vigil.matching.errors import DuplicateEntry, InvalidSignal


class ExactIndex:
    """Maps fixed-length digests to ids; several ids may share one digest."""

    def __init__(self, digest_size: int, *, tail_limit: int = 4096) -> None:
        if digest_size < 8:
            raise ValueError("digest_size must be at least 8 bytes")
        self.digest_size = digest_size
        self._tail_limit = tail_limit
        self._lock = threading.RLock()
        # The sorted part as one tuple, replaced at once so that readers never mix versions:
        # (digests, prefix, ids, alive, sorted_ids, id_positions).
        self._main: tuple[np.ndarray, ...] = (
            np.empty((0, digest_size), np.uint8), np.empty(0, np.uint64), np.empty(0, np.int64),
            np.empty(0, np.uint8), np.empty(0, np.int64), np.empty(0, np.int64))
        self._tail: dict[bytes, list[int]] = {}
        self._tail_ids: set[int] = set()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _pack(self, digests: Sequence[bytes | str] | np.ndarray) -> np.ndarray:
        if isinstance(digests, np.ndarray):
            if digests.ndim != 2 or digests.shape[1] != self.digest_size:
                raise InvalidSignal(f"digests: expected (n, {self.digest_size}) bytes")
            return np.ascontiguousarray(digests, dtype=np.uint8)
        out = np.empty((len(digests), self.digest_size), np.uint8)
        for i, d in enumerate(digests):
            raw = d
            if isinstance(d, str):
                try:
                    raw = bytes.fromhex(d)
                except ValueError:
                    raise InvalidSignal(f"digest #{i}: not hexadecimal: {d[:80]!r}") from None
            if not isinstance(raw, bytes | bytearray) or len(raw) != self.digest_size:
                raise InvalidSignal(
                    f"digest #{i}: expected {self.digest_size} bytes "
                    f"({2 * self.digest_size} hex characters)"
                )
            out[i] = np.frombuffer(raw, np.uint8)
        return out

    @staticmethod
    def _prefixes(digests: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(digests[:, :8]).view(">u8").reshape(-1).astype(np.uint64)

    def add(self, digests: Sequence[bytes | str] | np.ndarray,
            ids: Iterable[int] | np.ndarray) -> None:
        packed = self._pack(digests)
        id_arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, np.int64)
        if id_arr.shape != (packed.shape[0],):
            raise InvalidSignal(f"got {packed.shape[0]} digests but {id_arr.shape[0]} ids")
        with self._lock:
            if len(set(id_arr.tolist())) != len(id_arr):
                raise DuplicateEntry("an id appears more than once in the batch")
            for ident in id_arr.tolist():
                if self._contains(ident):
                    raise DuplicateEntry(f"id {ident} is already in the index")
            for row, ident in zip(packed, id_arr.tolist(), strict=True):
                self._tail.setdefault(row.tobytes(), []).append(ident)
                self._tail_ids.add(ident)
            self._count += len(id_arr)
            if len(self._tail_ids) > max(self._tail_limit, len(self._main[2]) // 8):
                self._merge()

    def _main_position(self, ident: int) -> int:
        _, _, _, alive, sorted_ids, positions = self._main
        pos = int(np.searchsorted(sorted_ids, ident))
        if pos < len(sorted_ids) and sorted_ids[pos] == ident:
            p = int(positions[pos])
            if alive[p]:
                return p
        return -1

    def _contains(self, ident: int) -> bool:
        return ident in self._tail_ids or self._main_position(ident) >= 0

    def remove(self, ids: Iterable[int]) -> int:
        removed = 0
        with self._lock:
            for ident in set(int(i) for i in ids):
                if ident in self._tail_ids:
                    self._tail_ids.discard(ident)
                    for key, lst in list(self._tail.items()):
                        if ident in lst:
                            lst.remove(ident)
                            if not lst:
                                del self._tail[key]
                            break
                    removed += 1
                    continue
                p = self._main_position(ident)
                if p >= 0:
                    self._main[3][p] = 0
                    removed += 1
            self._count -= removed
        return removed

    def _merge(self) -> None:
        old_digests, _, old_ids, old_alive, _, _ = self._main
        live = old_alive == 1
        parts_d = [old_digests[live]]
        parts_i = [old_ids[live]]
        if self._tail:
            keys = list(self._tail)
            rows = np.frombuffer(b"".join(k for k in keys for _ in self._tail[k]), np.uint8)
            parts_d.append(rows.reshape(-1, self.digest_size))
            parts_i.append(np.array([i for k in keys for i in self._tail[k]], np.int64))
        digests = np.concatenate(parts_d)
        ids = np.concatenate(parts_i)
        prefix = self._prefixes(digests)
        order = np.argsort(prefix, kind="stable")
        ids = ids[order]
        positions = np.argsort(ids, kind="stable")
        # Publish the new sorted part and the emptied tail together (one tuple each, the main
        # part first: a reader in between sees an entry twice at worst, never loses one).
        self._main = (digests[order], prefix[order], ids, np.ones(len(ids), np.uint8),
                      ids[positions], positions)
        self._tail = {}
        self._tail_ids = set()

    def lookup_batch(self, digests: Sequence[bytes | str] | np.ndarray) -> list[list[int]]:
        """For each digest, the ids stored under it (empty list when none)."""
        packed = self._pack(digests)
        tail = dict(self._tail)
        digests_m, prefix, ids, alive, _, _ = self._main
        q = self._prefixes(packed)
        lo = np.searchsorted(prefix, q, "left")
        hi = np.searchsorted(prefix, q, "right")
        out: list[list[int]] = []
        for i in range(len(q)):
            hits = [
                int(ids[p]) for p in range(lo[i], hi[i])
                if alive[p] and np.array_equal(digests_m[p], packed[i])
            ]
            hits.extend(j for j in tail.get(packed[i].tobytes(), ()) if j not in hits)
            out.append(hits)
        return out

    def lookup(self, digest: bytes | str) -> list[int]:
        return self.lookup_batch([digest])[0]
