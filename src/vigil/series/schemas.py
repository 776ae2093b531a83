from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from vigil.series.models import CaseSeries


class SeriesOut(BaseModel):
    id: int
    reference: str = Field(description="your own case reference (never shown to others)")
    discoverable: bool = Field(description="whether other authorities' queries find it")
    items: int
    created_at: datetime

    @classmethod
    def of(cls, s: CaseSeries) -> SeriesOut:
        return cls(id=s.id, reference=s.reference, discoverable=s.discoverable, items=s.items,
                   created_at=s.created_at)


class ContactOut(BaseModel):
    """An organisation whose discoverable series hold a near-duplicate of one of your items:
    a hit. No counts: the answer is hit / no hit per organisation (decision 0035)."""

    organisation: str = Field(description="the organisation to contact")
    kind: str = Field(description="authority or europol")
    member_state: str | None


class DeconflictionOut(BaseModel):
    series: int
    threshold: int = Field(description="PDQ distance (bits) at which items count as near")
    contacts: list[ContactOut]
    note: str = ("Contact these organisations about the case: their media, hashes, case "
                 "references and how many of their items matched are never shared here.")
