"""``vigil audit verify``: check a server or a database end to end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from vigil.cli._console import err_console, print_error
from vigil.cli._db import load_settings

if TYPE_CHECKING:
    from vigil.translog.audit import HeadStore
    from vigil.translog.sth import SignedTreeHead

app = typer.Typer(help="Audit the log and the indicator database.", no_args_is_help=True)


@app.command("verify")
def verify(
    url: Annotated[str | None, typer.Option(help="Server to audit, e.g. http://127.0.0.1:8000 "
                                            "(with --key).")] = None,
    key: Annotated[str | None, typer.Option(envvar="VIGIL_API_KEY",
                                            help="API key with log:read and indicators:read.")] = None,
    database: Annotated[str | None, typer.Option(help="Database URL to audit directly "
                                                 "(default: VIGIL_DATABASE_URL).")] = None,
    public_key: Annotated[Path | None, typer.Option(
        help="The log's public key (PEM). Default: fetched from the server, or derived from "
             "the signing key in the data directory.")] = None,
    state: Annotated[Path | None, typer.Option(
        help="Where the last verified signed head is kept, per log: the next run proves the log "
             "still contains it (default: ~/.local/state/vigil/audit-heads.json, or "
             "$XDG_STATE_HOME/vigil/...).")] = None,
    no_state: Annotated[bool, typer.Option("--no-state", help="Neither read nor keep a head.")] = False,
) -> None:
    """Signatures, the Merkle tree, that the indicators equal the replay of the log, that the
    audit trail matches its seals, and that the log still contains the head seen last time.
    Exit status 0 when everything checks out, 1 when a problem was found."""
    import os

    from vigil.indicators import log_audit as audit
    from vigil.translog.audit import HeadStore
    from vigil.translog.sth import log_id_of

    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    store = None if no_state else HeadStore(state or base / "vigil" / "audit-heads.json")
    if url:
        if not key:
            raise typer.BadParameter("--url needs --key (or VIGIL_API_KEY)")
        pub = _load_key(public_key) if public_key else _fetch_key(url)
        known = _known(store, [log_id_of(pub), *_fetch_log_ids(url)])
        report = audit.verify_server(url, key, pub, known)
    else:
        from vigil.db import make_engine, session_factory
        from vigil.translog.sth import TreeHeadSigner

        settings = load_settings()
        if public_key:
            pub = _load_key(public_key)
        else:
            pub = TreeHeadSigner.from_file(settings.effective_log_key_path).public_key
        from vigil.translog.repository import log_keys

        engine = make_engine(database or settings.effective_database_url)
        with session_factory(engine)() as session:
            # The head seen last time may be under an earlier key's log id (a rotation).
            ids = [log_id_of(pub), *(k.log_id for k in log_keys(session).keys)]
            known = _known(store, ids)
            report = audit.verify_database(session, pub, known)
        engine.dispose()
    for note in report.notes:
        err_console.print(f"note: {note}", highlight=False)
    for problem in report.problems:
        print_error(f"{problem}", "problem")
    verdict = "[green]OK[/green]" if report.ok else "[red]FAILED[/red]"
    err_console.print(f"{verdict}: {report.entries} log entries, {report.heads_checked} signed "
                      f"heads, {report.indicators_checked} indicators ({report.active} active), "
                      f"{report.audit_events_checked} audit events under {report.seals} seals",
                      markup=True)
    if not report.ok:
        raise typer.Exit(1)
    if store is not None and report.head is not None:
        store.put(report.head)


def _known(store: HeadStore | None, log_ids: list[bytes]) -> SignedTreeHead | None:
    """The largest head seen before under any of the log's ids."""
    if store is None:
        return None
    heads = [h for h in (store.get(i) for i in dict.fromkeys(log_ids)) if h is not None]
    return max(heads, key=lambda h: h.size, default=None)


def _fetch_log_ids(url: str) -> list[bytes]:
    """The log ids of every key the server lists (none from a server without the list)."""
    import base64
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/v1/log/keys", timeout=30) as resp:  # noqa: S310
            return [base64.b64decode(k["log_id"]) for k in json.loads(resp.read())["keys"]]
    except (urllib.error.HTTPError, ValueError, KeyError, TypeError):
        return []


def _load_key(path: Path) -> Ed25519PublicKey:
    key = load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise typer.BadParameter(f"{path}: not an Ed25519 public key")
    return key


def _fetch_key(url: str) -> Ed25519PublicKey:
    import urllib.request

    with urllib.request.urlopen(url.rstrip("/") + "/v1/log/key", timeout=30) as resp:  # noqa: S310
        key = load_pem_public_key(resp.read())
    if not isinstance(key, Ed25519PublicKey):
        raise typer.BadParameter("the server's key is not an Ed25519 public key")
    return key
