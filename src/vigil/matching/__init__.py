"""The matching core: signal types, hashers, the match index and list files.

A plain library: it imports no web framework and no ORM. The API, the CLI and the web pages
only expose it.
"""

from vigil.matching.errors import (
    DuplicateEntry,
    HashingError,
    IndexFileError,
    InvalidSignal,
    ListFileError,
    MatchingError,
)
from vigil.matching.exact import ExactIndex
from vigil.matching.hashing import HashOptions, ImageHashes, hash_image_bytes, hash_image_file
from vigil.matching.index import BatchMatches, IndexMatch, PdqIndex
from vigil.matching.signals import (
    PDQ_DEFAULT_THRESHOLD,
    Digest,
    PdqHash,
    SignalType,
    VpdqFrame,
    VpdqHash,
    parse_signal,
)

__all__ = [
    "PDQ_DEFAULT_THRESHOLD",
    "BatchMatches",
    "Digest",
    "DuplicateEntry",
    "ExactIndex",
    "HashOptions",
    "HashingError",
    "ImageHashes",
    "IndexFileError",
    "IndexMatch",
    "InvalidSignal",
    "ListFileError",
    "MatchingError",
    "PdqHash",
    "PdqIndex",
    "SignalType",
    "VpdqFrame",
    "VpdqHash",
    "hash_image_bytes",
    "hash_image_file",
    "parse_signal",
]
