"""Registered case series and their hashes (PDQ only: a video item is its frames' PDQs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class CaseSeries(Base):
    """A series of one case of one authority. ``reference`` is the authority's own case
    reference, shown to it alone; ``discoverable``: whether other authorities' queries find
    it (off until the authority turns it on)."""

    __tablename__ = "case_series"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    reference: Mapped[str] = mapped_column(String(200))
    discoverable: Mapped[bool] = mapped_column(Boolean, default=False)
    items: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Withdrawn: its hashes are deleted; the row stays for the audit trail's subject.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SeriesVersion(Base):
    """One row (``id`` 1): ``token`` is set to a new random number by every change of what the
    de-confliction index holds (a registration, a withdrawal, a change of discoverability), in
    the change's own transaction, so that each server worker rebuilds its index only when it is
    out of date. Random, not a count: a database restored to an earlier state, or a row
    recreated, can never bring back a value a worker has seen with other contents."""

    __tablename__ = "series_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[int] = mapped_column(BigInteger)


class SeriesHash(Base):
    """One PDQ of one item (an image; or a frame of a video) of a series."""

    __tablename__ = "case_series_hashes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("case_series.id"), index=True)
    #: The item's position in the series (0-based): a video's frames share it.
    item: Mapped[int] = mapped_column(Integer)
    pdq: Mapped[str] = mapped_column(String(64))
