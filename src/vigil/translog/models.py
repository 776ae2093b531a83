from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, UTCDateTime


class LogEntry(Base):
    """One leaf of the log. ``index`` is dense and in commit order (see ``LogState``)."""

    __tablename__ = "log_entries"

    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: What the entry is about ("indicator:42"), to find an indicator's entries and proofs
    #: without reading the log. Not part of the leaf: the log's hashes do not depend on it.
    subject: Mapped[str | None] = mapped_column(String(64), index=True)


class LogState(Base):
    """A single row holding the log's size; appending locks it, so that concurrent
    transactions take consecutive indexes in commit order."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)


class TreeHead(Base):
    """Every tree head the log has signed and served, so that an auditor can check later that
    the history it vouched for was never rewritten."""

    __tablename__ = "tree_heads"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
