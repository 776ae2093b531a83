"""The hash-sharing programmes, read through ``threatexchange``'s own exchange clients.

Each programme is a :class:`Programme`: pages of :class:`Fetched` records and, after each page,
the programme's checkpoint (threatexchange's checkpoint dataclass as a dict, stored by the
import so that the next run resumes there). The library's clients do the work — requests,
paging, checkpoints, the programmes' record formats — with three things vigil changes:

* **HTTP**: every client gets a session from :func:`vigil.exchange.http.egress_session` (the
  programme's host only, through the egress policy, responses read with a size limit). The
  base URL comes from the settings (the programme's public one by default).
* **Malformed records never fail a page.** NCMEC entries are parsed one by one with the
  library's ``NCMECEntryUpdate.from_xml`` (its page parser gives up on the first bad entry);
  StopNCII records with the library's dataclasses (it logs bad ones, hashes included, and
  drops them); ThreatExchange updates are checked before the library's cursor decodes them. A
  bad record becomes a problem the import records and counts.
* **StopNCII withdrawals count.** The library's ``_get_delta_mapping`` compares the hash's
  *value* with the withdrawn/deleted statuses (never equal), so a withdrawn hash would look
  live; vigil reads ``hashStatus`` itself and treats Withdrawn and Deleted as withdrawals.

Which vigil signal type a programme's hash is: NCMEC's ``PDQ``/``MD5``/``SHA1`` fingerprints
(an MD5 of a video entry is ``video_md5``); StopNCII's ``ImagePDQ``/``VideoMD5``;
ThreatExchange's ``HASH_PDQ``, ``HASH_MD5`` (``video_md5`` with the ``media_type_video``
tag), ``HASH_VIDEO_MD5``, ``HASH_SHA256``/``HASH_VIDEO_SHA256``; a local file's
threatexchange names (``pdq``, ``video_md5``, ``video_sha256``) and vigil's own. Anything else
(PhotoDNA, URLs, text) is kept with the record or reported, never matched.
"""

from __future__ import annotations

import calendar
import enum
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

import dacite
import requests
from threatexchange.exchanges.clients.fb_threatexchange.api import ThreatExchangeAPI
from threatexchange.exchanges.clients.fb_threatexchange.threat_updates import ThreatUpdateJSON
from threatexchange.exchanges.clients.ncmec import hash_api as ncmec_api
from threatexchange.exchanges.clients.stopncii import api as stopncii_api
from threatexchange.exchanges.fetch_state import FetchCheckpointBase, FetchDelta
from threatexchange.exchanges.impl.fb_threatexchange_api import (
    FBThreatExchangeCheckpoint,
    FBThreatExchangeCollabConfig,
    FBThreatExchangeCredentials,
    FBThreatExchangeIndicatorRecord,
    FBThreatExchangeSignalExchangeAPI,
)
from threatexchange.exchanges.impl.file_api import FileCollaborationConfig, LocalFileSignalExchangeAPI
from threatexchange.exchanges.impl.ncmec_api import (
    NCMECCheckpoint,
    NCMECCollabConfig,
    NCMECCredentials,
    NCMECSignalExchangeAPI,
)
from threatexchange.exchanges.impl.stop_ncii_api import StopNCIICheckpoint, StopNCIICredentials
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal

from vigil.config import Settings
from vigil.egress import EgressPolicy
from vigil.errors import Invalid
from vigil.exchange.http import egress_session
from vigil.matching.vics import VicsError, VicsFile, read_vics_file

PROGRAMMES = ("ncmec", "stopncii", "threatexchange", "file", "vics")
#: Longest label kept from a programme (an indicator's label column).
MAX_LABEL = 64


@dataclass(frozen=True)
class Fetched:
    """One record of a programme: its key there, its hashes as (vigil signal type, text) — not
    yet validated — a label, what else the programme said, or that it was withdrawn."""

    key: str
    signals: tuple[tuple[str, str], ...] = ()
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class Page:
    records: list[Fetched]
    #: (where, what was wrong) for each record skipped on this page.
    problems: list[tuple[str, str]]
    #: The programme's checkpoint after this page (JSON-able), or None if it keeps none.
    checkpoint: dict[str, Any] | None

    @property
    def position(self) -> Any:
        """Where this page leaves the programme's stream: :func:`position` of its checkpoint."""
        return position(self.checkpoint)


