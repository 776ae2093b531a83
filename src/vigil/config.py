"""Settings, from environment variables prefixed ``VIGIL_`` (and nothing built at import time).

``Settings()`` reads the environment; tests and the CLI pass explicit values instead. Secrets
that have development defaults are refused outside development (``VIGIL_ENVIRONMENT``).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from vigil.egress import EgressPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore")

    #: ``production`` refuses to start without ``VIGIL_FILE_KEY`` and sends the session cookie
    #: over HTTPS only; ``development`` and ``test`` create missing keys in the data directory.
    environment: Literal["development", "test", "production"] = "development"
    #: Where vigil keeps its files: the SQLite database (unless ``VIGIL_DATABASE_URL``), evidence
    #: files (encrypted), generated keys. Created private (mode 0700).
    data_dir: Path = Path("data")
    #: SQLAlchemy URL; default: a SQLite file in the data directory.
    database_url: str | None = None
    #: Ed25519 key (PEM) that signs tree heads, snapshots and deltas; generated if missing.
    log_key_path: Path | None = None
    #: How often each server worker polls the database for indicator changes (seconds).
    index_poll_interval: float = Field(default=0.25, gt=0, le=5)
    #: From this many indicators up, each server worker maps the live index from a file in the
    #: data directory (``live-index.vmx``, written by the first worker that builds it) and
    #: catches up from the change feed: a start takes seconds, and the workers share the
    #: index's memory. Smaller indexes load from the database and keep no file.
    index_file_min: int = Field(default=50_000, ge=1)
    #: A server worker rewrites the index file once it is this many feed changes behind the
    #: worker's index (0: only when first built), so that a restart has little to catch up.
    index_file_resave_changes: int = Field(default=200_000, ge=0)
    #: Largest batch a provider may send to POST /v1/match.
    match_max_items: int = Field(default=1000, gt=0, le=10_000)
    #: List snapshots are built once per list version into ``<data dir>/snapshots``; this
    #: many versions of each list are kept there (older ones are deleted).
    snapshot_versions_kept: int = Field(default=3, ge=1, le=100)
    #: Largest request body accepted, in bytes.
    max_request_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    #: Python logging level of ``vigil serve`` and ``vigil worker`` (``DEBUG``, ``INFO``, ``WARNING``...).
    log_level: str = "INFO"
    #: Log lines on standard error: one JSON object per line ("json"), or "console" (readable
    #: key=value text for a person at a terminal).
    log_format: Literal["json", "console"] = "json"
    #: Reverse proxies (addresses or networks, comma-separated or a JSON list) whose
    #: X-Forwarded-For names the client; none: the socket's peer is the client, whatever a
    #: request's headers say.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Who may read ``/metrics`` (addresses or networks, comma-separated or a JSON list): the
    #: counters tell when people use public routes, so only the Centre's own monitoring.
    metrics_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    #: How long a worker remembers an authenticated key; a revocation takes effect within this.
    auth_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    #: AES-256 key for evidence files, base64. Required in production; elsewhere a key file is
    #: generated in the data directory.
    file_key: str | None = None
    #: Previous file keys (base64, comma-separated or a JSON list): they only decrypt, while
    #: the worker re-encrypts their files with ``file_key`` after a rotation.
    file_keys_old: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Largest single file of a report, in bytes.
    max_file_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    #: Largest upload request to a report's files (all its files together), in bytes.
    max_report_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    #: Most files one report may hold.
    max_files_per_report: int = Field(default=100, gt=0)
    #: Retention: files and personal data of assessed reports are deleted after this many days.
    retention_days_files: int = Field(default=365, gt=0)
    #: Days after which the personal data of an assessed report is deleted (its counts stay).
    retention_days_personal_data: int = Field(default=730, gt=0)
    #: Webhooks for forwarded-report notices: JSON {"DE": "https://...", "europol": "..."};
    #: recipients without one use the pull API.
    webhooks: dict[str, str] = Field(default_factory=dict)
    #: Secret that signs webhook notices (HMAC-SHA256) ...
    webhook_secret: str | None = None
    #: ... or one per recipient (JSON {"DE": "...", "europol": "..."}), preferred.
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
    #: Retention of reports judged manifestly unfounded (shorter: nothing to act on).
    retention_days_unfounded: int = Field(default=90, gt=0)
    #: Workspace sign-in: failures for one username from one address before that address's
    #: attempts for it fail unchecked, and for how long (per source: nobody locks others out).
    login_max_failures: int = Field(default=5, ge=1, le=100)
    #: How long those attempts fail unchecked after ``login_max_failures`` (minutes).
    login_lockout_minutes: int = Field(default=15, ge=1)
    #: A workspace session ends after this long without a request, and after ``..._max_hours``.
    session_idle_minutes: int = Field(default=30, ge=1)
    #: A workspace session ends this long after sign-in, however active (hours).
    session_max_hours: int = Field(default=10, ge=1)
    #: Session cookie only over HTTPS; on by default in production.
    secure_cookies: bool | None = None
    #: Review wellbeing: a break reminder after this many minutes of reviewing, and the
    #: longest edge of a preview in pixels (never the original).
    review_break_minutes: int = Field(default=20, ge=1, le=240)
    #: Longest edge of a review preview, in pixels.
    preview_max_pixels: int = Field(default=224, ge=32, le=640)
    #: Notice and takedown. Notices are repeated every ``notice_resend_hours`` until a re-check
    #: finds the content gone, and escalated to the hosting country's authority after
    #: ``notice_escalate_hours`` (INHOPE's reference point: 2.5 days).
    notice_resend_hours: float = Field(default=24, gt=0)
    #: Hours after the first notice at which an unresolved one is escalated to the authority.
    notice_escalate_hours: float = Field(default=60, gt=0)
    #: While a URL's referral to the partner hotline of its hosting country is on its way or in
    #: the partner's hands (pending, acknowledged, assessed), this Centre's own notice to the
    #: host is held — the hotline in the host's country sends it there, so the host gets one
    #: notice, not two (INHOPE's practice) — for at most this many hours after the referral;
    #: then, or at once if the partner declines or the referral closes, the Centre sends its
    #: own. Re-checks and the escalation to the authority go on meanwhile.
    referral_hold_hours: float = Field(default=48, ge=0, le=24 * 366)
    #: How often ``vigil worker`` looks for notices that are due (seconds).
    takedown_check_seconds: float = Field(default=60, gt=0)
    #: How often ``vigil worker`` asks partner vigils how the referrals it sent them go
    #: (seconds), once across all workers.
    referral_poll_seconds: float = Field(default=900, gt=0)
    #: How often the audit trail is sealed into the log and a tree head signed (seconds), once
    #: across all ``vigil worker`` processes.
    audit_seal_seconds: float = Field(default=60, gt=0)
    #: How often retention runs (seconds), once across all workers.
    retention_seconds: float = Field(default=3600, gt=0)
    #: How often the flood and unusual-use guards run (seconds), once across all workers.
    guard_check_seconds: float = Field(default=60, gt=0)
    #: The SMTP relay that sends takedown notices and escalations; none: no e-mail is sent.
    smtp_host: str | None = None
    #: Its port.
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    #: The notices' From address.
    smtp_sender: str = "notices@vigil.invalid"
    #: Upgrade the SMTP connection with STARTTLS.
    smtp_starttls: bool = False
    #: Where escalations go: {"DE": "mailto:...@..." or "https://..."} per hosting country.
    authority_contacts: dict[str, str] = Field(default_factory=dict)
    #: Fixed addresses for host names (JSON {"host": "address"}); tests use loopback. A host
    #: listed here is pinned: the egress policy lets vigil connect to it at that address.
    resolver_overrides: dict[str, str] = Field(default_factory=dict)
    #: Hosts and networks of the Centre's own services that may be at non-public addresses
    #: (JSON ["smtp.internal", "10.0.5.0/24"]): its SMTP relay, its Dask scheduler. Everything
    #: else vigil connects to must be at a public address (vigil.egress).
    egress_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: A Dask scheduler for crawls ("tcp://host:8786"); none: a local process pool. Chosen by
    #: the Centre here, never by an API caller.
    dask_scheduler: str | None = None
    #: A Dask scheduler for ``vigil scan`` ("tcp://host:8786"); none: a local process pool.
    #: The scanning machine's own setting (``--dask-scheduler`` overrides it); the egress policy
    #: must allow it. Its workers receive the scanned files' bytes.
    scan_dask_scheduler: str | None = None
    #: Series linking across cases: two items of two authorities' series are near-duplicates
    #: within this PDQ distance (bits; vigil.series).
    series_link_threshold: int = Field(default=31, ge=0, le=64)
    #: Misuse guard: series de-confliction queries an organisation may make per UTC day (each
    #: answer, hit / no hit per organisation, tells a bit about another authority's series;
    #: asked without end with edited hashes, it would recover their items); 0: no quota (then
    #: every ask of a series not found is audited, with no daily bound).
    series_queries_per_day: int = Field(default=50, ge=0)
    #: Hashes (a video's frames count one each) an organisation may hold in its series at once:
    #: every server worker keeps every discoverable hash in its de-confliction index, so one
    #: organisation must not be able to fill their memory or make rebuilds slow; withdraw a
    #: series to make room.
    series_hashes_per_organisation: int = Field(default=500_000, gt=0)
    #: Misuse guard: series an organisation may register, withdraw or make (un)discoverable
    #: per UTC day, all together: each change of what is discoverable makes every server worker
    #: rebuild its de-confliction index, and each writes an audit record; 0: no quota.
    series_changes_per_day: int = Field(default=200, ge=0)
    #: Limits of every fetch by a re-check or the crawler.
    fetch_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    #: Seconds a fetch by a re-check or the crawler may take.
    fetch_timeout: float = Field(default=15, gt=0)
    #: URL reports from the public: at most this many per client address per hour.
    public_reports_per_hour: int = Field(default=30, gt=0)
    #: Misuse guard: requests per API key (or workspace account) per minute, across all
    #: server workers (with ``redis_url``); over it, 429 with Retry-After. 0 turns it off.
    key_requests_per_minute: int = Field(default=1200, ge=0)
    #: Misuse guard: hashes a key may match per UTC day (across all server workers, with
    #: ``redis_url``); 0: no quota.
    match_hashes_per_day: int = Field(default=10_000_000, ge=0)
    #: Where rate limits, quotas and the sign-in throttle count ("redis://127.0.0.1:6379/0",
    #: "rediss://...", "redis+unix:///run/redis.sock"): shared by every server worker. None:
    #: in each worker's memory (one worker). Set but unreachable at start: vigil refuses to start.
    redis_url: str | None = None
    #: The address the public reaches this instance at ("https://centre.example.eu"): links
    #: that leave the site (the prevention hub's Atom feed) use it, never the Host header a
    #: caller sent. None: those links are relative to the page they are in.
    public_url: str | None = Field(default=None, max_length=200,
                                   pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")
    #: Prefix of vigil's Redis keys (instances sharing one Redis keep their counts apart).
    redis_key_prefix: str = Field(default="vigil", min_length=1, max_length=64,
                                  pattern=r"^[A-Za-z0-9_.:-]+$")
    #: Quarantine an indicator when this many different organisations report false positives.
    quarantine_false_positive_orgs: int = Field(default=2, ge=1)
    #: How many different indicators one organisation's false positives may help quarantine a
    #: day; beyond that its feedback waits for reviewers (who get an alert).
    quarantine_feedback_per_day: int = Field(default=20, ge=0)
    #: Flood guard: quarantine an indicator whose matches this hour exceed ``flood_factor``
    #: times its average hour of the past week, and at least ``flood_min_hits``.
    flood_factor: float = Field(default=20.0, gt=1)
    #: The flood guard's minimum matches in an hour.
    flood_min_hits: int = Field(default=1000, ge=1)
    #: Unusual use: alert when an organisation's matching, report reading or list downloads in
    #: the last hour exceed this many times its average hour of the past week (and a minimum).
    unusual_use_factor: float = Field(default=10.0, gt=1)
    #: The unusual-use alert's minimum events in an hour.
    unusual_use_min_events: int = Field(default=200, ge=1)
    #: Providers' webhooks for list events a change feed alone would make them wait for
    #: (an upheld complaint) and for their own reports (a delay of the user's notification):
    #: {"Provider name": "https://..."}, each signed with the provider's own secret from
    #: ``provider_webhook_secrets`` (so that no provider can forge another's events), else
    #: with ``webhook_secret``; a provider with neither gets nothing unsigned.
    provider_webhooks: dict[str, str] = Field(default_factory=dict)
    #: Each provider's own webhook secret: {"Provider name": "..."}.
    provider_webhook_secrets: dict[str, str] = Field(default_factory=dict)
    #: Victim cases: new cases and case look-ups (status, add, withdraw) per address per hour.
    victim_cases_per_hour: int = Field(default=10, gt=0)
    #: Case look-ups (status, add, withdraw) per address per hour.
    victim_lookups_per_hour: int = Field(default=60, gt=0)
    #: Where the reporting channel's "leave this page quickly" button goes (in place of the
    #: current page, so that Back does not lead into the channel): a harmless public page.
    quick_exit_url: str = Field(default="https://www.wikipedia.org/", pattern=r"^https://[^\s\"'<>]+$",
                                max_length=500)

    #: Hash-sharing programmes (``vigil exchange import``). NCMEC: which environment of its hash
    #: sharing (threatexchange's names: Industry, NGO, LawEnforcement, test_Industry, ...).
    exchange_ncmec_environment: str = "Industry"
    #: NCMEC's base URL; none: the environment's own (https://report.cybertip.org/...).
    exchange_ncmec_url: str | None = None
    #: NCMEC hash-sharing credentials, "USER:PASSWORD" (or ``--credentials-file``).
    exchange_ncmec_credentials: str | None = None
    #: StopNCII's API base URL; none: https://api.stopncii.org/v1.
    exchange_stopncii_url: str | None = None
    #: StopNCII keys, "FETCH_FUNCTION_KEY,SUBSCRIPTION_KEY" (or ``--credentials-file``).
    exchange_stopncii_keys: str | None = None
    #: Meta ThreatExchange's Graph API base URL; none: threatexchange's (graph.facebook.com).
    exchange_threatexchange_url: str | None = None
    #: ThreatExchange app token, "APP_ID|SECRET" (or ``--credentials-file``).
    exchange_threatexchange_token: str | None = None
    #: The ThreatExchange privacy group whose hashes are imported.
    exchange_threatexchange_privacy_group: int | None = None
    #: Largest answer of a programme's API read (bytes); a larger one stops the import there.
    exchange_max_response_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    #: Largest file ``vigil exchange import`` reads (a threatexchange file, a VICS file), bytes.
    exchange_max_file_bytes: int = Field(default=1024**3, gt=0)
    #: Most records one VICS file may hold.
    exchange_max_records: int = Field(default=10_000_000, gt=0)
    #: A programme's page that cannot be read (it answers, but with something that does not
    #: parse or is over the size limit) at the same checkpoint in this many import runs in a
    #: row is stepped past, so that one bad page never stalls the import for good: the
    #: checkpoint moves on by ``exchange_skip_seconds`` (doubled for each step in a row
    #: without a readable page between) and the window skipped is written down as a problem.
    #: Connection failures and HTTP errors never count: they are retried, never skipped.
    exchange_unreadable_runs: int = Field(default=3, ge=1, le=1000)
    #: How far (seconds of the programme's update time) the first step past an unreadable
    #: page moves the checkpoint.
    exchange_skip_seconds: int = Field(default=3600, ge=1, le=366 * 86400)
    #: Partner centres (vigil.federation): the API key this Centre holds at each partner's
    #: vigil server, by the partner's exact base URL as registered (JSON
    #: {"https://partner.example": "vgl_..."}; lists:download and log:read there). A key is
    #: only ever sent to the URL it is given for, and only once the partner's registration is
    #: approved; a partner without one is not pulled.
    partner_keys: dict[str, str] = Field(default_factory=dict)
    #: How often ``vigil worker`` pulls every partner centre's feed (seconds), once across
    #: all workers.
    federation_sync_seconds: float = Field(default=300, gt=0)

    @field_validator("trusted_proxies", "metrics_allow", "egress_allow", "file_keys_old",
                     mode="before")
    @classmethod
    def _list(cls, v: Any) -> Any:
        """``a,b`` or ``["a", "b"]`` from the environment; a list as it is."""
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a JSON list: {exc.msg}") from None
            return [part.strip() for part in text.split(",") if part.strip()]
        return v

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for item in v:
            if item == "*":  # uvicorn's "every proxy"
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an address or a network") from None
        return v

    @field_validator("database_url")
    @classmethod
    def _no_blank_url(cls, v: str | None) -> str | None:
        return v or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        if not v.startswith(("redis://", "rediss://", "redis+unix://")):
            raise ValueError("a Redis URL starts with redis://, rediss:// or redis+unix:// "
                             "(e.g. redis://127.0.0.1:6379/0)")
        return v

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vigil.db').resolve()}"

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.environment == "production"

    def egress(self) -> EgressPolicy:
        """The egress policy of these settings (:mod:`vigil.egress`)."""
        return EgressPolicy.of(self.resolver_overrides, self.egress_allow)

    @property
    def effective_log_key_path(self) -> Path:
        return self.log_key_path or self.data_dir / "log-signing.key"
