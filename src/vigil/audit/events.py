from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    """Every audited action, named ``subject:action`` so that it can be searched and counted."""

    ORG_CREATED = "org:created"
    KEY_ISSUED = "key:issued"
    KEY_REVOKED = "key:revoked"
    LIST_CREATED = "list:created"
    LIST_UPDATED = "list:updated"
    LIST_SNAPSHOT_DOWNLOADED = "list:snapshot_downloaded"
    LIST_CHANGES_DOWNLOADED = "list:changes_downloaded"
    INDICATOR_PROPOSED = "indicator:proposed"
    INDICATOR_VERIFIED = "indicator:verified"
    INDICATOR_REJECTED = "indicator:rejected"
    INDICATOR_RETRACTED = "indicator:retracted"
    MATCH_QUERIED = "match:queried"
    REPORT_OPENED = "report:opened"
    REPORT_SUBMITTED = "report:submitted"
    REPORT_FILE_ADDED = "report:file_added"
    REPORT_RETRACTED = "report:retracted"
    REPORT_ASSESSED = "report:assessed"
    REPORT_FORWARDED = "report:forwarded"
    REPORT_READ = "report:read"
    REPORT_FILE_DOWNLOADED = "report:file_downloaded"
    REPORT_ACKNOWLEDGED = "report:acknowledged"
    REPORT_FEEDBACK = "report:feedback"
    REPORT_FILES_DELETED = "report:files_deleted"
    REPORT_REVIEWED = "report:reviewed"
    REPORT_QUESTION_ASKED = "report:question_asked"
    REPORT_QUESTION_ANSWERED = "report:question_answered"
    REPORT_PERSONAL_DATA_DELETED = "report:personal_data_deleted"
