"""Perceptual matching under PSI: multi-index chunks as set elements.

PSI compares elements exactly; PDQ matches by Hamming distance (≤ 31 of 256 bits). Cut the
256 bits into ``chunks`` pieces; the list side puts one element per piece on the list
(``pdq/8/3/1a2b3c4d``: chunk 3 of 8 has that value); the device asks, for each of its
pieces, every value within ``radius`` bits. By the pigeonhole principle, two hashes within
distance d have some chunk within ⌊d / chunks⌋ bits, so ``chunks · (radius + 1) > 31``
guarantees that every pair within 31 shares at least one element (:meth:`ChunkScheme.guaranteed`).

The catch, which ``vigil bench e2ee`` measures: a chunk of b bits has 2^b values per position,
and a list of N hashes fills N of them. With 8-bit chunks (32 chunks, radius 0: the textbook
pigeonhole) every value is taken from a list of a few thousand on: every query "matches". With
32-bit chunks a list of 10^6 fills 1 in 4,300 values per position, and a radius-3 query asks
5,489 values per position: ~10 false chunk hits per unrelated picture. Fewer, longer chunks or
a smaller radius lower the false hits and lose the guarantee. The device decides *candidate*
when at least ``min_positions`` positions hit.

What each side learns, beyond option (b):
* the device learns which of its chunk values are on the list — about the list, not only about
  its picture: each query probes ``chunks · C(bits, ≤ radius)`` values, so a device can map the
  list's chunk values position by position (list extraction at that rate; ~44,000 values per
  query at 8 chunks, radius 3). It does not learn which list entry a chunk belongs to, nor its
  other chunks;
* a candidate is not a match: the device does not learn the distance (it has only one chunk
  of the listed hash). The outcome is therefore at most a reason for review: candidates go to
  the match policy as *unverified* candidates at the list's threshold, whatever the list's
  trust (:func:`outcome`);
* the server learns the query's size (fixed by the scheme, not by the picture).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vigil.e2ee import encoding
from vigil.e2ee.psi import DEFAULT_FPR, PsiDevice, PsiServer
from vigil.matching.policy import Candidate, ListRef, Outcome, Trust, decide
from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD, SignalType


@dataclass(frozen=True)
class ChunkScheme:
    """How hashes become chunk elements, and when a device calls a picture a candidate."""

    chunks: int = 8
    radius: int = 1
    min_positions: int = 2

    def __post_init__(self) -> None:
        bits = encoding.PDQ_BITS // self.chunks if self.chunks in encoding.CHUNK_COUNTS else 0
        if not bits:
            raise ValueError(f"chunks must be one of {encoding.CHUNK_COUNTS}")
        if not 0 <= self.radius <= min(bits, 4):
            raise ValueError("radius is 0 to 4 bits (and at most the chunk's bits)")
        if not 1 <= self.min_positions <= self.chunks:
            raise ValueError("min_positions is 1 to chunks")

    @property
    def bits(self) -> int:
        return encoding.PDQ_BITS // self.chunks

    def guaranteed(self, threshold: int = PDQ_DEFAULT_THRESHOLD) -> bool:
        """Whether every pair within ``threshold`` shares an element (pigeonhole), and so is a
        candidate (only when ``min_positions`` is 1)."""
        return self.chunks * (self.radius + 1) > threshold and self.min_positions == 1

    @property
    def query_size(self) -> int:
        """Elements per query picture (the same for every picture)."""
        return self.chunks * sum(1 for _ in encoding.neighbours(0, self.bits, self.radius))

    def list_elements(self, pdq_hexes: Sequence[str]) -> list[str]:
        out: list[str] = []
        for h in pdq_hexes:
            out += encoding.list_chunk_elements(h, self.chunks)
        return out

    def query(self, pdq_hex: str) -> tuple[list[str], list[int]]:
        """The query's elements and, for each, its chunk position."""
        elements: list[str] = []
        positions: list[int] = []
        for i, group in enumerate(encoding.query_chunk_elements(pdq_hex, self.chunks,
                                                                self.radius)):
            elements += group
            positions += [i] * len(group)
        return elements, positions


def perceptual_server(scheme: ChunkScheme, pdq_hexes: Sequence[str], *,
                      fpr: float = DEFAULT_FPR, key: bytes | None = None) -> PsiServer:
    """The PSI server over the list's chunk elements (one setup; any query of the scheme)."""
    return PsiServer(scheme.list_elements(pdq_hexes), max_query=scheme.query_size, fpr=fpr,
                     key=key)


@dataclass(frozen=True)
class PerceptualResult:
    positions_hit: int
    candidate: bool


class PerceptualDevice:
    """The device's side: one PSI query per picture."""

    def __init__(self, scheme: ChunkScheme, setup: bytes) -> None:
        self.scheme = scheme
        self._psi = PsiDevice(setup)
        self._positions: list[int] = []

    def ask(self, pdq_hex: str) -> bytes:
        elements, self._positions = self.scheme.query(pdq_hex)
        return self._psi.ask(elements)

    def result(self, response: bytes) -> PerceptualResult:
        hit = {self._positions[i] for i in self._psi.matches(response)}
        return PerceptualResult(len(hit), len(hit) >= self.scheme.min_positions)


def outcome(result: PerceptualResult, hash_list: ListRef) -> Outcome:
    """The match policy's outcome for a perceptual PSI result: a candidate is an *unverified*
    PDQ candidate at the list's threshold (its distance is unknown; see the module's
    docstring), so it is at most a reason for review — never an action."""
    if not result.candidate:
        return decide(())
    ref = ListRef(hash_list.name, Trust.UNVERIFIED, hash_list.pdq_threshold, robust=False)
    return decide([Candidate(f"chunks:{result.positions_hit}", ref, SignalType.PDQ,
                             hash_list.pdq_threshold, label="perceptual PSI candidate")])