#: Checkpoint fields that say when a page was fetched, not where the stream stands:
#: threatexchange's StopNCII and ThreatExchange checkpoints carry ``last_fetch_time``, NCMEC's
#: paging info ``paging_url_ts`` (both ``int(time.time())`` at the fetch).
_FETCH_TIME_FIELDS = frozenset({"last_fetch_time", "paging_url_ts"})


def position(checkpoint: Any) -> Any:
    """A checkpoint without the times of its own fetching, so that two pages that leave the
    stream at one place compare equal whenever they were fetched (a run that pages for more
    than a second otherwise saw every idle page "move")."""
    if isinstance(checkpoint, dict):
        return {k: position(v) for k, v in checkpoint.items() if k not in _FETCH_TIME_FIELDS}
    return checkpoint


class Programme(Protocol):
    """A source of pages; ``name`` is the programme, ``collection`` the part of it read."""

    @property
    def name(self) -> str: ...

    @property
    def collection(self) -> str: ...

    @property
    def secrets(self) -> tuple[str, ...]:
        """Credentials to blank out of any error message (never logged or stored)."""
        ...

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]: ...

    def step_past(self, checkpoint: dict[str, Any] | None,
                  seconds: int) -> tuple[dict[str, Any], str] | None:
        """A checkpoint past the page that cannot be read at ``checkpoint`` — ``seconds`` of
        the programme's update time further on, never past now — and what that skips, in
        words; None where the programme has no such step (a file is checked whole before any
        page)."""
        ...


