"""Every table, imported in one place so that Alembic sees the whole schema."""

from vigil.accountability.models import Alert, Complaint, ComplaintAssessment, IndicatorHits, MatchFeedback
from vigil.audit.models import AuditEvent
from vigil.db import Base
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
from vigil.translog.models import LogEntry, LogState, TreeHead
from vigil.victims.models import CaseHash, VictimCase

__all__ = [
    "Alert",
    "ApiKey",
    "AuditEvent",
    "Base",
    "CaseHash",
    "Complaint",
    "ComplaintAssessment",
    "Crawl",
    "CrawlUrl",
    "HashList",
    "HostingContact",
    "HostingContactProposal",
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
    "PeriodicRun",
    "PreventionEntry",
    "PreventionProposal",
    "PreventionRevision",
    "Question",
    "RecoveryCode",
    "RelatedReport",
    "Report",
    "ReportFile",
    "ReportHash",
    "ReportMatch",
    "ReportSubject",
    "Routing",
    "StaffAccount",
    "TreeHead",
    "UrlReport",
    "VictimCase",
    "WebSession",
]
