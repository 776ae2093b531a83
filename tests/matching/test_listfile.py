from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from vigil.matching import listfile
from vigil.matching.errors import ListFileError
from vigil.matching.listfile import EntryFacts, HashList, parse_list, read_list
from vigil.matching.signals import SignalType
from vigil.matching.vics import CONTEXT_13, CONTEXT_20

PDQ_A = "f" * 64
PDQ_B = "0" * 63 + "1"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def test_csv_with_header_ids_and_labels() -> None:
    entries = parse_list(f"signal_type,value,id,label\npdq,{PDQ_A},ind-1,A1\nmd5,{MD5}\n")
    assert [(e.signal_type, e.id, e.label) for e in entries] == [
        (SignalType.PDQ, "ind-1", "A1"), (SignalType.MD5, "3", None)]


def test_jsonl() -> None:
    entries = parse_list(f'{{"signal_type": "pdq", "value": "{PDQ_A.upper()}", "id": 5}}\n')
    assert entries[0].value == PDQ_A and entries[0].id == "5"


def test_threatexchange_local_file_format() -> None:
    entries = parse_list(f"# comment\npdq {PDQ_A}\n\npdq {PDQ_B}\n")
    assert [e.value for e in entries] == [PDQ_A, PDQ_B]


@pytest.mark.parametrize(("text", "message"), [
    (f"pdq,{PDQ_A}\npdq,nothex\n", "line 2: pdq: expected 64 hex characters"),
    (f"pdq,{PDQ_A},a,b,c\n", "line 1: expected 2 to 4 columns"),
    ('{"signal_type": "pdq"}\n', "line 1: missing field 'value'"),
    ('{"signal_type": "pdq", "value": "' + PDQ_A + '"}\n{broken\n', "line 2: invalid JSON"),
    (f"tlsh {PDQ_A}\n", "line 1: unknown signal type 'tlsh'"),
    ("pdq\n", "line 1: expected '<signal_type> <value>'"),
])
def test_bad_lines_are_named(text: str, message: str) -> None:
    with pytest.raises(ListFileError, match=message):
        parse_list(text)


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ListFileError, match="cannot read list file"):
        read_list(tmp_path / "missing.csv")
    binary = tmp_path / "list.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ListFileError, match="not UTF-8"):
        read_list(binary)


def test_hash_list_matches_each_signal_type() -> None:
    near = "f" * 63 + "e"  # 1 bit from PDQ_A
    hl = HashList(parse_list(f"pdq,{PDQ_A},a\nmd5,{MD5},b\nvideo_md5,{MD5},c\n"))
    assert [(m.entry.id, m.distance) for m in hl.match_pdq([near])[0]] == [("a", 1)]
    assert hl.match_pdq([near], threshold=0) == [[]]
    assert sorted(m.entry.id for m in hl.match_digest(SignalType.MD5, MD5)) == ["b", "c"]


def test_threatexchange_format_with_vpdq_first() -> None:
    frame = "a" * 64 + ",90,0.000"
    entries = parse_list(f'vpdq ["{frame}"]\npdq {PDQ_A}\n')
    assert [e.signal_type for e in entries] == [SignalType.VPDQ, SignalType.PDQ]


def test_deeply_nested_json_is_a_named_error() -> None:
    with pytest.raises(ListFileError, match="line 1: invalid JSON"):
        parse_list("{" + '"a":[' * 100_000 + "\n")


def test_forensic_facts_are_carried_and_checked(tmp_path: Path) -> None:
    """Category, series and "victim identified" of a JSONL entry travel with it (``vigil
    scan`` reports them); a bad one names its line."""
    p = tmp_path / "set.jsonl"
    p.write_text('{"signal_type": "md5", "value": "' + "ab" * 16 + '", "category": 1, '
                 '"series": "Garden", "victim_identified": false}\n'
                 '{"signal_type": "md5", "value": "' + "cd" * 16 + '"}\n')
    first, second = read_list(p)
    assert first.facts == EntryFacts("1", "Garden", False) and second.facts is None
    p.write_text('{"signal_type": "md5", "value": "' + "ab" * 16 + '", '
                 '"victim_identified": "yes"}\n')
    with pytest.raises(ListFileError, match="line 1: victim_identified must be true or false"):
        read_list(p)


