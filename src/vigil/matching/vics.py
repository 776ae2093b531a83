"""Project VIC's VICS 1.3 JSON: read and write its media records.

The format (an OData JSON feed of the VICS data model, as forensic tools exchange it)::

    {"odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
     "value": [{"MediaID": 1, "Category": 1, "MD5": "A1B2...", "SHA1": "C3D4...",
                "MediaSize": 48213, "Series": "name", "VictimIdentified": true,
                "OffenderIdentified": false, "IsDistributed": true, "IsPrecategorized": true,
                "Tags": "A1", "RelativeFilePath": "case/dir/x.jpg",
                "DateUpdated": "2026-08-15T10:00:00Z",
                "MediaFiles": [{"MD5": "A1B2...", "FileName": "x.jpg", "FilePath": "case/dir",
                                "Unallocated": false}],
                "AlternativeHashes": [{"HashName": "PhotoDNA", "HashValue": "<base64>"},
                                      {"HashName": "PDQ", "HashValue": "<64 hex>"}]},
               ...]}

Sources of the field names and the envelope: the VICS data model's OData metadata URL
(``.../ProjectVic/DataModels/1.3.xml#Media``, and ``#Cases`` for case exports), and the public
readers that check it — IPED's hash database tool (``sepinf-inc/IPED``,
``iped-engine/src/main/java/iped/engine/hashdb/HashDBTool.java``: the 1.3 key
``odata.metadata`` and the 2.0 key ``@odata.context`` with
``http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media``;
MD5 and SHA1 per media; PhotoDNA as an ``AlternativeHashes`` entry named ``PhotoDNA``;
``VictimIdentified``, ``OffenderIdentified``, ``IsDistributed``, ``Series``, ``Category``).
Files in the wild write the flags as JSON booleans or as the strings ``"true"``/``"false"``,
and the hashes in upper case; both are read, and written as booleans and upper case.

vigil reads media (``#Media``) files of version 1.3, and 2.0 files with the same fields.
PhotoDNA is kept as opaque text (vigil does not compute or match it; it travels with the
record so that an export gives it back). A PDQ travels as an ``AlternativeHashes`` entry named
``PDQ`` (as vigil's scan writes it) and is matched like MD5 and SHA1. Reading is bounded: the
file's size *before* anything is parsed, and the number of records *while* parsing — the
``value`` array is read one record at a time and reading stops at the first record over the
limit, so a file cannot make the reader build more records than the limit allows, however it spells its keys (a count of
``"MediaID"`` in the raw bytes, as this module did before, was defeated by an escape such as
``"Media\u0049D"``). A malformed record is skipped and reported (:class:`VicsProblem`), never
the whole file; a malformed file raises :class:`VicsError` naming the problem.

This module is the one home of the format: the exchange import and export
(:mod:`vigil.exchange.programmes`, :mod:`vigil.sharing.exports`), ``vigil scan``'s
``vics.json`` (:mod:`vigil.scan.results`) and the hash-set reader of ``vigil match`` and
``vigil scan`` (:mod:`vigil.matching.listfile`) all go through it. It lives in the matching core,
beside the other list formats, so that the list reader can use it.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vigil.matching.errors import InvalidSignal
from vigil.matching.signals import Digest, PdqHash, SignalType

CONTEXT_13 = "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media"
CONTEXT_20 = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media"
_ENVELOPES = {"odata.metadata": CONTEXT_13, "@odata.context": CONTEXT_20}
#: The envelope as a property name (a key followed by ':'; not a value such as a label).
_ENVELOPE_KEY = re.compile(r'"(?:odata\.metadata|@odata\.context)"\s*:')
#: How far into a text :func:`looks_like_vics` looks for the envelope: OData JSON puts it
#: first (``odata.metadata`` must be the first property of a 1.3 feed, ``@odata.context`` of a
#: 2.0 one), so a VICS file names it in its first bytes.
ENVELOPE_WINDOW = 4096
#: Longest PhotoDNA text kept (its base64 form is 192 characters, its hex form 288).
MAX_PHOTODNA = 1024
#: Longest series name kept.
MAX_SERIES = 200
#: Longest text kept of Tags, RelativeFilePath, a file's name or folder (room for a path
#: through archives in archives: ``image.E01!/p2/x.zip!/y.tar!/...``).
MAX_TEXT = 65536
#: Longest DateUpdated kept (an ISO 8601 time, as the file wrote it).
MAX_DATE = 64


class VicsError(Exception):
    """A file that is not a VICS media file, or is over a limit; the message says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class VicsMediaFile:
    """One place a medium was found (VICS ``MediaFiles``): its file name, the folder it was
    in, the MD5 of the file (lower-case hex), and whether it came from unallocated space."""

    file_name: str | None = None
    file_path: str | None = None
    md5: str | None = None
    unallocated: bool | None = None


