"""Every table, imported in one place so that Alembic sees the whole schema."""

from vigil.accountability.models import Alert, Complaint, ComplaintAssessment, IndicatorHits, MatchFeedback
from vigil.audit.models import AuditEvent
from vigil.db import Base
from vigil.federation.models import Partner, PartnerIndicator, QuarantinedRecord
from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.jobs.models import Job, PeriodicRun
from vigil.orgs.models import ApiKey, Organisation, RecoveryCode, StaffAccount, WebSession
from vigil.prevention.models import PreventionEntry, PreventionProposal, PreventionRevision
from vigil.reports.models import (
    Question,
    RelatedReport,
    Report,
    ReportFile,
    ReportHash,
    ReportMatch,
    ReportSubject,
    Routing,
)
from vigil.series.models import CaseSeries, SeriesHash
from vigil.sharing.models import ExchangeProblem, ExchangeRecord, ExchangeSource
from vigil.takedown.models import (
    Crawl,
    CrawlUrl,
    HostingContact,
    HostingContactProposal,
    Notice,
    NoticeEvent,
    NoticeHash,
    UrlReport,
)
from vigil.takedown.referrals.models import InboundReferral, PartnerHotline, Referral
from vigil.translog.models import LogEntry, LogState, TreeHead
from vigil.victims.models import CaseHash, VictimCase

__all__ = [
    "Alert",
    "ApiKey",
    "AuditEvent",
    "Base",
    "CaseHash",
    "CaseSeries",
    "Complaint",
    "ComplaintAssessment",
    "Crawl",
    "CrawlUrl",
    "ExchangeProblem",
    "ExchangeRecord",
    "ExchangeSource",
    "HashList",
    "HostingContact",
    "HostingContactProposal",
    "InboundReferral",
    "Indicator",
    "IndicatorHits",
    "Job",
    "ListChange",
    "LogEntry",
    "LogState",
    "MatchFeedback",
    "Notice",
    "NoticeEvent",
    "NoticeHash",
    "Organisation",
    "Partner",
    "PartnerHotline",
    "PartnerIndicator",
    "PeriodicRun",
    "PreventionEntry",
    "PreventionProposal",
    "PreventionRevision",
    "QuarantinedRecord",
    "Question",
    "RecoveryCode",
    "Referral",
    "RelatedReport",
    "Report",
    "ReportFile",
    "ReportHash",
    "ReportMatch",
    "ReportSubject",
    "Routing",
    "SeriesHash",
    "StaffAccount",
    "TreeHead",
    "UrlReport",
    "VictimCase",
    "WebSession",
]
