"""Demo data for ``vigil serve --demo``: organisations, keys, workspace accounts, lists,
indicators and a few reports, all made from generated benign images. The keys and the
accounts' passwords (and second factors) are written to ``<data dir>/demo-keys.json`` (readable
by its owner only): ``{"keys": [...], "accounts": [...]}``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import now
from vigil.config import Settings
from vigil.db import private_dir, transaction
from vigil.indicators import service as indicators
from vigil.indicators.models import HashList
from vigil.matching.hashing import hash_image_bytes
from vigil.orgs import accounts as staff
from vigil.orgs import second_factor
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind, Principal
from vigil.orgs.models import StaffAccount
from vigil.prevention import service as prevention
from vigil.reports import service as reports
from vigil.reports.schemas import FileMeta, ReportIn
from vigil.reports.storage import FileStore, load_file_keys
from vigil.samples import DEMO_LISTED_SCENES, demo_original, encode, pattern_image
from vigil.worker import Worker

DEMO_ORGS = [
    ("EU Centre (demo)", OrgKind.CENTRE, None, "analyst"),
    ("Partner Centre (demo)", OrgKind.PARTNER_CENTRE, None, "reviewer"),
    ("Example Photo Service (demo)", OrgKind.PROVIDER, None, "trust-and-safety"),
    ("Hotline (demo)", OrgKind.HOTLINE, None, "hotline-analyst"),
    ("Landeskriminalamt (demo)", OrgKind.AUTHORITY, "DE", "investigator"),
    ("Europol (demo)", OrgKind.EUROPOL, None, "analyst"),
    ("Oversight Office (demo)", OrgKind.AUDITOR, None, "auditor"),
]


#: Workspace accounts: (username, organisation kind, role, language).
DEMO_ACCOUNTS = [
    ("reviewer", OrgKind.CENTRE, "reviewer", "en"),
    ("partner-reviewer", OrgKind.PARTNER_CENTRE, "reviewer", "en"),
    ("officer-de", OrgKind.AUTHORITY, "officer", "de"),
    ("europol-officer", OrgKind.EUROPOL, "officer", "en"),
    ("auditor", OrgKind.AUDITOR, "auditor", "en"),
]
DE_IP = "193.99.144.80"  # a German address in the offline IP-to-country data
#: Scenes on the demo's known-material list: first the ones `vigil demo` lists too (the same
#: files, from :func:`vigil.samples.demo_original`), then others; the first six are verified.
DEMO_SCENES = (*DEMO_LISTED_SCENES, 1003, 1004, 1005, 1006, 1007)


def _enrol_demo(session: Session, account: StaffAccount) -> dict[str, Any]:
    """A demo account whose role needs a second factor comes enrolled: its secret (for an
    authenticator app, or to compute a code) and recovery codes go to demo-keys.json."""
    secret = second_factor.new_secret()
    account.totp_secret = secret
    account.totp_enrolled_at = now()
    return {"totp_secret": secret, "totp_uri": second_factor.provisioning_uri(account, secret),
            "recovery_codes": second_factor.new_recovery_codes(session, account)}


def seed_demo(factory: sessionmaker[Session], data_dir: Path, settings: Settings | None = None) -> Path:
    """Idempotent: a second run leaves the database as it is and rewrites nothing."""
    out = data_dir / "demo-keys.json"
    if settings is not None:
        # The accounts' second-factor secrets are personal data, sealed with the file key.
        load_file_keys(settings)
    accounts: list[dict[str, Any]] = []
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
        # Set up by the operator: the founding organisations, approved from the start (an
        # organisation the Centre adds later through the API waits for a second party).
        indicators.create_list(s, None, "known-material", "verified", 31,
                               "Verified indicators of known material (demo: benign images)",
                               robust=True)
        indicators.create_list(s, None, "victim-submitted", "unverified", 31,
                               "Hashes submitted by victims; review matches before acting")
        indicators.create_list(s, None, "non-material", "allow", 20,
                               "Benign look-alikes: a match here suppresses other matches",
                               robust=True)
        centre, partner = principals[OrgKind.CENTRE], principals[OrgKind.PARTNER_CENTRE]
        proposals = []
        # The scenes `vigil demo` lists (0-2, as PNG) come first, so that the README's tour
        # matches its edited copies against the server's signed snapshot; then other scenes.
        for seed in DEMO_SCENES:
            data = demo_original(seed) if seed in DEMO_LISTED_SCENES else encode(pattern_image(seed))
            h = hash_image_bytes(data)
            proposals.append(indicators.Proposal("pdq", h.pdq, "known-material",
                                                 "demo data", "A1" if seed % 2 else "B1"))
            proposals.append(indicators.Proposal("md5", h.md5, "known-material", "demo data"))
        created = indicators.propose(s, centre, proposals)
        for ind in created[:12]:
            indicators.verify(s, partner, ind.id)  # two organisations: centre proposes, partner verifies
        prevention.seed(s)  # the prevention hub's public sources
        orgs_by_kind = {p.kind: p.organisation_id for p in principals.values()}
        for username, kind, role, locale in DEMO_ACCOUNTS:
            made = staff.create_account(s, None, orgs_by_kind[kind], username, role,
                                        display_name=username.replace("-", " ").title(),
                                        locale=locale)
            entry = {"username": username, "password": made.password, "role": role,
                     "organisation": made.account.api_key.organisation.name,
                     "kind": kind.value}
            if second_factor.requires_second_factor(made.account):
                entry.update(_enrol_demo(s, made.account))
            accounts.append(entry)
    if settings is not None:
        seed_reports(factory, settings, principals[OrgKind.PROVIDER])
    private_dir(data_dir)
    out.touch(mode=0o600)
    out.write_text(json.dumps({"keys": keys, "accounts": accounts}, indent=2) + "\n")
    return out


def seed_reports(factory: sessionmaker[Session], settings: Settings, provider: Principal,
                 count: int = 4) -> list[str]:
    """Reports of new (benign, generated) material from a provider, one of them urgent, each
    with two image files, assessed by the worker: they wait in the review queue and reach the
    German authority's and Europol's inboxes."""
    store = FileStore.for_settings(settings)
    ids = []
    for n in range(count):
        body = ReportIn.model_validate({
            "incident_at": "2026-11-01T10:00:00Z", "concerns": "new_material",
            "legal_basis": "Regulation (EU) 2024/1307 (demo)", "content_removed": True,
            "urgent": n == 0, "urgent_reason": "demo: marked urgent" if n == 0 else None,
            "incident_type": "file upload", "complete": False,
            "users": [{"user_ids": [f"demo-user-{n}"], "ips": [{"ip": DE_IP,
                                                                "at": "2026-11-01T09:59:00Z"}]}]})
        with transaction(factory) as s:
            report, _ = reports.submit(s, provider, body, f"demo-{n}")
            for i in range(2):
                data = encode(pattern_image(5000 + n * 10 + i, (480, 360)))
                reports.add_file(s, provider, report.public_id, f"upload-{i + 1}.jpg", data,
                                 FileMeta(), store, settings.max_file_bytes,
                                 settings.max_report_bytes, settings.max_files_per_report)
            reports.finish(s, provider, report.public_id)
            ids.append(report.public_id)
    Worker(factory, factory, settings=settings, store=store).run_once()
    return ids
