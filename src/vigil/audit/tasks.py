"""The audit trail's periodic work, registered with the job registry: seal the events of the
last while into the transparency log, then sign a tree head. An entry is tamper-evident only
once a signed head covers it, and heads must not wait for someone to ask for one. Run once per
interval across all workers (``jobs/periodic.py``); the seal itself is safe against writers in
flight (``seal.py``)."""

from __future__ import annotations

from typing import Any

from vigil.audit.seal import seal
from vigil.db import transaction
from vigil.jobs.registry import Services, periodic
from vigil.translog.repository import signed_head
from vigil.translog.sth import TreeHeadSigner


@periodic("audit:seal", every=lambda settings: settings.audit_seal_seconds)
def seal_and_sign(services: Services) -> dict[str, Any] | None:
    """Seal what is due (the leaf, or None) and sign a head for the log as it then is."""
    with transaction(services.factory) as s:
        leaf = seal(s)
    sign_head(services)
    return leaf


def sign_head(services: Services) -> int | None:
    """Sign (and store) a head for the log as it is now; returns its size, or None without
    settings (no key)."""
    if services.settings is None:
        return None
    if services.signer is None:
        services.signer = TreeHeadSigner.from_file(services.settings.effective_log_key_path,
                                                   create=True)
    with transaction(services.factory) as s:
        return signed_head(s, services.tree, services.signer).size
