"""The mechanics every lifecycle shares: a table of allowed changes, looked up by event and
status, and the one refusal a change the table does not hold gets.

Each domain's lifecycle (:mod:`vigil.reports.lifecycle`, :mod:`vigil.takedown.referrals.lifecycle`,
:mod:`vigil.indicators.lifecycle`) keeps its own statuses, events, rows and side effects; what is
the same for all of them lives here, once: a row is found by ``(event, source)`` — ``source`` is
None for the event that creates the object —, two rows for one key are refused when the table is
built (the second would silently replace the first), and a change that has no row is a
:class:`~vigil.errors.Conflict` (HTTP 409) saying what the object is, from which statuses the
event is possible, and what was asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import Enum
from typing import Generic, Protocol, TypeVar

from vigil.errors import Conflict


class Row(Protocol):
    """What the table needs of a row: the event, the status it applies to (None: the object is
    created by it) and the status it leads to."""

    @property
    def event(self) -> Enum: ...

    @property
    def source(self) -> Enum | None: ...

    @property
    def target(self) -> Enum: ...


R = TypeVar("R", bound=Row)


def event_words(event: Enum) -> str:
    """An event's value as words: ``"indicator:held_for_review"`` → ``"held for review"``."""
    return str(event.value).rsplit(":", 1)[-1].replace("_", " ")


class TransitionTable(Generic[R]):
    """The allowed changes of one lifecycle, in the order given. Raises ValueError when two
    rows share an ``(event, source)`` key."""

    def __init__(self, rows: Iterable[R]) -> None:
        self.rows: tuple[R, ...] = tuple(rows)
        self._by_key: dict[tuple[Enum, Enum | None], R] = {}
        for row in self.rows:
            key = (row.event, row.source)
            if key in self._by_key:
                raise ValueError(f"two rows for {row.event.value!r} from "
                                 f"{row.source.value if row.source else 'new'!r}")
            self._by_key[key] = row

    def __iter__(self) -> Iterator[R]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def find(self, event: Enum, source: Enum | None) -> R | None:
        """The row for ``event`` from ``source``, or None if the table does not allow it."""
        return self._by_key.get((event, source))

    def sources(self, event: Enum) -> list[Enum | None]:
        """The statuses ``event`` is possible from, in table order (None: creation)."""
        return [row.source for row in self.rows if row.event is event]

    def require(self, event: Enum, source: Enum | None, subject: str,
                **extra: object) -> R:
        """The row for ``event`` from ``source``; raises :class:`~vigil.errors.Conflict`
        naming ``subject`` (``"report 6f1c…"``), its status and the statuses the event is
        possible from; ``extra`` goes into the error's body."""
        row = self.find(event, source)
        if row is not None:
            return row
        names = [s.value if s else "new" for s in self.sources(event)]
        allowed = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        now_is = source.value if source else "new"
        if not names:
            raise Conflict(f"{subject} is {now_is}; it cannot be {event_words(event)}", **extra)
        raise Conflict(f"{subject} is {now_is}, not {allowed} "
                       f"(it cannot be {event_words(event)})", **extra)
