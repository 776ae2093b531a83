from __future__ import annotations

import builtins
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vigil.indicators.lifecycle import commitment
from vigil.indicators.models import Indicator
from vigil.matching.policy import Trust, Verdict
from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD, PDQ_MAX_LIST_THRESHOLD


class ListIn(BaseModel):
    # An unknown field is refused: an older client's "kind": "allow" must not quietly make a
    # verified block list.
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64)
    trust: Trust = Field(default=Trust.VERIFIED, description=(
        "verified: entries need two organisations; unverified: self-declared (victims' own "
        "hashes), hits are reviewed before any action; allow: benign look-alikes that "
        "suppress other hits. Fixed once the list exists."))
    pdq_threshold: int = Field(default=PDQ_DEFAULT_THRESHOLD, ge=0, le=PDQ_MAX_LIST_THRESHOLD)
    robust: bool = Field(default=False, description=(
        "whether a query's robust variants (mirrors, trims, turns) may hit this list"))
    description: str = Field(default="", max_length=2000)


class ListUpdate(BaseModel):
    """The threshold and robust matching change; a list's trust never does (an unknown field
    is refused). A field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    pdq_threshold: int | None = Field(default=None, ge=0, le=PDQ_MAX_LIST_THRESHOLD)
    robust: bool | None = None


class ListOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    trust: Trust
    kind: str = Field(description='"allow" or "block" (derived from trust; for older clients)')
    pdq_threshold: int
    robust: bool
    description: str


class ProposalIn(BaseModel):
    signal_type: str = Field(max_length=16)
    value: str = Field(max_length=4_000_000)
    list: str = Field(max_length=64)
    legal_basis: str = Field(max_length=200)
    label: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=200)


class ProposeIn(BaseModel):
    items: list[ProposalIn] = Field(min_length=1, max_length=1000)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class IndicatorOut(BaseModel):
    @classmethod
    def of(cls, ind: Indicator) -> IndicatorOut:
        return cls(
            id=ind.id, list=ind.hash_list.name, signal_type=ind.signal_type, value=ind.value,
            status=ind.status, label=ind.label, legal_basis=ind.legal_basis, source=ind.source,
            proposed_by_org=ind.proposed_by_org, proposer=ind.proposer,
            proposed_at=ind.proposed_at, decided_by_org=ind.decided_by_org,
            decided_at=ind.decided_at, retracted_at=ind.retracted_at,
            retract_reason=ind.retract_reason, salt=ind.salt,
            commitment=commitment(ind.salt, ind.signal_type, ind.value))

    id: int
    list: str
    signal_type: str
    value: str
    status: str
    label: str | None
    legal_basis: str
    source: str | None
    proposed_by_org: int
    proposer: str
    proposed_at: datetime
    decided_by_org: int | None
    decided_at: datetime | None
    retracted_at: datetime | None
    retract_reason: str | None
    salt: str
    commitment: str


#: The most hashes one match call may carry, whatever VIGIL_MATCH_MAX_ITEMS says: checked
#: while the body is read, before anything is validated item by item.
MATCH_HARD_LIMIT = 10_000
#: The most frames a vPDQ query may carry (an hour and a half at one frame a second).
VPDQ_QUERY_FRAMES = 6_000


class MatchItem(BaseModel):
    signal_type: str = Field(max_length=16)
    value: str | list[str] = Field(description=(
        "hex for PDQ and digests; vPDQ as threatexchange's text (a JSON list of "
        "\"<pdq>,<quality>,<timestamp>\") or that list itself"))
    variants: dict[str, Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=32, description=(
        "PDQ only, with `robust: true`: the PDQ of each robust variant of the picture, by "
        "name (rotate90, flip_y, trimmed-border, caption-top, uncrop-2.5, rotate+2, ...; "
        "`vigil hash --robust` prints them)"))

    @field_validator("value")
    @classmethod
    def _bounded(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, str) and len(v) > 100 * VPDQ_QUERY_FRAMES:
            raise ValueError(f"a hash of at most {100 * VPDQ_QUERY_FRAMES} characters")
        if isinstance(v, list) and (len(v) > VPDQ_QUERY_FRAMES or any(len(f) > 100 for f in v)):
            raise ValueError(f"a vPDQ of at most {VPDQ_QUERY_FRAMES} frames")
        return v


class MatchIn(BaseModel):
    items: list[MatchItem] = Field(max_length=MATCH_HARD_LIMIT)
    robust: bool = Field(default=False, description=(
        "robust mode: each PDQ item's `variants` are matched too, and every hit says which "
        "variant found it (`vigil hash --robust` computes them; docs/hashing.md)"))


class HitOut(BaseModel):
    indicator_id: int
    list: str
    trust: Trust = Field(description="the list's trust: only verified hits may be acted on "
                                     "without review")
    signal_type: str
    distance: int | None
    label: str | None
    match_id: str = Field(description="your receipt for this hit: give it with feedback "
                                      "(POST /v1/match/feedback) within 30 days")
    variant: str | None = Field(default=None, description=(
        "robust mode: the variant of the picture that found it (null: the hash as sent)"))


class MatchResult(BaseModel):
    index: int
    verdict: Verdict = Field(description=(
        "verified_match: action without review is allowed; unverified_match: a person must "
        "review before any action; allowed: a benign look-alike (no match); no_match"))
    matches: list[HitOut]
    suppressed_by_allow_list: bool = False


class MatchOut(BaseModel):
    results: list[MatchResult]


class SnapshotEntryOut(BaseModel):
    id: int
    signal_type: str
    value: str
    label: str | None


class ListSnapshotOut(BaseModel):
    """A signed snapshot of a list's active indicators. `signature` covers the canonical JSON
    (sorted keys, no spaces) of every other field, exactly as sent."""

    format: str
    type: str
    list: str
    kind: str
    trust: Trust
    pdq_threshold: int
    seq: int
    generated_at: str = Field(description="ISO 8601, as signed")
    log_size: int = Field(description="The transparency log's size that covers this snapshot: "
                          "accept it under a signed tree head at least this large")
    entries: builtins.list[SnapshotEntryOut]
    signature: str = Field(description="base64 Ed25519 signature by the log's key")


class ListChangeOut(BaseModel):
    seq: int
    action: str
    id: int
    signal_type: str
    value: str
    label: str | None


class ListChangesOut(BaseModel):
    """A signed feed of a list's changes after `since`, signed like a snapshot; `complete` is
    false when more changes follow: ask again from `until`."""

    format: str
    type: str
    list: str
    trust: Trust
    since: int
    until: int
    complete: bool
    log_size: int = Field(description="The transparency log's size that covers these changes: "
                          "accept them under a signed tree head at least this large")
    generated_at: str = Field(description="ISO 8601, as signed")
    changes: builtins.list[ListChangeOut]
    signature: str = Field(description="base64 Ed25519 signature by the log's key")
