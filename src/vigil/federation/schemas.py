"""What the partner-centre API takes and answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vigil.federation.models import Partner, QuarantinedRecord


class PartnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200,
                      description="The partner centre's organisation here (it must exist, as a "
                                  "partner centre)")
    url: str = Field(min_length=1, max_length=2000, description="Its vigil server, http(s)")
    log_key: str = Field(min_length=1, max_length=4096,
                         description="Its log key: PEM, or the raw 32 bytes as hex or base64")
    remote_list: str = Field(min_length=1, max_length=64, description="Its list to import")
    local_list: str | None = Field(None, min_length=1, max_length=64,
                                   description="The local list (default: the remote list's name)")
    origin_verification_counts: bool = Field(
        False, description="The agreement: its verified list's indicators enter active here")


class PartnerOut(BaseModel):
    id: int
    name: str
    url: str
    remote_list: str
    local_list_id: int
    origin_verification_counts: bool
    seq: int | None = Field(description="The partner's feed position imported up to")
    trusted_head_size: int | None = Field(description="The size of its last trusted tree head")
    imported: int
    last_success_at: datetime | None
    last_error: str | None
    failures: int

    @classmethod
    def of(cls, p: Partner, imported: int, head_size: int | None) -> PartnerOut:
        return cls(id=p.id, name=p.name, url=p.url, remote_list=p.remote_list,
                   local_list_id=p.local_list_id,
                   origin_verification_counts=p.origin_verification_counts, seq=p.seq,
                   trusted_head_size=head_size, imported=imported,
                   last_success_at=p.last_success_at, last_error=p.last_error,
                   failures=p.failures)


class QuarantinedOut(BaseModel):
    id: int
    partner_id: int
    origin_seq: int | None
    origin_id: int | None
    reason: str
    record: str = Field(description="The record as received (at most 2,000 characters)")
    at: datetime

    @classmethod
    def of(cls, q: QuarantinedRecord) -> QuarantinedOut:
        return cls(id=q.id, partner_id=q.partner_id, origin_seq=q.origin_seq,
                   origin_id=q.origin_id, reason=q.reason, record=q.record, at=q.at)
