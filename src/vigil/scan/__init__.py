"""Forensic triage of seized media (``vigil scan``): read folders, files, archives and disk
images without extracting anything to disk, type and hash every file with the matching core,
match the hashes against hash sets through the one match policy, stack duplicates, group
near-duplicate unknown media into likely series, and write the results.

A core library like :mod:`vigil.matching`: no web framework, no ORM, no database. Its modules:

``sources``    what is read: folders, files, zip/tar archives (streamed), raw and E01 disk
               images (pytsk3, pyewf); every member a path (``a.zip!/inner/x.jpg``) and its
               bytes, or a per-member error (bombs, traversal names, nesting, truncation)
``work``       what a worker does with one member: typed content and hashes, SHA-1 for VICS,
               a reduced blurred thumbnail
``run``        the scan: enumerate, hash on a process pool or a Dask cluster, match, journal
               with a resumable checkpoint
``groups``     duplicate stacks (MD5; PDQ within a threshold) and near-duplicate series
               (single linkage over PDQ radius queries)
``results``    results.jsonl, results.csv, vics.json and report.html
"""