_URL_QUERY = re.compile(r"(https?://[^\s?#]+)\?[^\s#]*")


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` without credentials: each secret (as it is, and URL-encoded) becomes ``***``,
    and the query of any URL in it is dropped (an error of ``requests`` quotes the URL, and
    the Graph API's carries the access token)."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, "***")
    return _URL_QUERY.sub(r"\1?(query left out)", text)


def _checkpoint(cls: type[Any], data: dict[str, Any] | None) -> Any:
    """threatexchange's checkpoint dataclass from what an earlier page stored."""
    if data is None:
        return None
    try:
        return dacite.from_dict(data_class=cls, data=data)
    except (dacite.DaciteError, TypeError, ValueError) as exc:
        raise Invalid(f"the stored checkpoint is not a {cls.__name__}: {exc}") from None


def _utc_text(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _step_update_time(checkpoint: dict[str, Any] | None, field_name: str, default_start: int,
                      seconds: int) -> tuple[dict[str, Any], str] | None:
    """The StopNCII and ThreatExchange step: their checkpoint is an update time (and when it
    was fetched), so stepping moves the update time on."""
    current = time.time()
    start = int((checkpoint or {}).get(field_name) or default_start)
    end = min(start + seconds, int(current))
    if end <= start:
        return None
    return ({**(checkpoint or {}), field_name: end, "last_fetch_time": int(current)},
            f"updates from {_utc_text(start)} to {_utc_text(end)}")


def _label(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_LABEL]


# -- NCMEC ------------------------------------------------------------------------------------

_NCMEC_TYPES = {("image", "PDQ"): "pdq", ("image", "MD5"): "md5", ("image", "SHA1"): "sha1",
                ("video", "MD5"): "video_md5", ("video", "SHA1"): "sha1"}


class _NcmecClient(ncmec_api.NCMECHashAPI):
    """The library's client at the configured URL, through vigil's session, parsing entries
    one by one."""

    def __init__(self, user: str, password: str, environment: ncmec_api.NCMECEnvironment, *,
                 base_url: str, session: Callable[[], requests.Session],
                 problems: list[tuple[str, str]]) -> None:
        super().__init__(user, password, environment)
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._problems = problems

    def _get_session(self) -> requests.Session:
        return self._session()

    def get_entries(self, *, start_timestamp: int = 0, end_timestamp: int = 0,
                    next_: str = "") -> ncmec_api.GetEntriesResponse:
        end_timestamp = end_timestamp or int(time.time())
        root = self._get(ncmec_api.NCMECEndpoint.entries, next_=next_,
                         to=ncmec_api._date_format(end_timestamp),
                         **{"from": ncmec_api._date_format(start_timestamp)})
        xml = ncmec_api._XMLWrapper(root)
        # The library's fetch discards a probing answer and asks again for a smaller window:
        # only the problems of the answer it goes on with count (see Ncmec.pages).
        self._problems.clear()
        updates: list[ncmec_api.NCMECEntryUpdate] = []
        max_ts = 0
        for block in (xml.maybe("images"), xml.maybe("videos")):
            if not block or not len(block):
                continue
            try:
                max_ts = max(max_ts, calendar.timegm(time.strptime(
                    block.str("maxTimestamp"), "%Y-%m-%dT%H:%M:%SZ")))
            except (AssertionError, ValueError, OverflowError):
                self._problems.append((f"page from {start_timestamp}",
                                       f"<{block.tag}> has no valid maxTimestamp"))
            for i, entry in enumerate(block):
                try:
                    updates.append(ncmec_api.NCMECEntryUpdate.from_xml(entry))
                except Exception as exc:  # any malformed entry: recorded, never the page
                    ident = entry.maybe("id").element.text or f"#{i}"
                    self._problems.append((f"{block.tag} entry {ident}"[:200],
                                           f"malformed NCMEC entry: {type(exc).__name__} {exc}"[:300]))
        next_url = xml.maybe("paging", "next").element.text or ""
        return ncmec_api.GetEntriesResponse(updates, max_ts or int(time.time()), next_url)


class _NcmecExchange(NCMECSignalExchangeAPI):
    def __init__(self, collab: NCMECCollabConfig, user: str, password: str,
                 client: Callable[[], ncmec_api.NCMECHashAPI]) -> None:
        super().__init__(collab, user, password)
        self._client = client

    def get_client(self, environment: ncmec_api.NCMECEnvironment) -> ncmec_api.NCMECHashAPI:
        return self._client()


@dataclass
class Ncmec:
    """NCMEC's hash sharing (one environment: Industry, NGO, ...)."""

    environment: ncmec_api.NCMECEnvironment
    credentials: NCMECCredentials
    base_url: str
    policy: EgressPolicy
    max_bytes: int
    name: str = "ncmec"

    @property
    def collection(self) -> str:
        return self.environment.name

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.credentials.password,)

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        problems: list[tuple[str, str]] = []
        auth = (self.credentials.user, self.credentials.password)

        def client() -> ncmec_api.NCMECHashAPI:
            return _NcmecClient(self.credentials.user, self.credentials.password,
                                self.environment, base_url=self.base_url, problems=problems,
                                session=lambda: egress_session(self.policy, self.base_url,
                                                               max_bytes=self.max_bytes,
                                                               auth=auth))

        api = _NcmecExchange(NCMECCollabConfig(name=self.collection,
                                               environment=self.environment),
                             self.credentials.user, self.credentials.password, client)
        for delta in api.fetch_iter([PdqSignal, VideoMD5Signal],
                                    _checkpoint(NCMECCheckpoint, checkpoint)):
            records = [_ncmec_record(key, entry) for key, entry in delta.updates.items()
                       if entry is not None]
            found, problems[:] = list(problems), []
            yield Page(records, found, asdict(delta.checkpoint))

    def step_past(self, checkpoint: dict[str, Any] | None,
                  seconds: int) -> tuple[dict[str, Any], str] | None:
        """In the middle of a paged window: to the window's end (the rest of it is
        skipped); otherwise the window's start moves ``seconds`` on."""
        ckpt = _checkpoint(NCMECCheckpoint, checkpoint)
        start = ckpt.get_entries_max_ts if ckpt else 0
        if ckpt is not None and ckpt.paging_info is not None:
            end = ckpt.paging_info.paging_end_ts
            what = (f"entries from {_utc_text(start)} to {_utc_text(end)} after the page at "
                    f"{redact(ckpt.paging_info.paging_url, self.secrets)[:200]}")
        else:
            end = min(start + seconds, int(time.time()))
            what = f"entries from {_utc_text(start)} to {_utc_text(end)}"
        if end <= start:
            return None
        return asdict(NCMECCheckpoint(end)), what


def _ncmec_record(key: str, entry: ncmec_api.NCMECEntryUpdate) -> Fetched:
    meta: dict[str, Any] = {"member_id": entry.member_id, "entry_id": entry.id,
                            "entry_type": entry.entry_type.value,
                            "classification": entry.classification}
    if entry.deleted:
        return Fetched(key, meta=meta, deleted=True)
    signals = []
    others = {}
    for name, value in entry.fingerprints.items():
        st = _NCMEC_TYPES.get((entry.entry_type.value, name.upper()))
        if st is None:
            others[name] = value  # PhotoDNA and the rest: opaque, kept, not matched
        else:
            signals.append((st, value))
    if others:
        meta["other_fingerprints"] = others
    return Fetched(key, tuple(signals), _label(entry.classification), meta)


# -- StopNCII ---------------------------------------------------------------------------------

_STOPNCII_TYPES = {stopncii_api.StopNCIISignalType.ImagePDQ: "pdq",
                   stopncii_api.StopNCIISignalType.VideoMD5: "video_md5"}
_WITHDRAWN = (stopncii_api.StopNCIICaseStatus.Withdrawn, stopncii_api.StopNCIICaseStatus.Deleted)


class _StopNCIIClient(stopncii_api.StopNCIIAPI):
    def __init__(self, credentials: StopNCIICredentials, *, base_url: str,
                 session: Callable[[dict[str, str]], requests.Session],
                 problems: list[tuple[str, str]]) -> None:
        super().__init__(credentials.subscription_key, credentials.fetch_function_key,
                         base_url_override=base_url.rstrip("/"))
        self._session = session
        self._problems = problems

    def _get_session(self, endpoint: stopncii_api.StopNCIIEndpoint) -> requests.Session:
        function_key = self._function_keys.get(endpoint)
        if not function_key:
            raise Invalid(f"no StopNCII function key for {endpoint.value}")
        return self._session({"x-functions-key": function_key,
                              "Ocp-Apim-Subscription-Key": self._subscription_key})

    def fetch_hashes(self, *, page_size: int = 800,
                     start_timestamp: int = stopncii_api.StopNCIIAPI.DEFAULT_START_TIME,
                     next_page: str = "") -> stopncii_api.FetchHashesResponse:
        params: dict[str, Any] = {"startTimestamp": start_timestamp, "pageSize": page_size}
        if next_page:
            params["nextPageToken"] = next_page
        page = self._get(stopncii_api.StopNCIIEndpoint.FetchHashes, **params)
        if not isinstance(page, dict):
            raise ValueError("a StopNCII page is not a JSON object")
        raw = page.get("hashRecords") or []
        if not isinstance(raw, list):
            raise ValueError("a StopNCII page's hashRecords is not a list")
        config = dacite.Config(cast=[enum.Enum, set])
        records = []
        for i, record in enumerate(raw):
            try:
                if isinstance(record, dict) and record.get("caseNumbers") == []:
                    record["caseNumbers"] = {}  # as the library does
                records.append(dacite.from_dict(data_class=stopncii_api.StopNCIIHashRecord,
                                                data=record, config=config))
            except (ValueError, TypeError, dacite.DaciteError) as exc:
                self._problems.append((f"record {i} from {start_timestamp}",
                                       f"malformed StopNCII record: {exc}"[:300]))
        response = dacite.from_dict(data_class=stopncii_api.FetchHashesResponse,
                                    data={**page, "hashRecords": []}, config=config)
        response.hashRecords = records
        return response


@dataclass
class StopNcii:
    """StopNCII.org's hashes (submitted by people about their own images)."""

    credentials: StopNCIICredentials
    base_url: str
    policy: EgressPolicy
    max_bytes: int
    name: str = "stopncii"
    collection: str = "StopNCII"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.credentials.fetch_function_key, self.credentials.subscription_key)

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        problems: list[tuple[str, str]] = []
        client = _StopNCIIClient(
            self.credentials, base_url=self.base_url, problems=problems,
            session=lambda headers: egress_session(self.policy, self.base_url,
                                                   max_bytes=self.max_bytes, headers=headers))
        start = _checkpoint(StopNCIICheckpoint, checkpoint)
        begin = start.update_time if start else stopncii_api.StopNCIIAPI.DEFAULT_START_TIME
        for result in client.fetch_hashes_iter(start_timestamp=begin):
            records = [_stopncii_record(r) for r in result.hashRecords]
            found, problems[:] = list(problems), []
            found += [(r.key, f"a {r.meta['signal_type']} hash is not one vigil matches")
                      for r in records if not r.signals and not r.deleted]
            yield Page([r for r in records if r.signals or r.deleted], found,
                       asdict(StopNCIICheckpoint.from_stopncii_fetch(result)))

    def step_past(self, checkpoint: dict[str, Any] | None,
                  seconds: int) -> tuple[dict[str, Any], str] | None:
        return _step_update_time(checkpoint, "update_time",
                                 stopncii_api.StopNCIIAPI.DEFAULT_START_TIME, seconds)


def _stopncii_record(r: stopncii_api.StopNCIIHashRecord) -> Fetched:
    key = f"{r.signalType.value}:{r.hashValue}"[:200]
    meta = {"signal_type": r.signalType.value, "status": r.hashStatus.value,
            "cases": len(r.caseNumbers),
            "feedback": sorted({f.feedbackValue.value for f in r.CSPFeedbacks})}
    if r.hashStatus in _WITHDRAWN:
        return Fetched(key, meta=meta, deleted=True)
    st = _STOPNCII_TYPES.get(r.signalType)
    return Fetched(key, ((st, r.hashValue),) if st else (), None, meta)


# -- Meta ThreatExchange ----------------------------------------------------------------------

_TE_TYPES = {"HASH_PDQ": "pdq", "HASH_VIDEO_MD5": "video_md5", "HASH_SHA256": "sha256",
             "HASH_VIDEO_SHA256": "sha256"}
_TE_FIELDS = ("id", "indicator", "type", "last_updated", "should_delete")


class _TEClient(ThreatExchangeAPI):
    """The library's Graph API client; its ``get_json_from_url`` (which calls ``requests.get``
    outside any session) goes through vigil's session, and a malformed update in a page is
    taken out (and reported) before the library's cursor decodes the page."""

    def __init__(self, token: str, *, base_url: str, session: Callable[[], requests.Session],
                 problems: list[tuple[str, str]]) -> None:
        super().__init__(token, endpoint_override=base_url.rstrip("/"))
        self._session = session
        self._problems = problems

    def get_json_from_url(self, url: str, params: dict[str, Any] | None = None, *,
                          json_obj_hook: Callable[..., Any] | None = None) -> Any:
        with self._session() as session:
            response = session.get(url, params=params or {})
            response.raise_for_status()
            page = response.json(object_hook=json_obj_hook)
        if isinstance(page, dict) and isinstance(page.get("data"), list):
            good = []
            for i, item in enumerate(page["data"]):
                problem = _te_problem(item)
                if problem is None:
                    good.append(item)
                else:
                    where = item.get("id") if isinstance(item, dict) else None
                    self._problems.append((f"update {where or f'#{i}'}"[:200], problem))
            page["data"] = good
        return page


def _te_problem(item: object) -> str | None:
    if not isinstance(item, dict):
        return "malformed ThreatExchange update: not an object"
    missing = [f for f in _TE_FIELDS if f not in item]
    if missing:
        return f"malformed ThreatExchange update: missing {', '.join(missing)}"
    try:
        int(item["id"])
        int(item["last_updated"])
    except (TypeError, ValueError):
        return "malformed ThreatExchange update: id and last_updated must be numbers"
    if not isinstance(item["indicator"], str) or not isinstance(item["type"], str):
        return "malformed ThreatExchange update: indicator and type must be text"
    descriptors = item.get("descriptors")
    if descriptors is not None and not (isinstance(descriptors, dict)
                                        and isinstance(descriptors.get("data"), list)):
        return "malformed ThreatExchange update: descriptors must hold a data list"
    return None


class _TEExchange(FBThreatExchangeSignalExchangeAPI):
    """The library's ``/threat_updates`` reader, except for a page with no update: the
    library asserts that none is empty, while a privacy group with nothing new — or a page
    whose every update vigil took out as malformed — answers one. Such a page is an empty
    delta at the same checkpoint (its problems are still recorded), never a failure."""

    def fetch_iter(self, _supported_signal_types: Any,
                   checkpoint: FBThreatExchangeCheckpoint | None) -> Iterator[Any]:
        start_time = None if checkpoint is None else checkpoint.update_time
        cursor = self.client.get_threat_updates(
            self.collab.privacy_group, start_time=start_time, page_size=100,
            fields=ThreatUpdateJSON.te_threat_updates_fields(), decode_fn=ThreatUpdateJSON)
        highest = start_time or 0
        for batch in cursor:
            if batch:
                highest = max(highest, max(update.time for update in batch))
            updates = {(u.threat_type, u.indicator):
                       FBThreatExchangeIndicatorRecord.from_threatexchange_json(
                           self.client.app_id, u) for u in batch}
            yield FetchDelta(updates, FBThreatExchangeCheckpoint(highest))


@dataclass
class ThreatExchange:
    """Meta's ThreatExchange, one privacy group (``/threat_updates``)."""

    credentials: FBThreatExchangeCredentials
    privacy_group: int
    base_url: str
    policy: EgressPolicy
    max_bytes: int
    name: str = "threatexchange"

    @property
    def collection(self) -> str:
        return str(self.privacy_group)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.credentials.api_token,)

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        problems: list[tuple[str, str]] = []
        client = _TEClient(self.credentials.api_token, base_url=self.base_url, problems=problems,
                           session=lambda: egress_session(self.policy, self.base_url,
                                                          max_bytes=self.max_bytes))
        api = _TEExchange(client, FBThreatExchangeCollabConfig(
            name=self.collection, privacy_group=self.privacy_group))
        for delta in api.fetch_iter([], _checkpoint(FBThreatExchangeCheckpoint, checkpoint)):
            records = []
            found, problems[:] = list(problems), []
            for (threat_type, indicator), record in delta.updates.items():
                key = f"{threat_type}:{indicator}"[:200]
                if record is None:
                    records.append(Fetched(key, deleted=True))
                    continue
                tags = sorted({t for o in record.opinions for t in o.tags})
                st = _TE_TYPES.get(threat_type)
                if threat_type == "HASH_MD5":
                    st = "video_md5" if "media_type_video" in tags else "md5"
                if st is None:
                    found.append((key, f"a {threat_type} indicator is not a hash vigil matches"))
                    continue
                meta = {"threat_type": threat_type, "tags": tags,
                        "owners": sorted({o.owner_app_id for o in record.opinions}),
                        "opinions": sorted({o.category.name for o in record.opinions})}
                records.append(Fetched(key, ((st, indicator),), None, meta))
            yield Page(records, found, asdict(delta.checkpoint))

    def step_past(self, checkpoint: dict[str, Any] | None,
                  seconds: int) -> tuple[dict[str, Any], str] | None:
        """``/threat_updates`` is read from an update time (``start_time``): it moves on."""
        return _step_update_time(checkpoint, "update_time", 0, seconds)


# -- local files ------------------------------------------------------------------------------

#: threatexchange's signal type names in a local file, and vigil's own (which vigil writes).
_FILE_TYPES = {"pdq": "pdq", "video_md5": "video_md5", "video_sha256": "sha256", "vpdq": "vpdq",
               "md5": "md5", "sha256": "sha256", "sha1": "sha1"}


@dataclass
class LocalFile:
    """A threatexchange local file (``<signal type> <hash>`` per line), read by the library's
    ``LocalFileSignalExchangeAPI`` after its size was checked."""

    path: Path
    max_bytes: int
    name: str = "file"
    secrets: tuple[str, ...] = ()

    @property
    def collection(self) -> str:
        return str(self.path)[:200]

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        """Checks and reads the file at once (a bad file raises :class:`Invalid` before any
        page), then gives its one page."""
        try:
            size = self.path.stat().st_size
            is_file = self.path.is_file()
        except OSError as exc:
            raise Invalid(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        if not is_file:
            raise Invalid(f"{self.path}: not a regular file")
        if size > self.max_bytes:
            raise Invalid(f"{self.path}: {size} bytes, more than the {self.max_bytes} allowed")
        api = LocalFileSignalExchangeAPI(FileCollaborationConfig(name=self.collection,
                                                                 filename=str(self.path)))
        try:
            deltas = list(api.fetch_iter([], None))
        except UnicodeDecodeError as exc:
            raise Invalid(f"{self.path}: not UTF-8 text (byte {exc.start})") from None
        return self._pages(deltas)

    def _pages(self, deltas: list[Any]) -> Iterator[Page]:
        for delta in deltas:
            records, problems = [], []
            for (type_name, value), _meta in delta.updates.items():
                key = f"{type_name} {value}"[:200]
                st = _FILE_TYPES.get(type_name.lower())
                if st is None:
                    problems.append((key, f"signal type {type_name!r} is not one vigil matches "
                                          f"(known: {', '.join(sorted(_FILE_TYPES))})"))
                else:
                    records.append(Fetched(key, ((st, value),)))
            # A file is read whole each time: no position to keep (what was imported is
            # remembered per record instead).
            yield Page(records, problems, asdict(FetchCheckpointBase()))

    def step_past(self, checkpoint: dict[str, Any] | None,
                  seconds: int) -> tuple[dict[str, Any], str] | None:
        return None  # a bad file is refused whole, before any page


# -- Project VIC ------------------------------------------------------------------------------

@dataclass
class VicsImport:
    """A VICS 1.3 media file (:mod:`vigil.matching.vics`): MD5, SHA1 and PDQ of each media
    become indicators, its category the label, the rest (MediaID, Series, the flags, PhotoDNA) kept
    with them. Read whole, checked against the size and record limits before parsing, in
    pages of :data:`VICS_PAGE` records."""

    path: Path
    max_bytes: int
    max_records: int
    name: str = "vics"
    secrets: tuple[str, ...] = ()

    @property
    def collection(self) -> str:
        return str(self.path)[:200]

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        """Reads the file at once (a bad file raises :class:`Invalid` before any page)."""
        try:
            read = read_vics_file(self.path, max_bytes=self.max_bytes,
                                  max_records=self.max_records)
        except VicsError as exc:
            raise Invalid(exc.message) from None
        return self._pages(read)

    def _pages(self, read: VicsFile) -> Iterator[Page]:
        problems = [(f"MediaID {p.media_id}" if p.media_id is not None else f"record {p.index}",
                     p.error) for p in read.problems]
        for start in range(0, max(len(read.media), 1), VICS_PAGE):
            chunk = read.media[start:start + VICS_PAGE]
            records = [Fetched(f"MediaID {m.media_id}"[:200], tuple(m.signals()),
                               None if m.category is None else f"VICS category {m.category}",
                               m.flags()) for m in chunk]
            yield Page(records, problems if start == 0 else [], None)

    def step_past(self, checkpoint: dict[str, Any] | None,
                  seconds: int) -> tuple[dict[str, Any], str] | None:
        return None  # a bad file is refused whole, before any page


#: Records per page (one transaction each) of a VICS import.
VICS_PAGE = 1000


# -- from the settings ------------------------------------------------------------------------

def _secret_text(setting: str | None, credentials_file: Path | None, what: str,
                 variable: str) -> str:
    if credentials_file is not None:
        try:
            return credentials_file.read_text().strip()
        except OSError as exc:
            raise Invalid(f"{credentials_file}: cannot read the {what} credentials: "
                          f"{exc.strerror or exc}") from None
    if setting:
        return setting.strip()
    raise Invalid(f"no {what} credentials: set {variable} or give --credentials-file")


def _parse_credentials(cls: type[Any], text: str, what: str, form: str) -> Any:
    try:
        creds = cls._from_str(text)
    except (ValueError, TypeError):
        creds = None
    if creds is None or not creds._are_valid():
        raise Invalid(f"the {what} credentials are not in the form {form}")
    return creds


def programme_for(name: str, settings: Settings, *, credentials_file: Path | None = None,
                  path: Path | None = None) -> Programme:
    """The programme ``name`` configured from ``settings``: its URL (the public one unless the
    settings say otherwise), its credentials (from the settings, or ``credentials_file``: the
    library's own text forms), the egress policy and the response limit. Raises
    :class:`~vigil.errors.Invalid` naming what is missing or wrong."""
    policy, limit = settings.egress(), settings.exchange_max_response_bytes
    if name == "ncmec":
        try:
            env = ncmec_api.NCMECEnvironment[settings.exchange_ncmec_environment]
        except KeyError:
            known = ", ".join(e.name for e in ncmec_api.NCMECEnvironment)
            raise Invalid(f"unknown NCMEC environment {settings.exchange_ncmec_environment!r} "
                          f"(known: {known})") from None
        text = _secret_text(settings.exchange_ncmec_credentials, credentials_file, "NCMEC",
                            "VIGIL_EXCHANGE_NCMEC_CREDENTIALS")
        creds = _parse_credentials(NCMECCredentials, text, "NCMEC", "USER:PASSWORD")
        return Ncmec(env, creds, settings.exchange_ncmec_url or env.value, policy, limit)
    if name == "stopncii":
        text = _secret_text(settings.exchange_stopncii_keys, credentials_file, "StopNCII",
                            "VIGIL_EXCHANGE_STOPNCII_KEYS")
        creds = _parse_credentials(StopNCIICredentials, text, "StopNCII",
                                   "FETCH_FUNCTION_KEY,SUBSCRIPTION_KEY")
        # A base URL in a credentials text is the library's test hook; vigil's comes from the
        # settings only.
        return StopNcii(creds, settings.exchange_stopncii_url or stopncii_api.StopNCIIAPI.BASE_URL,
                        policy, limit)
    if name == "threatexchange":
        if settings.exchange_threatexchange_privacy_group is None:
            raise Invalid("no ThreatExchange privacy group: set "
                          "VIGIL_EXCHANGE_THREATEXCHANGE_PRIVACY_GROUP")
        text = _secret_text(settings.exchange_threatexchange_token, credentials_file,
                            "ThreatExchange", "VIGIL_EXCHANGE_THREATEXCHANGE_TOKEN")
        creds = _parse_credentials(FBThreatExchangeCredentials, text, "ThreatExchange",
                                   "APP_ID|TOKEN")
        return ThreatExchange(creds, settings.exchange_threatexchange_privacy_group,
                              settings.exchange_threatexchange_url
                              or ThreatExchangeAPI._TE_BASE_URL, policy, limit)
    if name in ("file", "vics"):
        if path is None:
            raise Invalid(f"the {name} programme needs --file PATH")
        if name == "vics":
            return VicsImport(path, settings.exchange_max_file_bytes,
                              settings.exchange_max_records)
        return LocalFile(path, settings.exchange_max_file_bytes)
    raise Invalid(f"unknown programme {name!r} (known: {', '.join(PROGRAMMES)})")


__all__ = ["PROGRAMMES", "Fetched", "LocalFile", "Ncmec", "Page",
           "Programme", "StopNcii", "ThreatExchange", "programme_for", "redact"]
