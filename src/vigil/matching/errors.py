"""Domain errors of the matching library.

Every error carries a stable ``code`` (for programs and, later, the HTTP layer) and a message
that names the bad input, so that a user sees *what* was wrong, not just that something was.
"""

from __future__ import annotations


class MatchingError(Exception):
    """Base class of all errors raised by :mod:`vigil.matching`."""

    code = "matching_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSignal(MatchingError):
    """A hash value (or a signal type name) is malformed."""

    code = "invalid_signal"


class HashingError(MatchingError):
    """A file could not be hashed: truncated, not an image, too large, unreadable..."""

    code = "hashing_failed"


class IndexFileError(MatchingError):
    """An index file is not a vigil index, is truncated, corrupted or of an unknown version."""

    code = "invalid_index_file"


class ListFileError(MatchingError):
    """A hash-list file cannot be read; the message names the line and the problem."""

    code = "invalid_list_file"


class DuplicateEntry(MatchingError):
    """An entry id is added to an index that already holds it."""

    code = "duplicate_entry"
