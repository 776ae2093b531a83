"""Set elements: how hashes become the strings that PSI and the threshold table compare.

Exact elements (options b and c): ``"<signal type>:<lower-case hex>"``, e.g. ``"pdq:9f…"`` or
``"md5:d4…"``, after the same validation every other path uses
(:func:`vigil.matching.signals.parse_signal`); vPDQ (a set of frame hashes) is not an element.

Chunk elements (perceptual matching under PSI, :mod:`vigil.e2ee.perceptual`):
``"pdq/<chunks>/<position>/<chunk hex>"`` — PDQ's 256 bits cut into ``chunks`` equal pieces,
most significant first; position 0 is the first hex digits. The list side has one element per
chunk; the query side has every value within ``radius`` bits of each of its chunks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from vigil.matching.errors import InvalidSignal
from vigil.matching.signals import SignalType, VpdqHash, parse_signal

PDQ_BITS = 256
#: Chunk counts that cut 256 bits into whole hex digits.
CHUNK_COUNTS = (4, 8, 16, 32, 64)


def exact_element(signal_type: SignalType | str, value: str) -> str:
    """The element of one hash; :class:`~vigil.matching.signals.InvalidSignal` naming what is
    wrong with it."""
    parsed = parse_signal(signal_type, value)
    if isinstance(parsed, VpdqHash):
        raise InvalidSignal("vpdq: a video's frame hashes are not one set element (match its "
                            "frames as pdq, or its video_md5)")
    st = SignalType.parse(signal_type) if isinstance(signal_type, str) else signal_type
    return f"{st.value}:{parsed.hex}"


def parse_element(element: str) -> tuple[SignalType, str]:
    """The (type, hex) an exact element encodes; :class:`InvalidSignal` if it is not one."""
    name, sep, value = element.partition(":")
    if not sep:
        raise InvalidSignal(f"not a set element (expected type:hex): {element[:80]!r}")
    st = SignalType.parse(name)
    return st, exact_element(st, value).partition(":")[2]


def _check_chunks(chunks: int) -> int:
    if chunks not in CHUNK_COUNTS:
        raise ValueError(f"chunks must be one of {', '.join(map(str, CHUNK_COUNTS))}, got {chunks}")
    return PDQ_BITS // chunks


def chunk_values(pdq_hex: str, chunks: int) -> list[int]:
    """The ``chunks`` pieces of a PDQ hash, as integers, most significant first."""
    bits = _check_chunks(chunks)
    value = int(exact_element(SignalType.PDQ, pdq_hex).partition(":")[2], 16)
    mask = (1 << bits) - 1
    return [(value >> (PDQ_BITS - bits * (i + 1))) & mask for i in range(chunks)]


def chunk_element(chunks: int, position: int, value: int) -> str:
    bits = _check_chunks(chunks)
    if not 0 <= position < chunks or not 0 <= value < (1 << bits):
        raise ValueError("chunk position or value out of range")
    return f"pdq/{chunks}/{position}/{value:0{bits // 4}x}"


def parse_chunk_element(element: str) -> tuple[int, int, int]:
    """(chunks, position, value) of a chunk element; ``ValueError`` if it is not one."""
    parts = element.split("/")
    if len(parts) != 4 or parts[0] != "pdq":
        raise ValueError(f"not a chunk element: {element[:80]!r}")
    chunks, position = int(parts[1]), int(parts[2])
    bits = _check_chunks(chunks)
    if len(parts[3]) != bits // 4 or parts[3] != parts[3].lower():
        raise ValueError(f"not a chunk element: {element[:80]!r}")
    value = int(parts[3], 16)
    if chunk_element(chunks, position, value) != element:
        raise ValueError(f"not a chunk element: {element[:80]!r}")
    return chunks, position, value


def list_chunk_elements(pdq_hex: str, chunks: int) -> list[str]:
    """The list side: one element per chunk."""
    return [chunk_element(chunks, i, v) for i, v in enumerate(chunk_values(pdq_hex, chunks))]


def neighbours(value: int, bits: int, radius: int) -> Iterator[int]:
    """Every value within ``radius`` bits of ``value`` (itself first)."""
    for r in range(radius + 1):
        for flips in itertools.combinations(range(bits), r):
            v = value
            for b in flips:
                v ^= 1 << b
            yield v


def query_chunk_elements(pdq_hex: str, chunks: int, radius: int) -> list[list[str]]:
    """The query side: per position, every chunk value within ``radius`` bits of the query's."""
    bits = _check_chunks(chunks)
    return [[chunk_element(chunks, i, v) for v in neighbours(value, bits, radius)]
            for i, value in enumerate(chunk_values(pdq_hex, chunks))]
