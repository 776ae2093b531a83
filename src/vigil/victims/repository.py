"""Reads about victim cases. A case is readable by whoever holds its number and PIN
(:func:`vigil.victims.service.open_case`), and by no organisation: :func:`readable_cases` is
false for every principal — not even the Centre lists cases, it only counts them. Endpoints and
pages never select the cases tables themselves (a test checks their imports)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.orm import Session

from vigil.indicators.models import Indicator
from vigil.orgs.access import Principal
from vigil.orgs.models import Organisation
from vigil.reports.models import Report, ReportMatch
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


def picture_count(session: Session, case: VictimCase) -> int:
    """How many pictures and videos the case holds: each gave exactly one MD5 (and PDQ and
    SHA-256 beside it), so a person who chose two pictures reads 2, not the 6 hashes."""
    return session.scalar(select(func.count(func.distinct(Indicator.id))).join(
        CaseHash, CaseHash.indicator_id == Indicator.id).where(
        CaseHash.case_id == case.id, Indicator.signal_type == "md5")) or 0


def other_open_cases_holding(session: Session, case: VictimCase, indicator_id: int) -> int:
    return session.scalar(select(func.count()).select_from(CaseHash).join(
        VictimCase, VictimCase.id == CaseHash.case_id).where(
        CaseHash.indicator_id == indicator_id, VictimCase.id != case.id,
        VictimCase.withdrawn_at.is_(None))) or 0


def matching_reports(session: Session, case: VictimCase) -> list[tuple[str, str, Any]]:
    """(provider name, report status, forwarded at) of every report whose content matched one
    of this case's hashes *after the case added it*: the same hash may be another person's
    too, and what happened before this case asked is not this case's to know."""
    rows = session.execute(
        select(Report.id, Organisation.name, Report.status, Report.forwarded_at).distinct()
        .join(ReportMatch, ReportMatch.report_id == Report.id)
        .join(CaseHash, (CaseHash.indicator_id == ReportMatch.indicator_id)
              & (CaseHash.case_id == case.id))
        .join(Organisation, Organisation.id == Report.provider_org)
        .where(Report.assessed_at >= CaseHash.added_at)).all()
    return [(name, status, fwd) for _, name, status, fwd in rows]


def notices_for(session: Session, case: VictimCase) -> list[Notice]:
    """Notices opened for this case's hashes since the case added them."""
    return list(session.scalars(
        select(Notice).distinct()
        .join(CaseHash, (CaseHash.indicator_id == Notice.indicator_id) & (CaseHash.case_id == case.id))
        .where(Notice.opened_at >= CaseHash.added_at)))


def urls_waiting_for_review(session: Session, case: VictimCase) -> int:
    """URLs the crawler found serving this case's hashes since it added them, waiting for an
    analyst."""
    return session.scalar(
        select(func.count(func.distinct(UrlReport.id)))
        .join(CaseHash, (CaseHash.indicator_id == UrlReport.indicator_id) & (CaseHash.case_id == case.id))
        .where(UrlReport.classification.is_(None), UrlReport.created_at >= CaseHash.added_at)) or 0
