"""The match policy: the one place where hashes become hits, used by every path that matches
(``POST /v1/match``, report assessment, the crawler, notice re-checks, ``vigil match``).

A *list* has a trust level, and every hit carries its list's:

``verified``    two organisations looked at the material and confirmed it (the Centre's
                two-organisation rule). Only these hits may lead to action without a person's
                review.
``unverified``  self-declared: hashes a victim made on their own device, which nobody at the
                Centre has seen. A hit is a reason for review, never for action.
``allow``       benign look-alikes. A hit on an allow list suppresses every other hit of the
                same item: the item is treated as not matching at all.

An *item* is one thing being matched — a file, a piece of content, one hash a provider sent —
with every signal computed from it (MD5, SHA-256, PDQ and its dihedral variants, vPDQ).
:func:`match_items` asks a :class:`CandidateSource` (the server's live index, or a list file
loaded by ``vigil match``) for the raw candidates of every signal, with one batched PDQ query,
and :func:`decide` turns each item's candidates into an :class:`Outcome`:

1. PDQ candidates farther than their own list's threshold are dropped (per-list thresholds;
   vPDQ applies the list's threshold frame by frame inside the source), and so are those
   found through a variant of the query (robust mode, dihedral) on a list that takes none
   (:attr:`ListRef.robust`);
2. one candidate per indicator and list, the closest (and which variant found it);
3. any allow-list hit → ``allowed`` (and ``suppressed`` when block hits were dropped for it).
   An allow hit found only through a rotated or mirrored variant of the query suppresses only
   the hits found through that same variant: it says the *rotated* picture is a known
   look-alike, not the picture itself;
4. otherwise a verified hit → ``verified_match``; else an unverified hit →
   ``unverified_match``; else ``no_match``.

Retracted and quarantined indicators never reach the policy: a source holds exactly the active
indicators (the server's index follows the list-change feed, which ``vigil audit verify`` checks
against the log; a list file holds what its snapshot distributed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD, SignalType, VpdqHash


class Trust(StrEnum):
    """How far a list's entries may be relied on (see the module's docstring)."""

    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    ALLOW = "allow"

    @classmethod
    def parse(cls, name: str) -> Trust:
        try:
            return cls(name.strip().lower())
        except ValueError:
            known = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown trust level {name!r} (known: {known})") from None


class Verdict(StrEnum):
    """What one item's match means for whoever acts on it."""

    #: A verified list matched: action without review is allowed.
    VERIFIED = "verified_match"
    #: Only unverified lists matched: a person reviews before anything is done.
    UNVERIFIED = "unverified_match"
    #: An allow list matched (a benign look-alike): treated as no match.
    ALLOWED = "allowed"
    NONE = "no_match"


@dataclass(frozen=True, slots=True)
class ListRef:
    """A list as the policy sees it."""

    name: str
    trust: Trust
    pdq_threshold: int = PDQ_DEFAULT_THRESHOLD
    #: Whether hits through a query's variants (robust mode, dihedral) count on this list.
    robust: bool = True


@dataclass(frozen=True, slots=True)
class Candidate:
    """A raw hit from a source, before the policy.

    ``key``: the indicator id (server) or the list entry's id (file). ``distance``: PDQ bits, 0
    for exact digests, None for vPDQ (see the percentages). ``variant``: which dihedral variant
    of the query found it (None: the query as given)."""

    key: int | str
    list: ListRef
    signal_type: SignalType
    distance: int | None
    label: str | None = None
    variant: str | None = None
    query_match_percent: float | None = None
    target_match_percent: float | None = None

    @property
    def trust(self) -> Trust:
        return self.list.trust


@dataclass(frozen=True)
class Outcome:
    """One item's result: its verdict, the hits that stand (verified first, then by distance),
    and the allow-list hits that decided ``allowed``."""

    verdict: Verdict
    hits: tuple[Candidate, ...] = ()
    allow_hits: tuple[Candidate, ...] = ()
    #: Block-list hits existed but an allow list suppressed them.
    suppressed: bool = False

    @property
    def trust(self) -> Trust | None:
        """The strongest trust among the hits that stand (None: nothing stands)."""
        return self.hits[0].trust if self.hits else None

    @property
    def requires_review(self) -> bool:
        """True when a person must look before anything is done about this item."""
        return self.verdict is Verdict.UNVERIFIED

    @property
    def may_act(self) -> bool:
        """True only for verified matches: the one case where action needs no review."""
        return self.verdict is Verdict.VERIFIED


_TRUST_ORDER = {Trust.VERIFIED: 0, Trust.UNVERIFIED: 1, Trust.ALLOW: 2}


