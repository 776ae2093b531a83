"""The three lifecycles (reports, referrals, indicators) share one table mechanism
(:mod:`vigil.lifecycle`): every change a table does not hold is refused the same way, before
anything is written, and no table can hold two rows for one change."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pytest

from vigil.errors import Conflict
from vigil.indicators import lifecycle as indicators
from vigil.indicators.models import Indicator
from vigil.lifecycle import TransitionTable
from vigil.reports import lifecycle as reports
from vigil.reports.models import Report
from vigil.takedown.referrals import lifecycle as referrals
from vigil.takedown.referrals.models import Referral

LIFECYCLES: dict[str, tuple[Any, Any, type[StrEnum], type[StrEnum], Any]] = {
    "report": (reports, lambda s: Report(public_id="r-1", _status=s),
               reports.ReportStatus, reports.ReportEvent, "report r-1"),
    "referral": (referrals, lambda s: Referral(public_id="f-1", _status=s),
                 referrals.ReferralStatus, referrals.ReferralEvent, "referral f-1"),
    "indicator": (indicators, lambda s: Indicator(id=7, _status=s),
                  indicators.IndicatorStatus, indicators.IndicatorEvent, "indicator 7"),
}


def _refused(name: str) -> list[tuple[str, StrEnum, StrEnum]]:
    module, _, statuses, events, _ = LIFECYCLES[name]
    return [(name, status, event) for status in statuses for event in events
            if module.TRANSITIONS.find(event, status) is None]


@pytest.mark.parametrize(("name", "status", "event"),
                         [case for name in LIFECYCLES for case in _refused(name)],
                         ids=lambda v: getattr(v, "value", v))
def test_a_change_the_table_does_not_hold_is_refused_before_anything_is_written(
        name: str, status: StrEnum, event: StrEnum) -> None:
    module, make, _, _, subject = LIFECYCLES[name]
    obj = make(status.value)
    # No session at all: the refusal must come before any write.
    with pytest.raises(Conflict) as err:
        module.transition(None, obj, event, None)
    message = err.value.message
    assert message.startswith(f"{subject} is {status.value}")
    assert "cannot be" in message
    assert obj.status == status.value


@pytest.mark.parametrize("name", list(LIFECYCLES))
def test_every_status_is_reachable_from_creation(name: str) -> None:
    module, _, statuses, _, _ = LIFECYCLES[name]
    reached: set[StrEnum] = {row.target for row in module.TRANSITIONS if row.source is None}
    grew = True
    while grew:
        more = {row.target for row in module.TRANSITIONS if row.source in reached}
        grew = not more <= reached
        reached |= more
    assert reached == set(statuses)


@dataclass(frozen=True)
class _Row:
    event: StrEnum
    source: StrEnum | None
    target: StrEnum


class _S(StrEnum):
    A = "a"
    B = "b"


class _E(StrEnum):
    GO = "thing:go_on"


def test_a_table_refuses_two_rows_for_one_change() -> None:
    with pytest.raises(ValueError, match="two rows for 'thing:go_on' from 'a'"):
        TransitionTable([_Row(_E.GO, _S.A, _S.B), _Row(_E.GO, _S.A, _S.A)])


def test_the_refusal_names_where_the_event_is_possible_from() -> None:
    table = TransitionTable([_Row(_E.GO, None, _S.A), _Row(_E.GO, _S.A, _S.B)])
    assert table.require(_E.GO, _S.A, "thing 1").target is _S.B
    with pytest.raises(Conflict, match=r"^thing 1 is b, not new or a \(it cannot be go on\)$"):
        table.require(_E.GO, _S.B, "thing 1")
