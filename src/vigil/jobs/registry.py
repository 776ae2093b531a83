"""The task registry: every kind of background work, named once, by the domain it belongs to.

Each domain registers its tasks in its own ``tasks.py`` (``reports/tasks.py``:
``assess_report``, ``deliver_notice``; ``takedown/tasks.py``: ``crawl`` and the notice
re-checks; ...) with :func:`register` and :func:`periodic`; ``vigil worker`` imports those
modules and dispatches through this table — it knows no task by name. A task says how it is
retried: its number of attempts and its back-off. Periodic tasks say how often they run; the
worker runs each once per interval across all workers (``periodic.py``).

This module sits below the domains (they import it), so what the worker hands a task —
:class:`Services` — names the domains' types for the type checker only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings

if TYPE_CHECKING:
    from vigil.indicators.matcher import LiveMatcher
    from vigil.reports.handoff import Handoff
    from vigil.reports.storage import FileStore
    from vigil.takedown.notify import Notifier
    from vigil.takedown.referrals.partners import Partners
    from vigil.translog.repository import TreeCache
    from vigil.translog.sth import TreeHeadSigner


#: Attempts of a task that sets none.
MAX_ATTEMPTS = 5


class UnknownTask(LookupError):
    """A job names a kind no module registered (a typo, or a job from a newer version)."""


@dataclass
class Services:
    """What ``vigil worker`` gives every task: the database (``factory`` writes,
    ``read_factory`` only reads), the settings (None when a test builds a bare worker), and the
    clients and caches of this process."""

    factory: sessionmaker[Session]
    read_factory: sessionmaker[Session]
    handoff: Handoff
    matcher: LiveMatcher
    tree: TreeCache
    settings: Settings | None = None
    store: FileStore | None = None
    #: How takedown notices are sent (None: e-mail and webhooks from the settings, made on
    #: first use).
    notifier: Notifier | None = None
    #: How partner hotlines are reached (None: over HTTP with the settings' egress policy,
    #: made on first use).
    partners: Partners | None = None
    #: The file key the process started with (the store's ring, when there is a store, is
    #: read instead: it follows a rotation).
    file_key: bytes = b""
    #: The log's signing key, loaded on first use.
    signer: TreeHeadSigner | None = None

    @property
    def subject_key(self) -> bytes:
        """The key that pseudonymises report subjects: a key of its own purpose, derived from
        the current file key (after a rotation the new one; ``reencrypt_files`` keys the stored
        digests again)."""
        key = self.store.ring.current if self.store is not None else self.file_key
        return hashlib.sha256(b"vigil-subject-key-v1" + key).digest() if key else b""


@dataclass
class JobContext:
    """One run of one job: its payload, and (for a short task) the job's transaction, which
    commits together with the job's "done"."""

    services: Services
    job_id: int
    kind: str
    payload: dict[str, Any]
    #: 1 on the first attempt.
    attempt: int
    _session: Session | None = None

    @property
    def session(self) -> Session:
        """The job's transaction. Long tasks have none: they open their own as they go."""
        if self._session is None:
            raise RuntimeError(f"{self.kind} is a long task: it opens transactions of its own "
                               "(services.factory)")
        return self._session

    @property
    def settings(self) -> Settings:
        """The worker's settings; a task that needs them fails (and is retried) without."""
        if self.services.settings is None:
            raise RuntimeError(f"{self.kind} needs the worker's settings")
        return self.services.settings


Backoff = Callable[[int], timedelta]


def exponential(first: float = 2.0, factor: float = 2.0, cap: float = 3600.0) -> Backoff:
    """The wait after the n-th failed attempt: ``first * factor**(n-1)`` seconds, at most
    ``cap`` (the default: 2 s, 4 s, 8 s, ... up to an hour)."""
    if first < 0 or factor < 1 or cap < 0:
        raise ValueError("back-off needs first >= 0, factor >= 1 and cap >= 0")

    def delay(attempts: int) -> timedelta:
        n = max(1, attempts)
        return timedelta(seconds=min(cap, first * factor ** min(n - 1, 64)))

    return delay