@dataclass(frozen=True)
class VicsMedia:
    """One VICS media record, as vigil keeps it: hashes normalised to lower-case hex,
    ``photodna`` as the text it came as, ``media_size`` in bytes, ``date_updated`` as the text
    it came as. ``category`` is VICS's number (0-99); a category that is no number (a
    classification such as "A1") goes in ``tags`` (:func:`category_fields`)."""

    media_id: int | str
    category: int | None = None
    md5: str | None = None
    sha1: str | None = None
    photodna: str | None = None
    series: str | None = None
    victim_identified: bool | None = None
    offender_identified: bool | None = None
    is_distributed: bool | None = None
    pdq: str | None = None
    media_size: int | None = None
    is_precategorized: bool | None = None
    tags: str | None = None
    relative_file_path: str | None = None
    date_updated: str | None = None
    media_files: tuple[VicsMediaFile, ...] = ()

    def signals(self) -> list[tuple[str, str]]:
        """The hashes vigil matches on: (signal type, value) — MD5, SHA1 and PDQ."""
        return [(st, v) for st, v in (("md5", self.md5), ("sha1", self.sha1), ("pdq", self.pdq))
                if v]

    def flags(self) -> dict[str, Any]:
        """Everything but the hashes vigil matches on that describes the material (kept with
        an imported indicator). Not the files of one case (``MediaFiles``,
        ``RelativeFilePath``, ``MediaSize``), which stay with that case."""
        return {"media_id": self.media_id, "category": self.category,
                "photodna": self.photodna, "series": self.series,
                "victim_identified": self.victim_identified,
                "offender_identified": self.offender_identified,
                "is_distributed": self.is_distributed}


@dataclass(frozen=True)
class VicsProblem:
    """A record that was skipped: its position in ``value``, its MediaID if it had one."""

    index: int
    media_id: object
    error: str


@dataclass
class VicsFile:
    media: list[VicsMedia] = field(default_factory=list)
    problems: list[VicsProblem] = field(default_factory=list)


def category_fields(category: str | int | None) -> tuple[int | None, str | None]:
    """A category as VICS holds it: (``Category``, ``Tags``). A VICS number (0-99, as a number
    or as digits) is the Category; any other text — another scheme's classification, "A1" —
    is kept in Tags, the Category left empty (uncategorised by VICS's scheme)."""
    if category is None or category == "":
        return None, None
    text = str(category).strip()
    if text.isdigit() and int(text) <= 99:
        return int(text), None
    return None, text


def looks_like_vics(text: str) -> bool:
    """Whether ``text`` is a VICS media file by its content: a JSON object with the VICS
    envelope (an ``odata.metadata`` or ``@odata.context`` property) in its first
    :data:`ENVELOPE_WINDOW` characters. Nothing is parsed."""
    head = text.lstrip("\ufeff \t\r\n")[:ENVELOPE_WINDOW]
    return head.startswith("{") and _ENVELOPE_KEY.search(head) is not None


