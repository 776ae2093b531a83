"""Hash-list files and matching against them.

Four formats are read, told apart by content (not by file name), and one kind of folder:

* CSV: ``signal_type,value[,id,label]`` per line; an optional header line naming those columns.
* JSONL: one object per line with ``signal_type``, ``value`` and optionally ``id``, ``label``;
  or the output of ``vigil hash`` as it is (each record's hashes, its path as the id).
* threatexchange's local-file format: ``<signal_type> <value>`` per line (e.g. ``pdq 3f...``),
  also written here (:func:`te_text`, for ``vigil exchange export``).
* Project VIC's VICS 1.3 JSON (and 2.0 with the same fields), read by :mod:`vigil.matching.vics`
  (the format's one home): a JSON object whose first property is the VICS envelope
  (``odata.metadata`` / ``@odata.context``, :func:`~vigil.matching.vics.looks_like_vics`). Each
  media's MD5, SHA1 and PDQ become entries with its MediaID as their id, and its Category,
  Series and VictimIdentified their :class:`EntryFacts`; PhotoDNA is not matched (vigil does not
  compute it). The records are counted before the file is parsed
  (:data:`MAX_VICS_RECORDS`), and a bad record stops the read like a bad line.
* a folder kept by ``vigil sync`` (:mod:`vigil.exchange.sync`): a state file
  (:data:`SYNC_STATE`), the signed snapshot it started from and the signed pages of the change
  feed since, each exactly as the server sent it (:func:`read_synced_folder`); the list is the
  snapshot's entries with every page's additions and withdrawals applied in order.

Files are UTF-8 (a byte-order mark is dropped) with any line ends (``\n``, ``\r\n``, ``\r``),
read by one reader (:func:`read_list_text`) for every format and for the signature check.
Blank lines and lines starting with ``#`` are ignored. Any other bad line stops the read with a
:class:`ListFileError` that names the line number and the problem: a list with a bad line is
not half-loaded.

A loaded list is a :class:`~vigil.matching.policy.CandidateSource` with a trust level and a
PDQ threshold (:func:`load_list`): a signed snapshot carries both; a plain file gets what the
caller says, and is *unverified* unless told otherwise — a hash of unknown provenance is a
reason for review, never for action.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.matching.codes import pack_hex
from vigil.matching.errors import InvalidSignal, ListFileError
from vigil.matching.exact import ExactIndex
from vigil.matching.index import PdqIndex
from vigil.matching.policy import Candidate, ListRef, Trust
from vigil.matching.signals import (
    DIGEST_BYTES,
    PDQ_DEFAULT_THRESHOLD,
    Digest,
    PdqHash,
    SignalType,
    VpdqHash,
    parse_signal,
)
from vigil.matching.vics import VicsError, VicsMedia, looks_like_vics, read_vics_text
from vigil.matching.video import vpdq_compare

MAX_LIST_BYTES = 2 * 1024**3
#: Most media one VICS hash set may hold (the design point: 10 million indicators on one
#: machine), counted in the text before it is parsed.
MAX_VICS_RECORDS = 10_000_000

@dataclass(frozen=True)
class EntryFacts:
    """What a forensic hash set says about the material behind a hash (Project VIC's VICS
    fields): its ``category`` (the set's own scheme, e.g. VICS 1-3 or a classification such
    as "A1"), the ``series`` it belongs to, and whether its victim was identified. Carried
    through to the hits of ``vigil scan``; the match policy does not read them."""

    category: str | None = None
    series: str | None = None
    victim_identified: bool | None = None

    @classmethod
    def of(cls, obj: dict[str, object], where: str) -> EntryFacts | None:
        """The facts of a JSON entry (keys ``category``, ``series``, ``victim_identified``),
        or None when it has none; a ``victim_identified`` that is not a boolean is an error
        (ValueError naming ``where``)."""
        category, series, victim = (obj.get("category"), obj.get("series"),
                                    obj.get("victim_identified"))
        if category is None and series is None and victim is None:
            return None
        if victim is not None and not isinstance(victim, bool):
            raise ValueError(f"{where}victim_identified must be true or false, got {victim!r}")
        for name, value in (("category", category), ("series", series)):
            if value is not None and (not isinstance(value, str | int) or isinstance(value, bool)
                                      or len(str(value)) > 200):
                raise ValueError(f"{where}{name} must be a string or a number of at most "
                                 f"200 characters, got {str(value)[:80]!r}")
        return cls(None if category is None else str(category),
                   None if series is None else str(series), victim)

    @classmethod
    def of_vics(cls, m: VicsMedia) -> EntryFacts | None:
        """The facts of a VICS media record: its Category (VICS's number, as text), Series
        and VictimIdentified; None when it has none."""
        if m.category is None and m.series is None and m.victim_identified is None:
            return None
        return cls(None if m.category is None else str(m.category), m.series,
                   m.victim_identified)


#: (signal type, value, id, label, what the entry says about the material)
_Row = tuple[str, str, str | None, str | None, EntryFacts | None]


@dataclass(frozen=True)
class ListEntry:
    signal_type: SignalType
    value: str  # normalised text form
    id: str
    label: str | None
    line: int
    #: Category, series, victim identified — where the list file says (JSONL, snapshots).
    facts: EntryFacts | None = None


def read_list_text(path: Path | str) -> str:
    """A list file's text: the one reader of every list format *and* of the signature check,
    so that both see the same text (at most :data:`MAX_LIST_BYTES`; UTF-8, a byte-order mark
    dropped; line ends of any kind are split later). Raises :class:`ListFileError`."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_LIST_BYTES:
            raise ListFileError(f"{p}: list file larger than {MAX_LIST_BYTES} bytes")
        raw = p.read_bytes()
    except OSError as exc:
        raise ListFileError(f"{p}: cannot read list file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ListFileError(f"{p}: not UTF-8 text (byte {exc.start})") from None


def read_list(path: Path | str) -> list[ListEntry]:
    return parse_list(read_list_text(path), source=str(path))


SNAPSHOT_FORMAT = "vigil-list-v1"


def load_snapshot_object(text: str) -> dict[str, object] | None:
    """The JSON object of a list snapshot downloaded from a vigil server, or None if the text
    is not one."""
    if not text.lstrip().startswith("{") or SNAPSHOT_FORMAT not in text[:4096]:
        return None
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    if isinstance(obj, dict) and obj.get("format") == SNAPSHOT_FORMAT and obj.get("type") == "snapshot":
        return obj
    return None


def parse_snapshot(obj: dict[str, object], source: str = "<snapshot>") -> list[ListEntry]:
    entries = obj.get("entries")
    if not isinstance(entries, list):
        raise ListFileError(f"{source}: snapshot has no entries list")
    return [served_entry(e, f"{source}, entry {i}", i) for i, e in enumerate(entries)]


def served_entry(e: object, where: str, i: int) -> ListEntry:
    """An entry as a vigil server sends it (a snapshot's entry, a feed's addition)."""
    if not isinstance(e, dict):
        raise ListFileError(f"{where}: expected an object")
    try:
        st = SignalType.parse(str(e.get("signal_type")))
        signal = parse_signal(st, e.get("value"))
    except InvalidSignal as exc:
        raise ListFileError(f"{where}: {exc.message}") from None
    label = e.get("label")
    try:
        facts = EntryFacts.of(e, "")
    except ValueError as exc:
        raise ListFileError(f"{where}: {exc}") from None
    return ListEntry(st, _text(signal), str(e.get("id", i)), None if label is None else str(label),
                     i + 1, facts)


# -- folders kept by ``vigil sync`` ----------------------------------------------------------

#: The state file of a synced folder: what it holds and up to where (vigil.exchange.sync
#: writes it last, atomically: it is the folder's commit point).
SYNC_STATE = "vigil-sync.json"
SYNC_FORMAT = "vigil-sync-v1"


@dataclass(frozen=True)
class SyncedFolder:
    """A synced folder as read: its state, the snapshot object and the feed pages, in order."""

    path: Path
    state: dict[str, object]
    snapshot: dict[str, object]
    pages: list[dict[str, object]]


def is_synced_folder(path: Path | str) -> bool:
    return Path(path).is_dir()


def read_synced_folder(path: Path | str) -> SyncedFolder:
    """Read a folder kept by ``vigil sync``: the state file, then the files it names, each
    through :func:`read_list_text` (the one reader, with its size limit). Raises
    :class:`ListFileError` naming the problem (not a synced folder, a file missing, a page out
    of order)."""
    p = Path(path)
    if not (p / SYNC_STATE).is_file():
        raise ListFileError(f"{p}: a folder, but not one kept by 'vigil sync' (no {SYNC_STATE})")
    state = _json_file(p / SYNC_STATE)
    if state.get("format") != SYNC_FORMAT:
        raise ListFileError(f"{p / SYNC_STATE}: not a vigil sync state ({SYNC_FORMAT})")
    names = state.get("pages")
    if not isinstance(state.get("snapshot"), str) or not isinstance(names, list):
        raise ListFileError(f"{p / SYNC_STATE}: names no snapshot or pages")
    snapshot = load_snapshot_object(read_list_text(_inside(p, state["snapshot"])))
    if snapshot is None:
        raise ListFileError(f"{p}: {state['snapshot']} is not a vigil list snapshot")
    pages = []
    position = snapshot.get("seq")
    # A folder the sync client of this version keeps ("chained"): every page starts where the
    # one before ended (the first, at the snapshot), and the state is at the last page's end;
    # a page dropped from the middle, or the last one without moving the state back, shows.
    chained = state.get("chained") is True
    for name in names:
        page = _json_file(_inside(p, name))
        if page.get("format") != SNAPSHOT_FORMAT or page.get("type") != "changes" \
                or page.get("list") != snapshot.get("list"):
            raise ListFileError(f"{p}: {name} is not a change feed page of list "
                                f"{snapshot.get('list')!r}")
        since, until = page.get("since"), page.get("until")
        if not (isinstance(since, int) and isinstance(until, int) and isinstance(position, int)
                and position <= since <= until):
            raise ListFileError(f"{p}: {name} is out of order (from {since}, the folder was "
                                f"at {position})")
        if chained and since != position:
            raise ListFileError(f"{p}: {name} starts at feed position {since}, but the folder "
                                f"was at {position}: a page between them is missing")
        position = until
        pages.append(page)
    seq = state.get("seq")
    if not isinstance(seq, int) or not isinstance(position, int) or seq < position:
        raise ListFileError(f"{p / SYNC_STATE}: its position {seq} is behind its pages")
    if chained and seq != position:
        raise ListFileError(f"{p / SYNC_STATE}: its position {seq} is not where its last page "
                            f"ends ({position}): a page is missing")
    return SyncedFolder(p, state, snapshot, pages)


def _inside(folder: Path, name: object) -> Path:
    """A file the state names, which must be a plain name inside the folder."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ListFileError(f"{folder / SYNC_STATE}: names a file outside the folder ({name!r})")
    return folder / name


def _json_file(path: Path) -> dict[str, object]:
    try:
        obj = json.loads(read_list_text(path))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ListFileError(f"{path}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(obj, dict):
        raise ListFileError(f"{path}: expected a JSON object")
    return obj


def synced_entries(folder: SyncedFolder) -> list[ListEntry]:
    """The folder's list: the snapshot's entries, then each page's changes in order (``add``
    puts an entry in, ``withdraw`` takes it out, by the server's id)."""
    source = str(folder.path)
    by_id = {e.id: e for e in parse_snapshot(folder.snapshot, source)}
    for page in folder.pages:
        changes = page.get("changes")
        if not isinstance(changes, list):
            raise ListFileError(f"{source}: a page without changes")
        for i, c in enumerate(changes):
            if not isinstance(c, dict) or c.get("action") not in ("add", "withdraw"):
                raise ListFileError(f"{source}, change {c.get('seq') if isinstance(c, dict) else i}: "
                                    "not an addition or a withdrawal")
            if c["action"] == "withdraw":
                by_id.pop(str(c.get("id")), None)
            else:
                entry = served_entry(c, f"{source}, change {c.get('seq')}", i)
                by_id.pop(entry.id, None)  # an addition again: at the end, like a new one
                by_id[entry.id] = entry
    return list(by_id.values())


def list_from_synced(folder: SyncedFolder, *, trust: Trust | None = None,
                     threshold: int | None = None, signed: bool = False) -> HashList:
    """A synced folder ready for the match policy, like :func:`list_from_text` for a snapshot:
    its own trust once the caller verified its signatures (``signed``), else ``trust``."""
    level = snapshot_trust(folder.snapshot) if signed else (trust or Trust.UNVERIFIED)
    t = threshold if threshold is not None else _threshold(folder.snapshot.get("pdq_threshold"),
                                                           folder.path)
    return HashList(synced_entries(folder), ListRef(str(folder.snapshot.get("list") or folder.path),
                                                    level, t))


def parse_list(text: str, source: str = "<list>") -> list[ListEntry]:
    snapshot = load_snapshot_object(text)
    if snapshot is not None:
        return parse_snapshot(snapshot, source)
    if looks_like_vics(text):
        return parse_vics(text, source)
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    parse: Callable[[str], _Row | None]
    first_word = first.split(None, 1)[0].lower() if first else ""
    if first.startswith("{"):
        parse = _jsonl_row
    elif first_word in {s.value for s in SignalType} and first[len(first_word):][:1].isspace():
        parse = _te_row
    elif "," in first:
        parse = _csv_row
    else:
        parse = _te_row
    entries: list[ListEntry] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            rows = _jsonl_rows(stripped) if parse is _jsonl_row else [parse(stripped)]
        except (InvalidSignal, ValueError) as exc:
            msg = exc.message if isinstance(exc, InvalidSignal) else str(exc)
            raise ListFileError(f"{source}, line {number}: {msg}") from None
        for row in rows:
            if row is None:  # header
                continue
            st_name, value, ident, label, facts = row
            try:
                st = SignalType.parse(st_name)
                signal = parse_signal(st, value)
            except InvalidSignal as exc:
                raise ListFileError(f"{source}, line {number}: {exc.message}") from None
            entries.append(ListEntry(st, _text(signal), ident or str(number), label or None,
                                     number, facts))
    return entries


def parse_vics(text: str, source: str = "<vics>") -> list[ListEntry]:
    """The entries of a VICS media file (see the module docstring). Raises
    :class:`ListFileError` for a file that is not one, one over :data:`MAX_VICS_RECORDS`, or
    one with a bad record (named by its place in ``value`` and its MediaID): a hash set is
    never half-loaded."""
    try:
        read = read_vics_text(text, max_records=MAX_VICS_RECORDS)
    except VicsError as exc:
        raise ListFileError(f"{source}: {exc.message}") from None
    if read.problems:
        p = read.problems[0]
        which = f"value[{p.index}]" + (f" (MediaID {p.media_id})" if p.media_id is not None else "")
        more = len(read.problems) - 1
        raise ListFileError(f"{source}, VICS record {which}: {p.error}"
                            + (f" (and {more} more bad record(s))" if more else ""))
    entries = []
    for number, m in enumerate(read.media, start=1):
        facts = EntryFacts.of_vics(m)
        entries += [ListEntry(SignalType(st), value, str(m.media_id), None, number, facts)
                    for st, value in m.signals()]
    return entries


def _text(signal: PdqHash | Digest | VpdqHash) -> str:
    if isinstance(signal, VpdqHash):
        return signal.to_str()
    return signal.hex


def _csv_row(line: str) -> _Row | None:
    cells = next(csv.reader(io.StringIO(line)))
    if [c.strip().lower() for c in cells[:2]] == ["signal_type", "value"]:
        return None
    if not 2 <= len(cells) <= 4:
        raise ValueError(f"expected 2 to 4 columns (signal_type,value[,id,label]), got {len(cells)}")
    cells += [""] * (4 - len(cells))
    return (cells[0].strip(), cells[1].strip(), cells[2].strip() or None,
            cells[3].strip() or None, None)


#: The hashes of a ``vigil hash`` record that become list entries (its dihedral variants do
#: not: a list holds the picture, the query side turns it).
_HASH_RECORD_FIELDS = {"image": ("md5", "sha256", "sha1", "pdq"),
                       "video": ("md5", "sha256", "sha1", "vpdq")}


def _jsonl_rows(line: str) -> list[_Row]:
    """One JSONL line: a list entry (``signal_type``, ``value``), or a record of ``vigil hash``
    (``path``, ``kind`` and its hashes: one entry per hash, its id the path; a record of a
    file that could not be hashed holds none)."""
    obj = _json_object(line)
    if "signal_type" not in obj and "path" in obj and ("kind" in obj or "error" in obj):
        if "error" in obj:
            return []
        fields = _HASH_RECORD_FIELDS.get(str(obj["kind"]))
        if fields is None:
            raise ValueError(f"a vigil hash record of unknown kind {obj['kind']!r}")
        rows: list[_Row] = []
        for name in fields:
            value = obj.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"a vigil hash record's {name!r} must be a hash, got {value!r}")
            if isinstance(value, str):
                st = "video_md5" if name == "md5" and obj["kind"] == "video" else name
                rows.append((st, value, str(obj["path"]), None, None))
        if not rows:
            raise ValueError("a vigil hash record without hashes")
        return rows
    return [_jsonl_row(line, obj)]


def _json_object(line: str) -> dict[str, object]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise ValueError("invalid JSON (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return obj


def _jsonl_row(line: str, parsed: dict[str, object] | None = None) -> _Row:
    obj = parsed if parsed is not None else _json_object(line)
    for key in ("signal_type", "value"):
        if key not in obj:
            raise ValueError(f"missing field {key!r}")
    if not isinstance(obj["signal_type"], str):
        raise ValueError("signal_type must be a string")
    value = obj["value"]
    if not isinstance(value, str):
        value = json.dumps(value)  # a vpdq frame list given as JSON
    ident = obj.get("id")
    label = obj.get("label")
    return (obj["signal_type"], value, None if ident is None else str(ident),
            None if label is None else str(label), EntryFacts.of(obj, ""))


def _te_row(line: str) -> _Row:
    parts = line.split(None, 1)
    if len(parts) != 2:
        raise ValueError("expected '<signal_type> <value>'")
    return parts[0], parts[1].strip(), None, None, None


def te_line(signal_type: SignalType | str, value: str) -> str:
    """One line of threatexchange's local-file format, as :func:`_te_row` reads it back:
    ``<signal type> <hash>`` (threatexchange's ``LocalFileSignalExchangeAPI`` reads it too; it
    knows ``pdq`` and ``video_md5`` by these names and passes over vigil's other types)."""
    st = SignalType.parse(signal_type) if isinstance(signal_type, str) else signal_type
    signal = parse_signal(st, value)
    return f"{st.value} {_text(signal)}"


def te_text(rows: Sequence[tuple[SignalType | str, str]]) -> str:
    """A threatexchange local file of (signal type, hash) rows."""
    return "".join(te_line(st, v) + "\n" for st, v in rows)


@dataclass(frozen=True)
class ListMatch:
    entry: ListEntry
    signal_type: SignalType
    distance: int | None = None  # pdq: bits; vpdq: None (see percentages)
    query_match_percent: float | None = None
    target_match_percent: float | None = None


def load_list(path: Path | str, *, trust: Trust | None = None,
              threshold: int | None = None, signed: bool = False) -> HashList:
    """A list file ready for the match policy. A snapshot's own threshold applies
    (``threshold`` overrides it) and, once its signature was verified by the caller
    (``signed``: ``vigil.indicators.feeds.verify``), its own trust, which cannot be overridden;
    a plain file, or an unverified snapshot, is ``trust`` (default unverified) at
    ``threshold`` (default 31)."""
    if is_synced_folder(path):
        return list_from_synced(read_synced_folder(path), trust=trust, threshold=threshold,
                                signed=signed)
    return list_from_text(read_list_text(path), str(path), trust=trust, threshold=threshold,
                          signed=signed)


def list_from_text(text: str, source: str, *, trust: Trust | None = None,
                   threshold: int | None = None, signed: bool = False) -> HashList:
    """:func:`load_list` on text read by :func:`read_list_text` (a caller that checks the
    snapshot's signature reads it once, for both). ``signed``: whether a snapshot's signature
    was verified; if not, its trust is not taken (anyone can write "verified" into a file):
    it is ``trust`` (default unverified) like a plain file's."""
    entries = parse_list(text, source)
    snapshot = load_snapshot_object(text)
    if snapshot is not None:
        level = snapshot_trust(snapshot) if signed else (trust or Trust.UNVERIFIED)
        t = threshold if threshold is not None else _threshold(snapshot.get("pdq_threshold"),
                                                               Path(source))
        return HashList(entries, ListRef(str(snapshot.get("list") or source), level, t))
    return HashList(entries, ListRef(source, trust or Trust.UNVERIFIED,
                                     PDQ_DEFAULT_THRESHOLD if threshold is None else threshold))


def snapshot_trust(snapshot: dict[str, object]) -> Trust:
    """A snapshot's trust; one without (older servers) counts as unverified unless it is an
    allow list — the safe side."""
    raw = snapshot.get("trust")
    if raw is None:
        return Trust.ALLOW if snapshot.get("kind") == "allow" else Trust.UNVERIFIED
    try:
        return Trust.parse(str(raw))
    except ValueError as exc:
        raise ListFileError(str(exc)) from None


def _threshold(value: object, p: Path) -> int:
    if value is None:
        return PDQ_DEFAULT_THRESHOLD
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 64:
        raise ListFileError(f"{p}: pdq_threshold must be an integer 0-64, got {value!r}")
    return value


class FactsLookup:
    """What the hash sets say about the entries hits point at (:class:`EntryFacts` by list
    name and entry id), for the output of ``vigil match`` and ``vigil scan``: the match
    policy's :class:`~vigil.matching.policy.Candidate` carries the entry's id, not its facts."""

    def __init__(self, lists: Sequence[HashList]) -> None:
        self.by_list: dict[str, dict[str, EntryFacts]] = {}
        for hl in lists:
            known = {e.id: e.facts for e in hl.entries if e.facts is not None}
            if known:
                self.by_list.setdefault(hl.ref.name, {}).update(known)

    def of(self, c: Candidate) -> EntryFacts | None:
        return self.by_list.get(c.list.name, {}).get(str(c.key))


class HashList:
    """A list loaded for matching: a PDQ index, exact indexes and vPDQ entries. As a
    :class:`~vigil.matching.policy.CandidateSource` it answers with its ``ref`` (name, trust,
    threshold)."""

    def __init__(self, entries: list[ListEntry], ref: ListRef | None = None) -> None:
        self.entries = entries
        self.ref = ref or ListRef("list", Trust.UNVERIFIED)
        pdq_rows = [i for i, e in enumerate(entries) if e.signal_type is SignalType.PDQ]
        self.pdq = PdqIndex.build(
            pack_hex([entries[i].value for i in pdq_rows]) if pdq_rows else np.empty((0, 4), np.uint64),
            np.array(pdq_rows, dtype=np.int64),
        )
        self.exact: dict[SignalType, ExactIndex] = {}
        for st, size in DIGEST_BYTES.items():
            rows = [i for i, e in enumerate(entries) if e.signal_type is st]
            index = ExactIndex(size)
            if rows:
                index.add([entries[i].value for i in rows], rows)
            self.exact[st] = index
        self.videos = [(i, VpdqHash.parse(e.value)) for i, e in enumerate(entries)
                       if e.signal_type is SignalType.VPDQ]

    def match_pdq(self, hashes: list[str], threshold: int = PDQ_DEFAULT_THRESHOLD
                  ) -> list[list[ListMatch]]:
        res = self.pdq.search_batch(hashes, threshold)
        return [[ListMatch(self.entries[m.id], SignalType.PDQ, m.distance)
                 for m in res.for_query(i)] for i in range(len(hashes))]

    def match_digest(self, signal_type: SignalType, value: str) -> list[ListMatch]:
        types = [signal_type]
        if signal_type is SignalType.MD5:
            types.append(SignalType.VIDEO_MD5)  # an MD5 is an MD5, whatever the file
        elif signal_type is SignalType.VIDEO_MD5:
            types.append(SignalType.MD5)
        return [ListMatch(self.entries[i], self.entries[i].signal_type, 0)
                for st in types for i in self.exact[st].lookup(value)]

    def match_vpdq(self, video: VpdqHash, threshold: int = PDQ_DEFAULT_THRESHOLD
                   ) -> list[ListMatch]:
        out = []
        for i, target in self.videos:
            result = vpdq_compare(video, target, distance=threshold)
            if result.is_match():
                out.append(ListMatch(self.entries[i], SignalType.VPDQ, None,
                                     result.query_match_percent, result.target_match_percent))
        return out

    # -- as a candidate source for the match policy -------------------------------------------

    def pdq_candidates(self, hexes: Sequence[str]) -> list[list[Candidate]]:
        return [[Candidate(m.entry.id, self.ref, SignalType.PDQ, m.distance, m.entry.label)
                 for m in found] for found in self.match_pdq(list(hexes), self.ref.pdq_threshold)]

    def digest_candidates(self, signal_type: SignalType, hex_value: str) -> list[Candidate]:
        return [Candidate(m.entry.id, self.ref, m.signal_type, 0, m.entry.label)
                for m in self.match_digest(signal_type, hex_value)]

    def vpdq_candidates(self, video: VpdqHash) -> list[Candidate]:
        return [Candidate(m.entry.id, self.ref, SignalType.VPDQ, None, m.entry.label,
                          query_match_percent=m.query_match_percent,
                          target_match_percent=m.target_match_percent)
                for m in self.match_vpdq(video, self.ref.pdq_threshold)]
