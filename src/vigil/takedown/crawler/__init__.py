"""Proactive search: a coordinator that owns the frontier (in the database, so a crawl resumes
after a restart), politeness and matching, and tasks that fetch and hash on a process pool or a
Dask cluster. Media bytes stay inside the task that fetched them; only hashes come back."""
