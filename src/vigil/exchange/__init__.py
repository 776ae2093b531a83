"""Exchange with hash-sharing programmes (NCMEC, StopNCII, Meta ThreatExchange, local files)
and Project VIC's VICS files: imports into a list with checkpoints, exports in each format."""