def _vics(*records: object) -> str:
    return json.dumps({"odata.metadata": CONTEXT_13, "value": list(records)}, indent=1)


def test_a_vics_file_is_a_hash_set_with_its_facts(tmp_path: Path) -> None:
    """A VICS 1.3 file, told by its content whatever its name: MD5, SHA1 and PDQ of each media
    are entries under its MediaID, with its Category, Series and VictimIdentified; PhotoDNA
    (not computed by vigil) is no entry."""
    md5, sha1, pdq = secrets.token_hex(16), secrets.token_hex(20), secrets.token_hex(32)
    p = tmp_path / "case.txt"
    p.write_text("\ufeff" + _vics(
        {"MediaID": 7, "Category": 2, "MD5": md5.upper(), "SHA1": sha1.upper(),
         "Series": "Garden", "VictimIdentified": "true"},
        {"MediaID": "m-8", "AlternativeHashes": [{"HashName": "PDQ", "HashValue": pdq},
                                                 {"HashName": "PhotoDNA", "HashValue": "QUJD"}]},
        {"MediaID": 9, "PhotoDNA": "QUJD"}))
    entries = read_list(p)
    assert [(e.signal_type, e.value, e.id, e.line) for e in entries] == [
        (SignalType.MD5, md5, "7", 1), (SignalType.SHA1, sha1, "7", 1),
        (SignalType.PDQ, pdq, "m-8", 2)]
    assert entries[0].facts == entries[1].facts == EntryFacts("2", "Garden", True)
    assert entries[2].facts is None
    hl = HashList(entries)
    assert [m.entry.id for m in hl.match_digest(SignalType.SHA1, sha1)] == ["7"]
    assert [m.entry.id for m in hl.match_pdq([pdq])[0]] == ["m-8"]
    # Written in one line, with the 2.0 envelope: the same.
    one_line = json.dumps({"@odata.context": CONTEXT_20, "value": [{"MediaID": 1, "MD5": md5}]})
    assert [e.id for e in parse_list(one_line)] == ["1"]


@pytest.mark.parametrize(("records", "message"), [
    ([{"MediaID": 1, "MD5": "ab" * 16}, {"MediaID": 2, "MD5": "xyz"}, {"MediaID": 3}],
     r"case, VICS record value\[1\] \(MediaID 2\): MD5: md5: .* \(and 1 more bad record\(s\)\)"),
    (["nope"], r"case, VICS record value\[0\]: a media record must be an object"),
    ([{"MediaID": 1, "MD5": "ab" * 16, "VictimIdentified": "maybe"}],
     "VictimIdentified must be true or false"),
])
def test_a_vics_file_with_a_bad_record_is_not_half_loaded(records: list[object],
                                                          message: str) -> None:
    with pytest.raises(ListFileError, match=message):
        parse_list(_vics(*records), source="case")


def test_a_broken_vics_file_is_named_and_its_records_counted_before_parsing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ListFileError, match=r"case: not JSON: Unterminated string .* \(line 2, column \d+\)"):
        parse_list(_vics({"MediaID": 1, "MD5": "ab" * 16})[:40], source="case")
    with pytest.raises(ListFileError, match="case: not a VICS media file"):
        parse_list(json.dumps({"odata.metadata": CONTEXT_13.replace("#Media", "#Cases"),
                               "value": []}), source="case")
    monkeypatch.setattr(listfile, "MAX_VICS_RECORDS", 2)
    # Three records and not even JSON: refused by its count, before anything is parsed.
    text = _vics(*({"MediaID": i, "MD5": "ab" * 16} for i in range(3)))[:-5]
    with pytest.raises(ListFileError, match="more than 2 records"):
        parse_list(text, source="case")