def decide(candidates: Iterable[Candidate]) -> Outcome:
    """Apply the policy to every candidate of one item (the module's docstring has the rules)."""
    # The closest candidate per entry *and variant*: an allow hit through one variant
    # suppresses only the block hits through that variant, so a block hit through another
    # (the query as given, say) must not be hidden behind a closer one that is suppressed.
    best: dict[tuple[str, int | str, str | None], Candidate] = {}
    for c in candidates:
        if c.signal_type is SignalType.PDQ and (c.distance is None
                                               or c.distance > c.list.pdq_threshold):
            continue
        if c.variant not in _AS_GIVEN and not c.list.robust:
            continue  # the list was not opted in to robust matching
        k = (c.list.name, c.key, None if c.variant in _AS_GIVEN else c.variant)
        old = best.get(k)
        if old is None or (c.distance or 0) < (old.distance or 0):
            best[k] = c
    allow_all = [c for c in best.values() if c.trust is Trust.ALLOW]
    allow = _closest_per_entry(allow_all)
    block = [c for c in best.values() if c.trust is not Trust.ALLOW]
    blocked_entries = {(c.list.name, c.key) for c in block}
    if any(a.variant in _AS_GIVEN for a in allow_all):
        return Outcome(Verdict.ALLOWED, (), allow, suppressed=bool(block))
    variants = {a.variant for a in allow_all}
    standing = _closest_per_entry(b for b in block if b.variant not in variants)
    if not standing:
        return Outcome(Verdict.ALLOWED if allow else Verdict.NONE, (), allow,
                       suppressed=bool(block))
    verdict = Verdict.VERIFIED if standing[0].trust is Trust.VERIFIED else Verdict.UNVERIFIED
    return Outcome(verdict, standing, allow,
                   suppressed=len(standing) < len(blocked_entries))


def _closest_per_entry(candidates: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """One candidate per (list, entry), the closest, in the policy's order (verified first,
    then by distance)."""
    best: dict[tuple[str, int | str], Candidate] = {}
    for c in candidates:
        old = best.get((c.list.name, c.key))
        if old is None or (c.distance or 0) < (old.distance or 0) or (
                c.distance == old.distance and c.variant in _AS_GIVEN):
            best[c.list.name, c.key] = c
    return tuple(sorted(best.values(), key=lambda c: (_TRUST_ORDER[c.trust], c.distance or 0,
                                                      c.list.name, str(c.key))))


#: Variants that stand for the query as given (digests have none; "original" is the untransformed
#: member of the dihedral set).
_AS_GIVEN = (None, "original")


@dataclass(frozen=True)
class Signal:
    """One hash of an item. ``value``: hex (PDQ, digests) or a parsed vPDQ; ``variant``: the
    dihedral transformation a PDQ was computed after (None: the picture as stored)."""

    signal_type: SignalType
    value: str | VpdqHash
    variant: str | None = None


@dataclass(frozen=True)
class Item:
    """Everything computed from one thing being matched."""

    signals: tuple[Signal, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, *signals: tuple[SignalType, str | VpdqHash | None]) -> Item:
        """An item from (type, value) pairs; ``None`` values are skipped."""
        return cls(tuple(Signal(st, v) for st, v in signals if v is not None))


class CandidateSource(Protocol):
    """Something to match against: the server's live index or a loaded list file. It returns
    every candidate that could pass the policy — PDQ within the largest threshold of any of its
    lists — and leaves the rules to :func:`decide`."""

    def pdq_candidates(self, hexes: Sequence[str]) -> list[list[Candidate]]: ...

    def digest_candidates(self, signal_type: SignalType, hex_value: str) -> list[Candidate]: ...

    def vpdq_candidates(self, video: VpdqHash) -> list[Candidate]: ...


class Sources:
    """Several sources as one (``vigil match --list A --allow-list B``)."""

    def __init__(self, sources: Sequence[CandidateSource]) -> None:
        self.sources = list(sources)

    def pdq_candidates(self, hexes: Sequence[str]) -> list[list[Candidate]]:
        out: list[list[Candidate]] = [[] for _ in hexes]
        for src in self.sources:
            for acc, found in zip(out, src.pdq_candidates(hexes), strict=True):
                acc += found
        return out

    def digest_candidates(self, signal_type: SignalType, hex_value: str) -> list[Candidate]:
        return [c for src in self.sources for c in src.digest_candidates(signal_type, hex_value)]

    def vpdq_candidates(self, video: VpdqHash) -> list[Candidate]:
        return [c for src in self.sources for c in src.vpdq_candidates(video)]


def match_items(source: CandidateSource, items: Sequence[Item]) -> list[Outcome]:
    """The outcome of every item, in order: the only way any path turns hashes into hits."""
    pdq_at: list[tuple[int, str | None]] = []
    pdq_hexes: list[str] = []
    found: list[list[Candidate]] = [[] for _ in items]
    for i, item in enumerate(items):
        for s in item.signals:
            if s.signal_type is SignalType.PDQ:
                assert isinstance(s.value, str)
                pdq_at.append((i, s.variant))
                pdq_hexes.append(s.value)
            elif s.signal_type is SignalType.VPDQ:
                assert isinstance(s.value, VpdqHash)
                cands = source.vpdq_candidates(s.value)
                found[i] += cands if s.variant is None else [
                    dataclasses.replace(c, variant=s.variant) for c in cands]
            else:
                assert isinstance(s.value, str)
                found[i] += source.digest_candidates(s.signal_type, s.value)
    if pdq_hexes:
        for (i, variant), cands in zip(pdq_at, source.pdq_candidates(pdq_hexes), strict=True):
            if variant is None:
                found[i] += cands
            else:
                found[i] += [Candidate(c.key, c.list, c.signal_type, c.distance, c.label, variant)
                             for c in cands]
    return [decide(c) for c in found]