def read_vics_file(path: Path | str, *, max_bytes: int, max_records: int) -> VicsFile:
    """:func:`read_vics` of a file, its size checked before it is read."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise VicsError(f"{p}: {size} bytes, more than the {max_bytes} allowed")
        data = p.read_bytes()
    except OSError as exc:
        raise VicsError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return read_vics(data, max_bytes=max_bytes, max_records=max_records)


def read_vics(data: bytes, *, max_bytes: int, max_records: int) -> VicsFile:
    """Parse a VICS media file. Raises :class:`VicsError` for a file over ``max_bytes``
    (checked before parsing) or with more than ``max_records`` records (counted as they are
    parsed, one at a time: reading stops at the first one over), for text that is not UTF-8
    JSON, and for a JSON document that is not a VICS media feed; returns the good records and
    a :class:`VicsProblem` for each skipped one."""
    if len(data) > max_bytes:
        raise VicsError(f"{len(data)} bytes, more than the {max_bytes} allowed")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VicsError(f"not UTF-8 text (byte {exc.start})") from None
    return read_vics_text(text, max_records=max_records)


def read_vics_text(text: str, *, max_records: int) -> VicsFile:
    """:func:`read_vics` of text already read (and its size bounded) by the caller — the list
    reader's :func:`vigil.matching.listfile.read_list_text`. The records are counted while
    they are parsed, one at a time."""
    try:
        doc, records = _envelope(text, max_records)
    except json.JSONDecodeError as exc:
        raise VicsError(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise VicsError("not JSON: nested too deeply") from None
    context = next(((k, doc[k]) for k in _ENVELOPES if k in doc), None)
    if context is None:
        raise VicsError("not a VICS file: no 'odata.metadata' (1.3) or '@odata.context' (2.0)")
    key, value = context
    if not isinstance(value, str) or not value.endswith("#Media"):
        shown = value if isinstance(value, str) else type(value).__name__
        raise VicsError(f"not a VICS media file: {key} is {str(shown)[:120]!r} (expected "
                        f"{_ENVELOPES[key]!r})")
    if records is None:
        raise VicsError("not a VICS file: 'value' is not a list of media")
    out = VicsFile()
    for i, record in enumerate(records):
        try:
            out.media.append(_media(record))
        except ValueError as exc:
            mid = record.get("MediaID") if isinstance(record, dict) else None
            out.problems.append(VicsProblem(i, mid if isinstance(mid, int | str) else None,
                                            str(exc)))
    return out


_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
#: The first characters of a JSON value other than an object.
_VALUE_STARTS = frozenset('["-0123456789tfnNI')


def _skip(text: str, i: int) -> int:
    m = _SPACE.match(text, i)
    return m.end() if m else i


def _expect(text: str, i: int, chars: str, what: str) -> str:
    found = text[i:i + 1]
    if not found or found not in chars:
        raise json.JSONDecodeError(f"Expecting {what}", text, i)
    return found


def _envelope(text: str, max_records: int) -> tuple[dict[str, Any], list[object] | None]:
    """The document's top-level object, read member by member as :func:`json.loads` would
    (the last of a repeated key wins), except ``value``: its records are decoded one at a time
    and counted, and more than ``max_records`` raise :class:`VicsError` before the next is
    decoded. Returns the other members, and the records (None when ``value`` is not an array
    or is absent). Raises :class:`json.JSONDecodeError` where ``json.loads`` would."""
    i = _skip(text, 0)
    first = text[i:i + 1]
    if first != "{":
        if first and first in _VALUE_STARTS:  # not parsed: whatever it is, it is not a feed
            raise VicsError("not a VICS file: the document is not a JSON object")
        raise json.JSONDecodeError("Expecting value", text, i)
    members: dict[str, Any] = {}
    records: list[object] | None = None
    i = _skip(text, i + 1)
    if text[i:i + 1] == "}":
        i += 1
    else:
        while True:
            _expect(text, i, '"', "property name enclosed in double quotes")
            key, i = _DECODER.raw_decode(text, i)
            i = _skip(text, i)
            _expect(text, i, ":", "':' delimiter")
            i = _skip(text, i + 1)
            if key == "value" and text[i:i + 1] == "[":
                records, i = _records(text, i, max_records)
                members.pop("value", None)
            else:
                members[key], i = _DECODER.raw_decode(text, i)
                if key == "value":
                    records = None
            i = _skip(text, i)
            if _expect(text, i, ",}", "',' delimiter") == "}":
                i += 1
                break
            i = _skip(text, i + 1)
    if _skip(text, i) != len(text):
        raise json.JSONDecodeError("Extra data", text, _skip(text, i))
    return members, records


def _records(text: str, i: int, max_records: int) -> tuple[list[object], int]:
    """The array at ``text[i]`` (a ``[``), decoded one element at a time; raises
    :class:`VicsError` at element ``max_records + 1``, before decoding it."""
    out: list[object] = []
    i = _skip(text, i + 1)
    if text[i:i + 1] == "]":
        return out, i + 1
    while True:
        if len(out) >= max_records:
            raise VicsError(f"more than {max_records} records (the most one file may hold)")
        if i >= len(text):
            raise json.JSONDecodeError("Expecting value", text, i)
        record, i = _DECODER.raw_decode(text, i)
        out.append(record)
        i = _skip(text, i)
        if _expect(text, i, ",]", "',' delimiter") == "]":
            return out, i + 1
        i = _skip(text, i + 1)


def _media(record: object) -> VicsMedia:
    if not isinstance(record, dict):
        raise ValueError(f"a media record must be an object, not {type(record).__name__}")
    media_id = record.get("MediaID")
    if isinstance(media_id, bool) or not isinstance(media_id, int | str) or media_id == "":
        raise ValueError(f"MediaID must be a number or a text, got {_show(media_id)}")
    if isinstance(media_id, str) and len(media_id) > 100:
        raise ValueError("MediaID longer than 100 characters")
    md5 = _digest(SignalType.MD5, record.get("MD5"))
    sha1 = _digest(SignalType.SHA1, record.get("SHA1"))
    photodna, pdq = _alternatives(record)
    if not (md5 or sha1 or pdq or photodna):
        raise ValueError("no MD5, SHA1, PDQ or PhotoDNA")
    series = record.get("Series")
    if series is not None and not isinstance(series, str):
        raise ValueError(f"Series must be a text, got {_show(series)}")
    if series is not None and len(series) > MAX_SERIES:
        raise ValueError(f"Series longer than {MAX_SERIES} characters")
    return VicsMedia(
        media_id, _category(record.get("Category")), md5, sha1, photodna, series or None,
        _flag(record, "VictimIdentified"), _flag(record, "OffenderIdentified"),
        _flag(record, "IsDistributed"), pdq, _size(record.get("MediaSize")),
        _flag(record, "IsPrecategorized"), _text(record, "Tags", MAX_TEXT),
        _text(record, "RelativeFilePath", MAX_TEXT), _text(record, "DateUpdated", MAX_DATE),
        _media_files(record.get("MediaFiles")))


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def _digest(st: SignalType, value: object) -> str | None:
    if value is None or value == "":
        return None
    try:
        return Digest.parse(st, value).hex
    except InvalidSignal as exc:
        name = "MD5" if st is SignalType.MD5 else "SHA1"
        raise ValueError(f"{name}: {exc.message}") from None


def _category(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"Category must be a number, got {value!r}")
    try:
        n = int(value) if isinstance(value, int | str) else None
    except ValueError:
        n = None
    if n is None or not 0 <= n <= 99:
        raise ValueError(f"Category must be a number 0-99, got {_show(value)}")
    return n


def _flag(record: dict[str, Any], name: str) -> bool | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{name} must be true or false, got {_show(value)}")


def _size(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"MediaSize must be a number of bytes, got {_show(value)}")
    return value


def _text(record: dict[str, Any], name: str, limit: int) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a text, got {_show(value)}")
    if len(value) > limit:
        raise ValueError(f"{name} longer than {limit} characters")
    return value


def _media_files(value: object) -> tuple[VicsMediaFile, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("MediaFiles must be a list")
    files = []
    for i, f in enumerate(value):
        if not isinstance(f, dict):
            raise ValueError(f"MediaFiles[{i}] must be an object, not {type(f).__name__}")
        where = f"MediaFiles[{i}]."
        try:
            md5 = _digest(SignalType.MD5, f.get("MD5"))
        except ValueError as exc:
            raise ValueError(where + str(exc)) from None
        files.append(VicsMediaFile(_text(f, "FileName", MAX_TEXT),
                                   _text(f, "FilePath", MAX_TEXT), md5,
                                   _flag(f, "Unallocated")))
    return tuple(files)


def _alternatives(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """(PhotoDNA, PDQ) of a record: ``AlternativeHashes`` entries by their ``HashName``
    (PhotoDNA also as a field of its own, as some tools write it)."""
    photodna = record.get("PhotoDNA")
    pdq: object = None
    alternatives = record.get("AlternativeHashes")
    if alternatives is not None:
        if not isinstance(alternatives, list):
            raise ValueError("AlternativeHashes must be a list")
        for alt in alternatives:
            if not isinstance(alt, dict):
                continue
            name = str(alt.get("HashName", "")).strip().lower()
            if name == "photodna":
                photodna = alt.get("HashValue")
            elif name == "pdq":
                pdq = alt.get("HashValue")
    if photodna == "":
        photodna = None
    if photodna is not None and (not isinstance(photodna, str) or len(photodna) > MAX_PHOTODNA
                                 or not photodna.isprintable()):
        raise ValueError(f"PhotoDNA must be printable text of at most {MAX_PHOTODNA} "
                         "characters")
    if pdq is None or pdq == "":
        return photodna, None
    try:
        return photodna, PdqHash.parse(pdq).hex
    except InvalidSignal as exc:
        raise ValueError(f"PDQ: {exc.message}") from None


def media_json(m: VicsMedia) -> dict[str, Any]:
    """One record as VICS 1.3 writes it (hashes in upper case, except PDQ, which is lower-case
    hex as PDQ writes it; flags as booleans; what is unknown as null)."""
    alternatives = []
    if m.photodna:
        alternatives.append({"HashName": "PhotoDNA", "HashValue": m.photodna})
    if m.pdq:
        alternatives.append({"HashName": "PDQ", "HashValue": m.pdq})
    return {"MediaID": m.media_id, "Category": m.category,
            "MD5": m.md5.upper() if m.md5 else None,
            "SHA1": m.sha1.upper() if m.sha1 else None,
            "MediaSize": m.media_size, "Series": m.series,
            "VictimIdentified": m.victim_identified,
            "OffenderIdentified": m.offender_identified,
            "IsDistributed": m.is_distributed, "IsPrecategorized": m.is_precategorized,
            "Tags": m.tags, "RelativeFilePath": m.relative_file_path,
            "DateUpdated": m.date_updated,
            "MediaFiles": [{"MD5": f.md5.upper() if f.md5 else None, "FileName": f.file_name,
                            "FilePath": f.file_path, "Unallocated": f.unallocated}
                           for f in m.media_files],
            "AlternativeHashes": alternatives}


def write_vics_to(out: IO[str], media: Iterable[VicsMedia]) -> int:
    """Write a VICS 1.3 media file of ``media`` to ``out`` one record at a time (nothing but
    the record being written is held); returns the number of records. JSON with every
    non-ASCII character escaped, so that any text — a file name from a seized disk that is not
    valid Unicode included — writes as valid UTF-8."""
    out.write('{"odata.metadata": ' + json.dumps(CONTEXT_13) + ', "value": [')
    n = 0
    for m in media:
        out.write(("," if n else "") + "\n " + json.dumps(media_json(m)))
        n += 1
    out.write("\n]}\n")
    return n


def write_vics(media: Iterable[VicsMedia]) -> bytes:
    """A VICS 1.3 media file (UTF-8 JSON) of ``media``."""
    buf = io.StringIO()
    write_vics_to(buf, media)
    return buf.getvalue().encode()


def write_vics_file(path: Path | str, media: Iterable[VicsMedia]) -> int:
    """:func:`write_vics_to` a file, atomically: a temporary file beside it, renamed over it
    once complete (a reader sees the old file or the new one, never half of one). Returns the
    number of records."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            n = write_vics_to(fh, media)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n
