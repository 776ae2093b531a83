"""The prevention hub's entry format (in and out of the API, the seed file and proposals).

An entry is a **programme** (target groups, how to reach it anonymously, its evaluation:
design, outcome, strength of evidence and the evaluation's source), a **resource** (training
or campaign material with its licence, for adaptation) or a **working group** (members and
outputs). Every entry names the public page it was read from and when: the hub carries no
entry presented as real without one. Limits are checked by pydantic before anything else.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from vigil.errors import control_character

KINDS = ("programme", "resource", "working_group")
Kind = Literal["programme", "resource", "working_group"]
#: Target groups of the 2020 strategy's prevention initiative.
TARGETS = ("may_offend", "offended", "children", "parents", "professionals")
Target = Literal["may_offend", "offended", "children", "parents", "professionals"]
#: Evaluation designs, from the strongest to none at all.
DESIGNS = ("rct", "quasi_experimental", "pre_post", "qualitative", "descriptive", "none")
Design = Literal["rct", "quasi_experimental", "pre_post", "qualitative", "descriptive", "none"]
Strength = Literal["strong", "moderate", "limited", "none"]
_HTTPS = r"^https://[^\s<>\"']{4,490}$"
_CODE = r"^([A-Z]{2}|EU|INT)$"
_LANG = r"^[a-z]{2}$"


def _no_control(value: str | list[str] | None, info: ValidationInfo) -> str | list[str] | None:
    """Free text keeps tab and line breaks but no other control character: one (U+000B, say)
    would make the Atom feed ill-formed XML for every reader, a NUL could not be stored. Refused
    when proposed (a 422 naming the field), not when published."""
    for text in [value] if isinstance(value, str) else value or []:
        found = control_character(text, line_breaks=True)
        if found is not None:
            raise ValueError(f"{info.field_name} may not contain the control character {found} "
                             "(only tab and line breaks)")
    return value


class Source(BaseModel):
    """Where the entry's facts were read: a public page, the day it was read, and how."""

    model_config = ConfigDict(extra="forbid")
    #: http is accepted for a source (some public pages were read over plain http).
    url: str = Field(pattern=r"^https?://[^\s<>\"']{4,490}$")
    read: date
    how: str | None = Field(default=None, max_length=100)

    _text = field_validator("url", "how")(_no_control)


class Evaluation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    design: Design
    outcome: str = Field(min_length=1, max_length=2000)
    strength: Strength
    source: str | None = Field(default=None, pattern=_HTTPS)

    _text = field_validator("outcome", "source")(_no_control)


class EntryIn(BaseModel):
    """A programme, resource or working group as proposed (or seeded)."""

    model_config = ConfigDict(extra="forbid")
    kind: Kind
    title: str = Field(min_length=3, max_length=300)
    summary: str = Field(min_length=10, max_length=4000)
    country: str = Field(pattern=_CODE, description="ISO 3166 code, EU or INT")
    languages: list[str] = Field(min_length=1, max_length=24)
    targets: list[Target] = Field(default_factory=list, max_length=5)
    url: str | None = Field(default=None, pattern=_HTTPS)
    contact: str | None = Field(default=None, max_length=500)
    anonymous: str | None = Field(default=None, max_length=1000,
                                  description="how to reach it without giving one's name")
    evaluation: Evaluation | None = None
    licence: str | None = Field(default=None, max_length=100)
    members: list[str] = Field(default_factory=list, max_length=100)
    outputs: list[str] = Field(default_factory=list, max_length=100)
    source: Source

    _text = field_validator("title", "summary", "url", "contact", "anonymous", "licence",
                            "members", "outputs")(_no_control)

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        import re

        for code in value:
            if not re.fullmatch(_LANG, code):
                raise ValueError(f"{code!r} is not an ISO 639-1 language code (two letters)")
        return sorted(set(value))

    @field_validator("members", "outputs")
    @classmethod
    def _short_items(cls, value: list[str]) -> list[str]:
        for item in value:
            if not 1 <= len(item) <= 300:
                raise ValueError("each member or output is 1-300 characters")
        return value


class HistoryOut(BaseModel):
    version: int
    action: str
    at: datetime


class EntryOut(EntryIn):
    id: str
    version: int
    published_at: datetime
    updated_at: datetime


class EntryPage(BaseModel):
    items: list[EntryOut]
    total: int
    search: str = Field(description="how the text was searched: postgresql, fts5 or none")


class EntryDetailOut(EntryOut):
    history: list[HistoryOut]


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry: EntryIn
    replaces: str | None = Field(default=None, max_length=64,
                                 description="the id of the published entry this changes")

    _text = field_validator("replaces")(_no_control)


class ProposalOut(BaseModel):
    id: str
    status: str
    replaces: str | None
    entry: EntryIn
    proposed_at: datetime
    decided_at: datetime | None
    reason: str | None
    published_as: str | None = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["publish", "reject"]
    reason: str = Field(default="", max_length=2000)

    _text = field_validator("reason")(_no_control)


class HelplineOut(BaseModel):
    country: str
    name: str
    phone: str
    audience: str
    url: str | None
    chat: str | None
    always_open: bool
    hours: list[dict[str, object]] | None
    source_url: str
    source_read: date
