"""Notice and takedown: URL reports from the public and from hotlines, classification, notices
to hosting providers repeated until removal, escalation, re-checks, and proactive search."""
