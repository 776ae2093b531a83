"""The web workspace: server-rendered pages for the Centre's reviewers, the authorities and
the auditors, on the same services as the API (no logic of its own beyond presentation)."""
