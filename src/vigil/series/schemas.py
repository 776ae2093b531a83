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
    organisation: str = Field(description="the organisation to contact")
    kind: str = Field(description="authority or europol")
    member_state: str | None
    your_items: int = Field(description="items of your series with a near-duplicate there")
    their_items: int = Field(description="their items near one of yours")
    their_series: int = Field(description="in how many of their series")


class DeconflictionOut(BaseModel):
    series: int
    threshold: int = Field(description="PDQ distance (bits) at which items count as near")
    contacts: list[ContactOut]
    note: str = ("Contact these organisations about the case: their media, hashes and case "
                 "references are never shared here.")
