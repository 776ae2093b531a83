"""Reads about victim cases. A case is readable by whoever holds its number and PIN
(:func:`vigil.victims.service.open_case`), and by no organisation: :func:`readable_cases` is
false for every principal — not even the Centre lists cases, it only counts them. Endpoints and
pages never select the cases tables themselves (a test checks their imports)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.orm import Session

from vigil.orgs.access import Principal
from vigil.orgs.models import Organisation
from vigil.reports.models import Report, ReportHash
from vigil.takedown.models import Notice, UrlReport
from vigil.victims.models import CaseHash, VictimCase


def readable_cases(principal: Principal) -> ColumnElement[bool]:
    """No organisation reads victims' cases (the person's number and PIN are the only key)."""
    return false()


def by_number(session: Session, case_number: str) -> VictimCase | None:
    """The case, locked for the rest of the transaction (PIN failures are counted)."""
    return session.scalar(select(VictimCase).where(VictimCase.case_number == case_number)
                          .with_for_update())


def indicator_ids(session: Session, case: VictimCase) -> list[int]:
    return sorted(set(session.scalars(select(CaseHash.indicator_id)
                                      .where(CaseHash.case_id == case.id))))


def other_open_cases_holding(session: Session, case: VictimCase, indicator_id: int) -> int:
    return session.scalar(select(func.count()).select_from(CaseHash).join(
        VictimCase, VictimCase.id == CaseHash.case_id).where(
        CaseHash.indicator_id == indicator_id, VictimCase.id != case.id,
        VictimCase.withdrawn_at.is_(None))) or 0


def matching_reports(session: Session, ids: list[int]) -> list[tuple[str, str, Any]]:
    """(provider name, report status, forwarded at) of every report that matched one of the
    indicators."""
    if not ids:
        return []
    return [(name, status, fwd) for _, name, status, fwd in session.execute(
        select(Report.id, Organisation.name, Report.status, Report.forwarded_at).distinct()
        .join(ReportHash, ReportHash.report_id == Report.id)
        .join(Organisation, Organisation.id == Report.provider_org)
        .where(ReportHash.matched_indicator.in_(ids))).all()]


def notices_for(session: Session, ids: list[int]) -> list[Notice]:
    return list(session.scalars(select(Notice).where(Notice.indicator_id.in_(ids)))) if ids else []


def urls_waiting_for_review(session: Session, ids: list[int]) -> int:
    """URLs the crawler found serving one of the indicators, waiting for an analyst."""
    if not ids:
        return 0
    return session.scalar(select(func.count()).where(
        UrlReport.indicator_id.in_(ids), UrlReport.classification.is_(None))) or 0
