"""``create_app(settings)``: the Centre's HTTP service.

Everything the app needs (engine, sessions, the live match index, the log's tree cache and
signing key, metrics) is built here from ``Settings`` and kept on ``app.state.vigil``; nothing
is created at import time.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi import params as fastapi_params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from vigil.accountability.endpoints import router as accountability_router
from vigil.accountability.flood import HitCounter
from vigil.audit.endpoints import router as audit_router
from vigil.audit.log_endpoints import router as log_router
from vigil.config import Settings
from vigil.db import Unstorable, make_engine, private_dir, session_factory
from vigil.deps import PrincipalCache
from vigil.errors import (
    ERROR_RESPONSES,
    DomainError,
    Forbidden,
    IndexLoading,
    Invalid,
    NotFound,
    TooLarge,
    Unavailable,
)
from vigil.federation.endpoints import router as federation_router
from vigil.indicators import receipts
from vigil.indicators.endpoints import router as indicators_router
from vigil.indicators.matcher import LOADING_RETRY_AFTER, LiveMatcher
from vigil.indicators.models import ListChange
from vigil.jobs.metrics import QueueCollector
from vigil.logs import get_logger
from vigil.orgs import accounts
from vigil.orgs.endpoints import router as orgs_router
from vigil.prevention.endpoints import router as prevention_router
from vigil.ratelimit import LimitStore, LimitStoreUnreachable
from vigil.reports.endpoints import router as reports_router
from vigil.reports.storage import FileStore
from vigil.series.endpoints import router as series_router
from vigil.series.service import DiscoverableIndex
from vigil.takedown.endpoints import router as takedown_router
from vigil.takedown.referrals.endpoints import router as referrals_router
from vigil.takedown.referrals.service import MAX_UPDATE_BYTES as REFERRAL_MAX_BYTES
from vigil.translog.repository import TreeCache
from vigil.translog.sth import TreeHeadSigner
from vigil.victims.endpoints import router as victims_router
from vigil.web import apidocs
from vigil.web import endpoints as web
from vigil.web import render as web_render
from vigil.web.channel import router as web_channel
from vigil.web.complaints import router as web_complaints
from vigil.web.home import router as web_home
from vigil.web.inbox import router as web_inbox
from vigil.web.indicators import router as web_indicators
from vigil.web.jobs import router as web_jobs
from vigil.web.partners import router as web_partners
from vigil.web.prevention import router as web_prevention
from vigil.web.proposals import router as web_proposals
from vigil.web.review import router as web_review
from vigil.web.takedown import router as web_takedown
from vigil.web.victims import router as web_victims

log = get_logger("vigil.http")
_http_log = logging.getLogger("vigil.http")

#: The live index's file in the data directory, mapped by every server worker.
INDEX_FILE = "live-index.vmx"


class Metrics:
    """vigil's Prometheus metrics. With several server workers ``vigil serve`` sets
    ``PROMETHEUS_MULTIPROC_DIR``: every worker writes its values there, and ``/metrics`` sums
    the counters and histograms over all workers (:func:`render_metrics`); gauges declare
    how they combine (``multiprocess_mode``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("vigil_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("vigil_http_request_seconds", "HTTP request latency",
                                 ["route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5, 1, 2.5))
        self.hashes_matched = Counter("vigil_match_hashes_total", "Hashes matched via the API",
                                      registry=self.registry)
        # With several server workers (multiprocess mode), the fewest any live worker holds:
        # the whole service matches against at least this many.
        self.indicators_loaded = Gauge("vigil_index_indicators", "Active indicators in the "
                                       "index (with several workers: the fewest any live "
                                       "worker holds)", registry=self.registry,
                                       multiprocess_mode="livemin")
        self.limit_errors = Counter("vigil_limit_storage_errors_total", "Requests refused "
                                    "because the store of rate limits did not answer",
                                    registry=self.registry)
        #: Collectors that compute their figures at scrape time (from the database: every
        #: worker would give the same), added once to whichever registry is rendered.
        self.scraped: list[Collector] = []

    def add_scraped(self, collector: Collector) -> None:
        self.registry.register(collector)
        self.scraped.append(collector)


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    session: sessionmaker[Session]
    #: Sessions that only read (authentication, index sync): no write lock on SQLite.
    read_session: sessionmaker[Session]
    signer: TreeHeadSigner
    matcher: LiveMatcher
    metrics: Metrics
    file_store: Any
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    tree_cache: TreeCache = field(default_factory=TreeCache)
    tree_lock: threading.Lock = field(default_factory=threading.Lock)
    #: The workspace's Jinja2 environment.
    templates: Any = None
    #: Public URL reports, per client address.
    public_reports: Any = None
    #: Victim cases: creation and look-ups, per client address.
    case_creation: Any = None
    case_access: Any = None
    #: Requests per key (None: no limit).
    key_limits: Any = None
    #: Hashes matched per key per day (None: no quota).
    match_quota: Any = None
    #: Series de-confliction queries per organisation per day (None: no quota).
    series_queries: Any = None
    #: The one quota refusal per organisation per day that is audited.
    series_refusals: Any = None
    #: This worker's index of every discoverable series hash (vigil.series.service).
    series_index: Any = None
    #: Series registered, withdrawn or made (un)discoverable per organisation per day.
    series_changes: Any = None
    #: API matches per indicator, for the flood guard.
    hit_counter: Any = None
    #: The key of match receipts (indicators/receipts.py), derived from the file key.
    receipt_key: bytes = b""
    #: Failed workspace sign-ins by source (orgs/accounts.py).
    login_throttle: Any = None
    #: Where every limit above counts (vigil.ratelimit).
    limits: Any = None


class HealthOut(BaseModel):
    """The service is up. Public, so it says nothing more: a count of loaded indicators told
    anyone whether a victim's hash was already held (``vigil_indicators_loaded`` on
    ``/metrics``, for the Centre's monitoring, says it)."""

    status: str


class IndexState(BaseModel):
    """This worker's live index: loaded, how many indicators, and how many feed changes it is
    behind the database (None when the database did not answer)."""

    loaded: bool
    indicators: int
    behind: int | None
    #: Seconds the worker took to load its index after it started (None while loading).
    load_seconds: float | None = None


class ReadyOut(BaseModel):
    """``ready``; ``index`` only for the Centre's monitoring (``VIGIL_METRICS_ALLOW``)."""

    status: str
    index: IndexState | None = None


#: The metrics' answer, described for the API (Prometheus' text format, not JSON).
_METRICS: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {"description": "Prometheus metrics, text exposition format.",
          "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}}


class _BodyTooLarge(HTTPException):
    """Raised from the counting ``receive``; an HTTPException so that FastAPI's body parsing
    passes it on instead of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over {limit} bytes")


#: A request id a trusted proxy may pass on (X-Request-ID): short, and nothing but the
#: characters of UUIDs, hex and base64 ids.
_REQUEST_ID = re.compile(r"[A-Za-z0-9+/=._:-]{1,128}")


class ObserveMiddleware:
    """Request id, body-size limit, metrics and one structured log line per request (never the
    Authorization header, the body or the path's identifiers: the route's template). Plain
    ASGI: Starlette's ``@app.middleware("http")`` costs an extra task and stream per request.

    The request id is the ``X-Request-ID`` a proxy of ``VIGIL_TRUSTED_PROXIES`` sent (when
    sane), else a new one; it is bound to every log line of the request and returned in the
    ``X-Request-ID`` header of every answer, errors included (not in the error body: a
    public route's answers stay the same whoever asks, byte for byte). This middleware sees
    the socket's peer: the forwarded client address is applied inside it (:func:`create_app`)."""

    def __init__(self, app: Any, state: AppState) -> None:
        self.app = app
        self.state = state
        proxies = state.settings.trusted_proxies
        self._any_proxy = "*" in proxies
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in proxies if p != "*"]

    def _request_id(self, scope: dict[str, Any]) -> str:
        if self._any_proxy or self._proxies:
            client = scope.get("client")
            for name, value in scope.get("headers", ()):
                if name == b"x-request-id":
                    text: str = value.decode("latin-1")
                    if (_REQUEST_ID.fullmatch(text) and client
                            and (self._any_proxy or _address_in(client[0], self._proxies))):
                        return text
                    break
        return uuid.uuid4().hex

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        id_header = (b"x-request-id", request_id.encode())
        try:
            await self._observe(scope, receive, send, id_header)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)

    async def _observe(self, scope: dict[str, Any], receive: Any, send: Any,
                       id_header: tuple[bytes, bytes]) -> None:
        settings = self.state.settings
        path = scope.get("path", "")
        uploads = path.startswith("/v1/reports/") and (path.endswith("/files")
                                                       or path.endswith("/multipart"))
        limit = settings.max_report_bytes if uploads else settings.max_request_bytes
        if path.startswith("/v1/referrals/"):  # a partner's referral or status update: small
            limit = min(limit, REFERRAL_MAX_BYTES)
        status = 500
        started = False

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        def too_large() -> JSONResponse:  # built only when needed, not on every request
            return JSONResponse({"error": {"code": "too_large",
                                           "message": f"request body over {limit} bytes"}},
                                status_code=413)

        declared = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = True
                if not value.isdigit() or int(value) > limit:
                    await too_large()(scope, receive, send_wrapper)
                    return
        received = 0
        start = time.perf_counter()

        async def counting_receive() -> dict[str, Any]:
            # Chunked bodies carry no Content-Length: count what actually arrives.
            nonlocal received
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        try:
            # With a Content-Length the server reads exactly that many bytes (checked above);
            # only chunked bodies need counting.
            await self.app(scope, receive if declared else counting_receive, send_wrapper)
        except _BodyTooLarge:
            status = 413
            if not started:
                await too_large()(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error", route=getattr(scope.get("route"), "path", "unmatched"))
            raise
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics = self.state.metrics
            metrics.requests.labels(scope["method"], route, str(status)).inc()
            metrics.latency.labels(route).observe(elapsed)
            # Kept current by every request, so that each worker's count reaches /metrics
            # (with several workers, another one may answer the scrape).
            metrics.indicators_loaded.set(len(self.state.matcher))
            principal = scope.get("state", {}).get("principal")
            if _http_log.isEnabledFor(logging.INFO):
                log.info("request", method=scope["method"], route=route, status=status,
                         ms=round(elapsed * 1000, 2),
                         org=principal.organisation_id if principal else None)


def render_metrics(metrics: Metrics) -> bytes:
    """The text exposition of ``metrics``: of this process, or, in multiprocess mode
    (``PROMETHEUS_MULTIPROC_DIR`` set), of every server worker together."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return bytes(generate_latest(metrics.registry))
    _forget_dead_workers(Path(path))
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    for collector in metrics.scraped:
        registry.register(collector)
    return bytes(generate_latest(registry))


def _forget_dead_workers(path: Path) -> None:
    """Live gauges of workers that are gone (a crash, a restart) no longer count."""
    for file in path.glob("gauge_live*_*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(int(pid), str(path))  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, someone else's
            pass


def _address_in(host: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in n for n in networks)


def _within(request: Request, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Whether the client's address (the socket's peer, or the one a trusted proxy passed)
    lies in one of ``networks``."""
    return _address_in(request.client.host if request.client else "", networks)


def _what_is_wrong(request: Request, errors: Sequence[Any]) -> str:
    """The message of a 422 from the request's validation: the body in the wrong form (JSON
    where a form is expected or the other way round) is said so, not as a field's error."""
    body = [e for e in errors if tuple(e.get("loc", ()))[:1] == ("body",)]
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    field = getattr(request.scope.get("route"), "body_field", None)
    wants_form = field is not None and isinstance(field.field_info, fastapi_params.Form)
    if body and wants_form and media != "multipart/form-data":
        return "the request is invalid: send it as multipart/form-data"
    if body and not wants_form and media != "application/json" and any(
            tuple(e.get("loc", ())) == ("body",) and e.get("type") in _NOT_AN_OBJECT for e in body):
        return "the request is invalid: send the body as JSON (Content-Type: application/json)"
    return "the request is invalid"


#: What pydantic says when a body that should be a JSON object is something else (a string:
#: the raw body of a request that was not sent as JSON).
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


def _unreadable_body(exc: StarletteHTTPException) -> DomainError:
    """What Starlette and FastAPI answer with a bare 400 (a JSON body that is not UTF-8, broken
    multipart data, a form over Starlette's own part and field limits), as the API's own error:
    422 ``invalid`` naming the problem, or 413 ``too_large`` for a passed limit. One answer
    for every unreadable body, the one a malformed JSON body already gets, and documented on
    every route (``ERROR_RESPONSES``)."""
    cause = exc.__cause__  # behind FastAPI's "There was an error parsing the body"
    if isinstance(cause, UnicodeDecodeError):
        problem = f"not valid text: {cause}"
    elif isinstance(cause, RecursionError):
        problem = "JSON nested too deeply"
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        problem = "a number has more than 4300 digits"
    elif isinstance(cause, ValueError):
        problem = f"not valid JSON: {cause}"
    else:
        problem = str(exc.detail)
    items = [{"location": ["body"], "error": problem}]
    # Starlette's limits: "Too many fields. Maximum number ...", "Part exceeded maximum size ...".
    if cause is None and "maximum" in problem.lower():
        return TooLarge(f"the request body is over a limit: {problem}", items=items)
    return Invalid(f"the request body cannot be read: {problem}", items=items)


def _keep_uploads_in_memory(max_file_bytes: int) -> None:
    """Starlette spools multipart parts over 1 MiB to a temporary file: evidence would touch
    the disk in clear. Keep parts in memory up to the per-file limit instead (larger uploads
    are refused anyway)."""
    from starlette.formparsers import MultiPartParser

    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_file_bytes + 1)


def create_app(settings: Settings, *, sync_in_background: bool = True,
               build_routes_now: bool = True) -> FastAPI:
    private_dir(settings.data_dir)
    # A whole upload request is bounded by max_report_bytes (counted as it arrives), so keeping
    # parts up to that size in memory never spills evidence to a temporary file.
    _keep_uploads_in_memory(settings.max_report_bytes)
    engine = make_engine(settings.effective_database_url)
    factory = session_factory(engine)
    read_engine = make_engine(settings.effective_database_url, read_only=True)
    store = FileStore.for_settings(settings)
    state = AppState(settings, engine, factory, session_factory(read_engine),
                     TreeHeadSigner.from_file(settings.effective_log_key_path, create=True),
                     LiveMatcher(), Metrics(), store,
                     receipt_key=receipts.receipt_key(store.ring.current))
    # The queue's figures come from the database at scrape time: workers serve no HTTP.
    state.metrics.add_scraped(QueueCollector(state.read_session))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        index_file = settings.data_dir / INDEX_FILE
        if sync_in_background:
            # The index loads in a thread (at 10M indicators, seconds from the index file,
            # minutes without one): the worker answers health checks meanwhile, and matching
            # answers 503 index_loading until it is ready (see /readyz).
            state.matcher.start(state.read_session, settings.index_poll_interval, index_file,
                                settings.index_file_min, settings.index_file_resave_changes)
            state.hit_counter.start(state.session)
        else:
            state.matcher.load(state.read_session, index_file, settings.index_file_min)
        yield
        state.hit_counter.stop(state.session)
        state.matcher.stop()
        engine.dispose()
        read_engine.dispose()

    # /docs and /redoc are vigil's own (web/apidocs.py): FastAPI's load their assets from a CDN.
    app = FastAPI(title="vigil", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="The Centre's API: indicator lists with two-organisation "
                              "verification, a verifiable log, provider matching.")
    state.principals.ttl = settings.auth_cache_seconds
    state.templates = web_render.make_environment()
    # Every limit counts in one store, shared by all server workers when VIGIL_REDIS_URL is set.
    limits = LimitStore(settings.redis_url, prefix=settings.redis_key_prefix,
                        on_error=state.metrics.limit_errors.inc)
    state.limits = limits
    state.public_reports = limits.window("public-reports", settings.public_reports_per_hour, 3600)
    state.case_creation = limits.window("case-creation", settings.victim_cases_per_hour, 3600)
    state.case_access = limits.window("case-access", settings.victim_lookups_per_hour, 3600)
    state.login_throttle = accounts.LoginThrottle(settings.login_max_failures,
                                                  settings.login_lockout_minutes, store=limits)
    state.hit_counter = HitCounter()
    if settings.match_hashes_per_day:
        state.match_quota = limits.daily("match-hashes", settings.match_hashes_per_day)
    state.series_index = DiscoverableIndex()
    if settings.series_changes_per_day:
        state.series_changes = limits.daily("series-changes", settings.series_changes_per_day)
    if settings.series_queries_per_day:
        state.series_queries = limits.daily("series-queries", settings.series_queries_per_day)
        state.series_refusals = limits.daily("series-refusals-audited", 1)
    if settings.key_requests_per_minute:
        state.key_limits = limits.window("key-requests", settings.key_requests_per_minute, 60)
    app.state.vigil = state

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if web_render.is_page(request.url.path):
            return web_render.error_page(request, exc)
        headers = {"Retry-After": str(exc.details["retry_after"])} if "retry_after" in exc.details else None
        details = dict(exc.details)
        items = details.get("items")
        if isinstance(items, list) and len(items) > 100:  # answers do not grow with the request
            details["items"], details["more"] = items[:100], len(items) - 100
        return JSONResponse({"error": {"code": exc.code, "message": exc.message, **details}},
                            status_code=exc.status, headers=headers)

    @app.exception_handler(Unstorable)
    async def unstorable(request: Request, exc: Unstorable) -> Response:
        return await domain_error(request, Invalid(str(exc)))

    @app.exception_handler(_BodyTooLarge)
    async def body_too_large(request: Request, exc: _BodyTooLarge) -> JSONResponse:
        return JSONResponse({"error": {"code": "too_large", "message": exc.detail}},
                            status_code=413)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Unknown routes and methods answer like every other error (the API's error body, or
        the workspace's error page). A body that cannot be read at all is an invalid request
        like any other (:func:`_unreadable_body`), never a bare 400."""
        if exc.status_code == 400:
            return await domain_error(request, _unreadable_body(exc))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        message = {404: "no such route", 405: f"{request.method} is not allowed here"}.get(
            exc.status_code, str(exc.detail))
        if exc.status_code == 404 and web_render.is_page(request.url.path):
            return web_render.error_page(request, NotFound(message))
        return JSONResponse({"error": {"code": code, "message": message}},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        # At most the first 100 problems: an answer must not grow with a hostile request.
        items = [{"location": list(e.get("loc", ())), "error": e.get("msg", "")}
                 for e in errors[:100]]
        more = {"more": len(errors) - 100} if len(errors) > 100 else {}
        return JSONResponse({"error": {"code": "invalid", "message": _what_is_wrong(request, errors),
                                       "items": items, **more}}, status_code=422)

    if settings.trusted_proxies:
        # The client's address from X-Forwarded-For of a trusted proxy (uvicorn's own
        # middleware, applied here rather than by the server so that ObserveMiddleware, outside
        # it, still sees the socket's peer: only a trusted proxy may pass on a request id).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(ObserveMiddleware, state=state)

    @app.get("/healthz", response_model=HealthOut, responses=ERROR_RESPONSES)
    def healthz() -> HealthOut:
        """Anyone: the service is up."""
        return HealthOut(status="ok")

    monitoring = [ipaddress.ip_network(n, strict=False) for n in settings.metrics_allow]

    @app.get("/readyz", response_model=ReadyOut, responses=ERROR_RESPONSES)
    def readyz(request: Request) -> ReadyOut:
        """Anyone: whether this server worker can match — its database and (with
        ``VIGIL_REDIS_URL``) the store of rate limits answer, and its index is loaded: 200
        ``ready``, else 503 ``index_loading`` or ``unavailable`` with
        Retry-After. The index's size and how many feed changes it is behind the database go
        to the Centre's monitoring only (``VIGIL_METRICS_ALLOW``), like ``/metrics``: a count
        of loaded indicators would tell anyone whether a hash was just added."""
        matcher = state.matcher
        newest = None
        try:
            with state.read_session() as s:
                newest = s.scalar(select(func.max(ListChange.seq))) or 0
        except SQLAlchemyError:
            pass
        index = None
        if _within(request, monitoring):
            index = IndexState(loaded=matcher.ready.is_set(), indicators=len(matcher),
                               behind=None if newest is None else max(0, newest - matcher.last_seq),
                               load_seconds=matcher.load_seconds)
        details = {"index": index.model_dump()} if index else {}
        if newest is None:
            raise Unavailable("the database does not answer", retry_after=LOADING_RETRY_AFTER,
                              **details)
        try:  # every limited route answers 503 while the shared limits' store is away
            limits.ping()
        except LimitStoreUnreachable:
            raise Unavailable("the store of rate limits does not answer",
                              retry_after=LOADING_RETRY_AFTER, **details) from None
        if not matcher.ready.is_set():
            raise IndexLoading("the match index is still loading", retry_after=LOADING_RETRY_AFTER,
                               **details)
        return ReadyOut(status="ready", index=index)

    @app.get("/metrics", response_class=Response, responses=_METRICS)
    def metrics(request: Request) -> Response:
        """The Centre's monitoring only: clients at the addresses of ``VIGIL_METRICS_ALLOW``
        (default loopback). Request counts per route tell when people use the public routes."""
        if not _within(request, monitoring):
            raise Forbidden("metrics are served to the Centre's monitoring only "
                            "(VIGIL_METRICS_ALLOW)")
        state.metrics.indicators_loaded.set(len(state.matcher))
        return Response(render_metrics(state.metrics), media_type=CONTENT_TYPE_LATEST)

    app.include_router(orgs_router)
    app.include_router(indicators_router)
    app.include_router(log_router)
    app.include_router(reports_router)
    app.include_router(takedown_router)
    app.include_router(referrals_router)
    app.include_router(victims_router)
    app.include_router(series_router)
    app.include_router(audit_router)
    app.include_router(accountability_router)
    app.include_router(federation_router)
    app.include_router(prevention_router)

    app.include_router(web_home)
    app.add_route("/docs", apidocs.swagger_ui, include_in_schema=False)
    app.add_route("/redoc", apidocs.redoc, include_in_schema=False)
    app.include_router(web.router)
    app.include_router(web_review)
    app.include_router(web_indicators)
    app.include_router(web_inbox)
    app.include_router(web_takedown)
    app.include_router(web_jobs)
    app.include_router(web_partners)
    app.include_router(web_victims)
    app.include_router(web_complaints)
    app.include_router(web_channel)
    app.include_router(web_prevention)
    app.include_router(web_proposals)
    app.mount(f"{web_render.PREFIX}/static", StaticFiles(packages=[("vigil.web", "static")]),
              name="static")
    if build_routes_now:
        _build_routes_now(app)
    return app


def _build_routes_now(app: FastAPI) -> None:
    """Build every included router's routes now, while one thread runs, not at their first
    request.

    FastAPI (as pinned in requirements.lock) builds an included router's routes lazily, at the
    first request that reaches them, and builds each parameter's validator under
    ``warnings.catch_warnings()`` to hide a pydantic warning. That context manager swaps the
    process-wide filter list (before Python 3.14) and is not thread-safe: a request thread
    building routes while another thread (hashing an image, a second request) entered or left
    its own ``catch_warnings`` lost the filter, and the warning came out (an error under the
    test suite's ``filterwarnings``). Built here, the first request also costs no more than the
    next, and a route that cannot be built fails at start-up rather than at its first caller.
    It costs about 0.3 s an app, which is why the test suite's many short-lived apps skip it
    (``build_routes_now=False``).
    """
    from fastapi.routing import iter_route_contexts

    for _ in iter_route_contexts(app.routes):
        pass
