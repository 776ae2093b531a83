from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class VictimCase(Base):
    """A removal case. No account and no personal data: a random number, the PIN's argon2id
    hash, optionally a country (for helplines) and an age group (for wording)."""

    __tablename__ = "victim_cases"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    age_group: Mapped[str | None] = mapped_column(String(8))  # child | adult
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseHash(Base):
    """A hash of the case, and the indicator that distributes it."""

    __tablename__ = "victim_case_hashes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("victim_cases.id"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # image | video
    #: When this case added it: the case is told only what happened since (another person
    #: may have submitted the same hash before, and their case is theirs alone).
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