@dataclass(frozen=True)
class Task:
    """A kind of job. ``run`` gets a :class:`JobContext`; it raises to fail the attempt."""

    kind: str
    run: Callable[[JobContext], None]
    #: Long tasks (crawls) run on a queue of their own, outside the job's transaction.
    long: bool = False
    #: Attempts before the job becomes a dead letter.
    max_attempts: int = MAX_ATTEMPTS
    backoff: Backoff = field(default_factory=exponential)


@dataclass(frozen=True)
class PeriodicTask:
    """Work done every ``interval(settings)`` seconds, once across all workers. ``run`` gets
    the worker's :class:`Services` and returns something to log (a count, a result)."""

    name: str
    run: Callable[[Services], object]
    interval: Callable[[Settings], float]
    #: How long a run may hold the task before another worker may take it (the running worker
    #: renews it; this matters only when a worker dies mid-run).
    lease: timedelta = timedelta(minutes=10)


_TASKS: dict[str, Task] = {}
_PERIODIC: dict[str, PeriodicTask] = {}

F = TypeVar("F", bound=Callable[[JobContext], None])
P = TypeVar("P", bound=Callable[[Services], object])

MAX_KIND = 32  # the jobs.kind column


@overload
def register(kind: str, fn: None = None, *, long: bool = False, max_attempts: int = MAX_ATTEMPTS,
             backoff: Backoff | None = None) -> Callable[[F], F]: ...
@overload
def register(kind: str, fn: F, *, long: bool = False, max_attempts: int = MAX_ATTEMPTS,
             backoff: Backoff | None = None) -> F: ...


def register(kind: str, fn: F | None = None, *, long: bool = False, max_attempts: int = MAX_ATTEMPTS,
             backoff: Backoff | None = None) -> F | Callable[[F], F]:
    """Register ``fn`` as the task for jobs of ``kind``: directly, or as a decorator
    (``@register("assess_report")``). Raises ValueError for a bad name or setting, or if
    another function already holds ``kind``."""
    if not kind or len(kind) > MAX_KIND:
        raise ValueError(f"a task's kind is 1 to {MAX_KIND} characters: {kind!r}")
    if max_attempts < 1:
        raise ValueError(f"task {kind}: max_attempts must be at least 1")

    def add(f: F) -> F:
        task = Task(kind, f, long=long, max_attempts=max_attempts,
                    backoff=backoff or exponential())
        held = _TASKS.get(kind)
        if held is not None and _name(held.run) != _name(f):
            raise ValueError(f"task kind {kind!r} is already registered by {_name(held.run)}")
        _TASKS[kind] = task
        return f

    return add if fn is None else add(fn)


def periodic(name: str, *, every: float | Callable[[Settings], float],
             lease: timedelta = timedelta(minutes=10)) -> Callable[[P], P]:
    """Register the decorated function as periodic work, run every ``every`` seconds (a
    number, or a function of the settings). Raises ValueError as :func:`register` does."""
    if not name or len(name) > 64:
        raise ValueError(f"a periodic task's name is 1 to 64 characters: {name!r}")
    if not callable(every) and every <= 0:
        raise ValueError(f"periodic task {name}: the interval must be positive")

    def add(f: P) -> P:
        held = _PERIODIC.get(name)
        if held is not None and _name(held.run) != _name(f):
            raise ValueError(f"periodic task {name!r} is already registered by {_name(held.run)}")
        interval = every if callable(every) else (lambda _s, seconds=float(every): seconds)
        _PERIODIC[name] = PeriodicTask(name, f, interval, lease)
        return f

    return add


def _name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{getattr(fn, '__qualname__', fn)}"


def task(kind: str) -> Task:
    """The task for ``kind``; raises :class:`UnknownTask`."""
    try:
        return _TASKS[kind]
    except KeyError:
        raise UnknownTask(f"unknown job kind {kind!r} (no module registered it)") from None


def long_kinds() -> frozenset[str]:
    """The kinds that run on the long queue."""
    return frozenset(k for k, t in _TASKS.items() if t.long)


def kinds() -> list[str]:
    return sorted(_TASKS)


def periodic_tasks() -> list[PeriodicTask]:
    """Every periodic task, by name."""
    return [_PERIODIC[n] for n in sorted(_PERIODIC)]


def unregister(name: str) -> None:
    """Forget a task or periodic task of that name (tests register their own)."""
    _TASKS.pop(name, None)
    _PERIODIC.pop(name, None)
