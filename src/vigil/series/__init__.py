"""Series linking across cases: an authority registers the hashes of a case's series with the
Centre and learns which other authority holds near-duplicates — a de-confliction answer (whom
to contact, how many items), never the other case's media, hashes or reference. Every query is
audited; each authority decides whether its own series can be found (decision 0024)."""
