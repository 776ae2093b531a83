"""Who may do what: the one place that decides.

Every API route declares one :class:`Scope`; a key carries a set of scopes; an organisation's
kind bounds which scopes its keys may ever hold (a provider's key can never verify indicators,
whatever it was issued with). Which *reports* an authority may see (issue 4) will be decided
here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, exists, false, true

from vigil.errors import Forbidden


class OrgKind(StrEnum):
    CENTRE = "centre"
    PARTNER_CENTRE = "partner_centre"
    PROVIDER = "provider"
    HOTLINE = "hotline"
    AUTHORITY = "authority"
    EUROPOL = "europol"
    AUDITOR = "auditor"


class Scope(StrEnum):
    ORGS_MANAGE = "orgs:manage"
    LISTS_MANAGE = "lists:manage"
    INDICATORS_PROPOSE = "indicators:propose"
    INDICATORS_REVIEW = "indicators:review"
    INDICATORS_READ = "indicators:read"
    LISTS_DOWNLOAD = "lists:download"
    MATCH = "match"
    LOG_READ = "log:read"
    AUDIT_READ = "audit:read"
    REPORTS_SUBMIT = "reports:submit"
    REPORTS_RECEIVE = "reports:receive"
    REPORTS_REVIEW = "reports:review"
    #: Aggregate figures (queue sizes, reports by status, indicators by list); no content.
    STATS_READ = "stats:read"
    #: Classify reported URLs, run proactive searches, follow notices (analysts, hotlines).
    TAKEDOWN_MANAGE = "takedown:manage"


_ALL = frozenset(Scope)
KIND_SCOPES: dict[OrgKind, frozenset[Scope]] = {
    OrgKind.CENTRE: _ALL,
    OrgKind.PARTNER_CENTRE: frozenset({
        Scope.INDICATORS_PROPOSE, Scope.INDICATORS_REVIEW, Scope.INDICATORS_READ,
        Scope.LISTS_DOWNLOAD, Scope.MATCH, Scope.LOG_READ, Scope.STATS_READ}),
    # (reports:review stays with the Centre: it reads the reports themselves)
    OrgKind.PROVIDER: frozenset({Scope.LISTS_DOWNLOAD, Scope.MATCH, Scope.LOG_READ,
                                 Scope.REPORTS_SUBMIT}),
    OrgKind.HOTLINE: frozenset({Scope.INDICATORS_PROPOSE, Scope.MATCH, Scope.LOG_READ,
                                Scope.REPORTS_SUBMIT, Scope.TAKEDOWN_MANAGE}),
    OrgKind.AUTHORITY: frozenset({Scope.INDICATORS_PROPOSE, Scope.MATCH, Scope.LOG_READ,
                                  Scope.REPORTS_RECEIVE}),
    OrgKind.EUROPOL: frozenset({Scope.INDICATORS_PROPOSE, Scope.MATCH, Scope.LOG_READ,
                                Scope.REPORTS_RECEIVE}),
    OrgKind.AUDITOR: frozenset({Scope.INDICATORS_READ, Scope.LOG_READ, Scope.AUDIT_READ,
                                Scope.STATS_READ}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an API key of an organisation."""

    organisation_id: int
    organisation_name: str
    kind: OrgKind
    member_state: str | None
    key_id: int
    holder: str
    scopes: frozenset[Scope]

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this key lacks the scope {scope.value!r}", scope=scope.value)


def allowed_scopes(kind: OrgKind) -> frozenset[Scope]:
    return KIND_SCOPES[kind]


def check_grant(kind: OrgKind, scopes: set[Scope]) -> None:
    extra = scopes - KIND_SCOPES[kind]
    if extra:
        names = ", ".join(sorted(s.value for s in extra))
        raise Forbidden(f"an organisation of kind {kind.value!r} cannot hold: {names}")


def visible_reports(principal: Principal) -> ColumnElement[bool]:
    """Which reports this caller may see — the one place that decides, used by every report
    query: a provider its own; an authority those routed to its member state; Europol those
    routed to Europol; the Centre all; anyone else none."""
    from vigil.reports.models import Report, Routing

    if principal.kind is OrgKind.CENTRE:
        return true()
    if principal.kind in (OrgKind.PROVIDER, OrgKind.HOTLINE):
        return Report.provider_org == principal.organisation_id
    recipient = None
    if principal.kind is OrgKind.AUTHORITY and principal.member_state:
        recipient = principal.member_state
    elif principal.kind is OrgKind.EUROPOL:
        recipient = "europol"
    if recipient is None:
        return false()
    return exists().where(Routing.report_id == Report.id, Routing.recipient == recipient)


def routing_recipient(principal: Principal) -> str | None:
    """The routing name an authority or Europol receives under."""
    if principal.kind is OrgKind.AUTHORITY:
        return principal.member_state
    if principal.kind is OrgKind.EUROPOL:
        return "europol"
    return None


def visible_url_reports(principal: Principal) -> ColumnElement[bool]:
    """Which reported URLs this caller may see and classify: the Centre all (the public's
    reports come to it); a hotline those it reported; anyone else none."""
    from vigil.takedown.models import UrlReport

    if principal.kind is OrgKind.CENTRE:
        return true()
    if principal.kind is OrgKind.HOTLINE:
        return UrlReport.reporter_org == principal.organisation_id
    return false()


def visible_notices(principal: Principal) -> ColumnElement[bool]:
    """Which takedown notices this caller may see: the Centre all; a hotline those of the URL
    reports it made; an authority those escalated to its member state (the hosting country);
    anyone else none."""
    from vigil.takedown.models import Notice, UrlReport

    if principal.kind is OrgKind.CENTRE:
        return true()
    if principal.kind is OrgKind.HOTLINE:
        return exists().where(UrlReport.id == Notice.url_report_id,
                              UrlReport.reporter_org == principal.organisation_id)
    if principal.kind is OrgKind.AUTHORITY and principal.member_state:
        return (Notice.hosting_country == principal.member_state) & Notice.escalated_at.is_not(None)
    return false()


def own_reports(principal: Principal) -> ColumnElement[bool]:
    """Reports this caller filed: the provider-side routes (add files, finish, retract, answer
    questions) act only on these — the Centre sees every report, but never acts as their
    provider."""
    from vigil.reports.models import Report

    return Report.provider_org == principal.organisation_id
