"""Project VIC VICS 1.3 JSON, the format's one home (vigil.matching.vics): what is written
reads back the same (a property test, every field the scan and the exchange write), the
streaming writer writes the same bytes and a whole file or nothing, the limits hold before
anything is parsed, a bad file is refused with its problem named, a bad record is skipped and
named. Hashes are random; categories are labels."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.matching.vics import (
    CONTEXT_13,
    CONTEXT_20,
    VicsError,
    VicsMedia,
    VicsMediaFile,
    category_fields,
    looks_like_vics,
    read_vics,
    read_vics_text,
    write_vics,
    write_vics_file,
)

LIMITS = {"max_bytes": 10_000_000, "max_records": 10_000}


def _hexes(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=n, max_size=n)


#: Any text a seized disk's file names may hold: every code point, lone surrogates included
#: (names that are not valid Unicode come through as those).
_names = st.text(st.characters(codec=None, categories=None), min_size=1, max_size=40)
media_files = st.builds(VicsMediaFile, file_name=st.none() | _names, file_path=st.none() | _names,
                        md5=st.none() | _hexes(32), unallocated=st.none() | st.booleans())
media = st.builds(
    VicsMedia,
    media_id=st.one_of(st.integers(0, 2**53), st.text(min_size=1, max_size=30).filter(lambda s: s.strip())),
    category=st.none() | st.integers(0, 99),
    md5=st.none() | _hexes(32),
    sha1=st.none() | _hexes(40),
    photodna=st.none() | st.text(st.characters(codec="ascii", categories=("L", "N", "P")), min_size=1,
                                 max_size=300),
    series=st.none() | st.text(min_size=1, max_size=60),
    victim_identified=st.none() | st.booleans(),
    offender_identified=st.none() | st.booleans(),
    is_distributed=st.none() | st.booleans(),
    pdq=st.none() | _hexes(64),
    media_size=st.none() | st.integers(0, 2**63),
    is_precategorized=st.none() | st.booleans(),
    tags=st.none() | st.text(min_size=1, max_size=40),
    relative_file_path=st.none() | _names,
    date_updated=st.none() | st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    media_files=st.lists(media_files, max_size=3).map(tuple),
).filter(lambda m: bool(m.md5 or m.sha1 or m.pdq or m.photodna))


@given(st.lists(media, max_size=20))
def test_what_is_written_reads_back_the_same(records: list[VicsMedia]) -> None:
    data = write_vics(records)
    data.decode("utf-8")  # valid UTF-8, whatever the names held
    doc = json.loads(data)
    assert doc["odata.metadata"] == CONTEXT_13 and len(doc["value"]) == len(records)
    assert looks_like_vics(data.decode())
    read = read_vics(data, **LIMITS)
    assert read.problems == [] and read.media == records


def test_the_file_writer_streams_the_same_bytes_and_replaces_the_file_whole(tmp_path: Path) -> None:
    records = [VicsMedia(i, md5=secrets.token_hex(16), pdq=secrets.token_hex(32))
               for i in range(3)]
    path = tmp_path / "vics.json"
    assert write_vics_file(path, iter(records)) == 3
    assert path.read_bytes() == write_vics(records)

    def failing() -> Iterator[VicsMedia]:
        yield records[0]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_vics_file(path, failing())
    assert read_vics(path.read_bytes(), **LIMITS).media == records  # the old file, whole
    assert [q.name for q in tmp_path.iterdir()] == ["vics.json"]  # nothing half-written left


def test_categories_of_other_schemes_go_to_tags() -> None:
    assert category_fields("2") == (2, None) and category_fields(3) == (3, None)
    assert category_fields("A1") == (None, "A1") and category_fields("100") == (None, "100")
    assert category_fields(None) == (None, None)


def _doc(*records: object, context: str = CONTEXT_13, key: str = "odata.metadata") -> bytes:
    return json.dumps({key: context, "value": list(records)}).encode()


def test_files_in_the_wild_read_as_vigil_keeps_them() -> None:
    md5, sha1 = secrets.token_hex(16), secrets.token_hex(20)
    record = {"MediaID": 7, "Category": "2", "MD5": md5.upper(), "SHA1": sha1.upper(),
              "VictimIdentified": "true", "OffenderIdentified": "False", "IsDistributed": True,
              "Series": "series-x", "IsPrecategorized": "true", "Tags": "",
              "AlternativeHashes": [{"HashName": "PhotoDNA", "HashValue": "QUJD" * 48}],
              "MediaFiles": [{"FileName": "x.jpg"}]}
    for data in (_doc(record), _doc(record, context=CONTEXT_20, key="@odata.context")):
        (m,) = read_vics(data, **LIMITS).media
        assert m == VicsMedia(7, 2, md5, sha1, "QUJD" * 48, "series-x", True, False, True,
                              is_precategorized=True, media_files=(VicsMediaFile("x.jpg"),))
        assert m.signals() == [("md5", md5), ("sha1", sha1)]  # PhotoDNA is not matched
    assert read_vics(_doc({"MediaID": 1, "PhotoDNA": "opaque"}), **LIMITS).media[0].photodna == "opaque"
    pdq = secrets.token_hex(32)
    (m,) = read_vics(_doc({"MediaID": 2, "MediaSize": "512", "AlternativeHashes": [
        {"HashName": "pdq", "HashValue": pdq.upper()}]}), **LIMITS).media
    assert (m.pdq, m.media_size, m.signals()) == (pdq, 512, [("pdq", pdq)])


@pytest.mark.parametrize(("data", "message"), [
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"odata.metadata": ', "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"value": []}', "no 'odata.metadata'"),
    (_doc(context="http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Cases"), "not a VICS media file"),
    (b'{"odata.metadata": "' + CONTEXT_13.encode() + b'", "value": {}}', "'value' is not a list"),
])
def test_a_file_that_is_not_vics_is_refused_naming_why(data: bytes, message: str) -> None:
    with pytest.raises(VicsError, match=message):
        read_vics(data, **LIMITS)


def test_limits_are_checked_before_parsing() -> None:
    many = _doc(*({"MediaID": i, "MD5": secrets.token_hex(16)} for i in range(11)))
    with pytest.raises(VicsError, match="more than 10 records"):
        read_vics(many, max_bytes=10_000_000, max_records=10)
    with pytest.raises(VicsError, match="more than the 100 allowed"):
        read_vics(many, max_bytes=100, max_records=10_000)
    # Not parsed at all: a file over the limit that is not even JSON says the limit.
    with pytest.raises(VicsError, match="more than the 100 allowed"):
        read_vics(b"x" * 101, max_bytes=100, max_records=10)


def test_bad_records_are_skipped_and_named() -> None:
    good = {"MediaID": 1, "MD5": secrets.token_hex(16)}
    read = read_vics(_doc(good, "not an object", {"MediaID": 2, "MD5": "xyz"},
                          {"MediaID": 3, "SHA1": secrets.token_hex(16)}, {"MediaID": 4},
                          {"MediaID": 5, "MD5": secrets.token_hex(16), "VictimIdentified": "maybe"},
                          {"MediaID": 6, "MD5": secrets.token_hex(16), "Category": "A1"},
                          {"MD5": secrets.token_hex(16)},
                          {"MediaID": 8, "AlternativeHashes": [{"HashName": "PDQ",
                                                                "HashValue": "f0" * 31}]},
                          {"MediaID": 9, "MD5": secrets.token_hex(16), "MediaSize": -1},
                          {"MediaID": 10, "MD5": secrets.token_hex(16), "MediaFiles": {}},
                          {"MediaID": 11, "MD5": secrets.token_hex(16),
                           "MediaFiles": [{"FileName": "a", "MD5": "zz"}]},
                          {"MediaID": 12, "MD5": secrets.token_hex(16), "Tags": ["a"]},
                          {"MediaID": 13, "MD5": secrets.token_hex(16),
                           "RelativeFilePath": "x" * 70_000}), **LIMITS)
    assert [m.media_id for m in read.media] == [1]
    found = {(p.index, p.media_id): p.error for p in read.problems}
    assert "must be an object" in found[(1, None)]
    assert "MD5" in found[(2, 2)] and "SHA1: sha1: expected 40" in found[(3, 3)]
    assert "no MD5, SHA1, PDQ or PhotoDNA" in found[(4, 4)] and "VictimIdentified" in found[(5, 5)]
    assert "Category" in found[(6, 6)] and "MediaID" in found[(7, None)]
    assert found[(8, 8)].startswith("PDQ: pdq: expected 64")
    assert "MediaSize must be a number of bytes" in found[(9, 9)]
    assert found[(10, 10)] == "MediaFiles must be a list"
    assert found[(11, 11)].startswith("MediaFiles[0].MD5")
    assert "Tags must be a text" in found[(12, 12)]
    assert "RelativeFilePath longer than 65536" in found[(13, 13)]


def test_detection_by_content_and_the_text_reader() -> None:
    one = _doc({"MediaID": 1, "MD5": secrets.token_hex(16)})
    assert looks_like_vics(one.decode()) and looks_like_vics("\ufeff\n " + one.decode())
    assert looks_like_vics(_doc(context=CONTEXT_20, key="@odata.context").decode())
    assert not looks_like_vics('{"signal_type": "md5", "value": "' + "ab" * 16 + '"}\n')
    # A JSONL list whose label reads like the envelope is still a JSONL list.
    assert not looks_like_vics('{"signal_type": "md5", "value": "' + "ab" * 16
                               + '", "label": "odata.metadata"}\n')
    # The envelope comes first in OData JSON: one further than 4 KiB in is not looked for.
    late = '{"value": [' + " " * 5000 + '], "odata.metadata": "' + CONTEXT_13 + '"}'
    assert not looks_like_vics(late) and read_vics_text(late, max_records=1).media == []
    with pytest.raises(VicsError, match="more than 1 records"):
        read_vics_text(_doc(*({"MediaID": i} for i in range(2))).decode(), max_records=1)


# -- the record limit counted while parsing (moved with vics.py from tests/exchange) --

def _escape_keys(text: str) -> str:
    """Every key written with ``\\uXXXX`` escapes: the same JSON, spelled otherwise."""
    return re.sub(r'"([A-Za-z.@]+)":',
                  lambda m: '"' + "".join(f"\\u{ord(c):04x}" for c in m.group(1)) + '":', text)


def test_the_record_limit_holds_however_the_keys_are_spelled() -> None:
    # The reviewer's file: "Media\u0049D" is MediaID to a JSON reader, but not to a count of
    # the raw bytes b'"MediaID"'.
    body = ", ".join(f'{{"Media\\u0049D": {i}, "MD5": "{secrets.token_hex(16)}"}}'
                     for i in range(11))
    data = f'{{"odata.metadata": "{CONTEXT_13}", "value": [{body}]}}'.encode()
    assert b'"MediaID"' not in data
    with pytest.raises(VicsError, match="more than 10 records"):
        read_vics(data, max_bytes=10_000_000, max_records=10)
    assert [m.media_id for m in read_vics(data, max_bytes=10_000_000, max_records=11).media] \
        == list(range(11))
    # Keys escaped throughout (the envelope's and "value" too), records without any key, and
    # records that are not objects count the same.
    text = json.dumps({"odata.metadata": CONTEXT_13,
                       "value": [{"MediaID": i, "MD5": secrets.token_hex(16)} for i in range(11)]})
    for spelled in (_escape_keys(text), _doc(*[{}] * 11).decode(), _doc(*[1] * 11).decode()):
        with pytest.raises(VicsError, match="more than 10 records"):
            read_vics(spelled.encode(), max_bytes=10_000_000, max_records=10)
    # Reading stops at the limit: what follows the tenth record is never parsed (here it is
    # not even JSON, nested past any parser's depth).
    ten = _doc(*({"MediaID": i, "MD5": secrets.token_hex(16)} for i in range(10)))
    tail = b", " + b"[" * 200_000
    with pytest.raises(VicsError, match="more than 10 records"):
        read_vics(ten[:-2] + tail, max_bytes=10_000_000, max_records=10)
    with pytest.raises(VicsError, match="not JSON"):  # under a higher limit it is parsed
        read_vics(ten[:-2] + tail, max_bytes=10_000_000, max_records=11)


@given(st.lists(media, max_size=8), st.sampled_from([None, 0, 2]), st.booleans(), st.booleans(),
       st.booleans())
def test_how_a_file_spells_its_json_does_not_change_what_is_read(
        records: list[VicsMedia], indent: int | None, ascii_only: bool, sort_keys: bool,
        escape: bool) -> None:
    text = json.dumps(json.loads(write_vics(records)), indent=indent, ensure_ascii=ascii_only,
                      sort_keys=sort_keys)
    # A lone surrogate (a file name vigil keeps as read) has no UTF-8 form: written raw it would
    # not be UTF-8 at all, so such records are only spelled with ASCII escapes here.
    data = (_escape_keys(text) if escape else text).encode("utf-8", "surrogatepass")
    if not ascii_only and any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        with pytest.raises(VicsError, match="not UTF-8"):
            read_vics(data, **LIMITS)
        return
    read = read_vics(data, **LIMITS)
    assert read.problems == [] and read.media == records
    if records:
        with pytest.raises(VicsError, match=f"more than {len(records) - 1} records"):
            read_vics(data, max_bytes=10_000_000, max_records=len(records) - 1)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not JSON: Expecting value (line 1, column 1)"),
    (b'{"odata.metadata": "x#Media", "value": [1, 2}', "not JSON: Expecting ',' delimiter"),
    (b'{"odata.metadata": "x#Media", "value": [1 2]}', "not JSON: Expecting ',' delimiter"),
    (b'{"odata.metadata": "x#Media", "value": [1,]}', "not JSON: Expecting value"),
    (b'{"odata.metadata": "x#Media", "value": []} []', "not JSON: Extra data"),
    (b'{"odata.metadata": "x#Media" "value": []}', "not JSON: Expecting ',' delimiter"),
    (b'{odata: 1}', "not JSON: Expecting property name"),
    (b'{"odata.metadata" 1}', "not JSON: Expecting ':' delimiter"),
    (b'{"odata.metadata": "x#Media", "value": [', "not JSON: Expecting value"),
    (b'{"odata.metadata": "x#Media", "value": [' + b"[" * 100_000, "not JSON: nested too deeply"),
    (b'"a string"', "not a JSON object"),
])
def test_a_file_broken_anywhere_is_refused_as_json_would_be(data: bytes, message: str) -> None:
    with pytest.raises(VicsError, match=re.escape(message)):
        read_vics(data, **LIMITS)
    if message.startswith("not JSON:") and b"[[[" not in data:
        with pytest.raises(json.JSONDecodeError):  # and json.loads agrees it is not JSON
            json.loads(data)


def test_the_last_of_a_repeated_key_wins_as_in_json() -> None:
    md5 = secrets.token_hex(16)
    record = f'[{{"MediaID": 1, "MD5": "{md5}"}}]'
    data = f'{{"value": "first", "odata.metadata": "{CONTEXT_13}", "value": {record}}}'.encode()
    assert [m.md5 for m in read_vics(data, **LIMITS).media] == [md5]
    data = f'{{"odata.metadata": "{CONTEXT_13}", "value": {record}, "value": 3}}'.encode()
    with pytest.raises(VicsError, match="'value' is not a list"):
        read_vics(data, **LIMITS)
