"""Demo data for ``vigil serve --demo``: organisations, keys, lists and indicators made from
generated benign images. The keys are written to ``<data dir>/demo-keys.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.db import transaction
from vigil.indicators import service as indicators
from vigil.indicators.models import HashList
from vigil.matching.hashing import hash_image_bytes
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind
from vigil.samples import encode, pattern_image

DEMO_ORGS = [
    ("EU Centre (demo)", OrgKind.CENTRE, None, "analyst"),
    ("Partner Centre (demo)", OrgKind.PARTNER_CENTRE, None, "reviewer"),
    ("Example Photo Service (demo)", OrgKind.PROVIDER, None, "trust-and-safety"),
    ("Hotline (demo)", OrgKind.HOTLINE, None, "hotline-analyst"),
    ("Landeskriminalamt (demo)", OrgKind.AUTHORITY, "DE", "investigator"),
    ("Europol (demo)", OrgKind.EUROPOL, None, "analyst"),
    ("Oversight Office (demo)", OrgKind.AUDITOR, None, "auditor"),
]


def seed_demo(factory: sessionmaker[Session], data_dir: Path) -> Path:
    """Idempotent: a second run leaves the database as it is and rewrites nothing."""
    out = data_dir / "demo-keys.json"
    with transaction(factory) as s:
        if s.scalar(select(HashList).where(HashList.name == "known-material")) is not None:
            return out
        keys: list[dict[str, Any]] = []
        principals = {}
        for name, kind, state, holder in DEMO_ORGS:
            org = orgs.create_organisation(s, None, name, kind, state)
            issued = orgs.issue_key(s, None, org.id, holder, set(KIND_SCOPES[kind]))
            keys.append({"organisation": name, "kind": kind.value, "holder": holder,
                         "key": issued.token})
            principals[kind] = orgs.authenticate(s, issued.token)
        indicators.create_list(s, None, "known-material", "block", 31,
                               "Verified indicators of known material (demo: benign images)")
        indicators.create_list(s, None, "victim-submitted", "block", 31,
                               "Hashes submitted by victims; review matches before acting")
        indicators.create_list(s, None, "non-material", "allow", 20,
                               "Benign look-alikes: a match here suppresses other matches")
        centre, partner = principals[OrgKind.CENTRE], principals[OrgKind.PARTNER_CENTRE]
        proposals = []
        for seed in range(8):
            h = hash_image_bytes(encode(pattern_image(1000 + seed)))
            proposals.append(indicators.Proposal("pdq", h.pdq, "known-material",
                                                 "demo data", "A1" if seed % 2 else "B1"))
            proposals.append(indicators.Proposal("md5", h.md5, "known-material", "demo data"))
        created = indicators.propose(s, centre, proposals)
        for ind in created[:12]:
            indicators.verify(s, partner, ind.id)  # two organisations: centre proposes, partner verifies
    data_dir.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600)
    out.write_text(json.dumps(keys, indent=2) + "\n")
    return out
