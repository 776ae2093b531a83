"""Reports from providers: intake, assessment, jurisdiction, hand-off to authorities."""
