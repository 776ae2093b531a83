"""Saving and loading a PDQ index: plain, checksummed binary files. Never pickle.

Two formats: :func:`save_index` / :func:`load_index` (below) keep the hashes and ids of one
index and rebuild it on load; :func:`save_arrays` / :func:`map_arrays` (further down) keep
named arrays that are memory-mapped in place — a server's live index with its chunk tables,
shared between server workers.

A file from an untrusted place must not be able to run code, so the format holds only numbers::

    magic      12 bytes  b"VIGIL-PDQIX\\n"
    version     4 bytes  little-endian uint32, currently 1
    count       8 bytes  little-endian uint64, number of entries n
    codes    32*n bytes  the hashes, four little-endian uint64 words each
    ids       8*n bytes  little-endian int64
    checksum   32 bytes  SHA-256 of everything above

Loading checks the size, the checksum and that ids are unique, then bulk-builds the index
(about 0.3 s per million hashes here), so the chunk tables never need to be trusted from disk.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from vigil.matching.errors import DuplicateEntry, IndexFileError
from vigil.matching.index import PdqIndex

MAGIC = b"VIGIL-PDQIX\n"
VERSION = 1
_HEADER = struct.Struct("<12sIQ")


def save_index(index: PdqIndex, path: Path | str) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    codes, ids = index.entries()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    digest = hashlib.sha256()
    with open(tmp, "wb") as fh:
        for part in (_HEADER.pack(MAGIC, VERSION, len(ids)),
                     np.ascontiguousarray(codes, "<u8").tobytes(),
                     np.ascontiguousarray(ids, "<i8").tobytes()):
            digest.update(part)
            fh.write(part)
        fh.write(digest.digest())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_index(path: Path | str, **options: int | float) -> PdqIndex:
    """Read a file written by :func:`save_index`; raises :class:`IndexFileError` naming the
    problem for anything else."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IndexFileError(f"cannot read index file: {exc.strerror or exc}") from None
    if len(data) < _HEADER.size + 32:
        raise IndexFileError("not a vigil index file: too short")
    magic, version, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise IndexFileError("not a vigil index file: wrong magic bytes")
    if version != VERSION:
        raise IndexFileError(f"unsupported index file version {version} (this vigil reads {VERSION})")
    expected = _HEADER.size + 40 * count + 32
    if len(data) != expected:
        raise IndexFileError(
            f"index file is truncated or padded: {len(data)} bytes, expected {expected} "
            f"for {count} entries"
        )
    body = memoryview(data)[: expected - 32]
    if hashlib.sha256(body).digest() != data[expected - 32 :]:
        raise IndexFileError("index file is corrupted: checksum mismatch")
    start = _HEADER.size
    codes = np.frombuffer(data, "<u8", 4 * count, start).astype(np.uint64).reshape(count, 4)
    ids = np.frombuffer(data, "<i8", count, start + 32 * count).astype(np.int64)
    try:
        return PdqIndex.build(codes, ids, **options)
    except DuplicateEntry as exc:
        raise IndexFileError(f"index file is invalid: {exc.message}") from None


# -- the memory-mapped file of a server's live index ---------------------------------------
#
# Several server workers map one file, so the pages of the index are shared between them (the
# kernel keeps one copy in its page cache) and a worker starts in seconds instead of
# rebuilding the chunk tables. The layout, all little-endian::
#
#     magic       12 bytes  b"VIGIL-MAPIX\n"
#     version      4 bytes  uint32, currently 1
#     position     8 bytes  uint64, the caller's position (vigil: the change feed's seq)
#     n_arrays     4 bytes  uint32, at most MAX_ARRAYS
#     reserved     4 bytes
#     n_arrays x 72 bytes   name (16, NUL-padded ASCII), dtype (4: b"<u8", "<i8", "<u4",
#                           "<i4", "|u1", "|i1"), ndim (4), shape (2 x 8), offset (8),
#                           nbytes (8), CRC-32 of the array's bytes (4), reserved (4)
#     header CRC   4 bytes  CRC-32 of everything above
#     arrays                each at a page-aligned offset (mapped in place, never copied)
#
# Opening checks every claim against the file before mapping anything: the sizes add up, no
# array lies beyond the end of the file, the dtypes are plain numbers, and every array's
# CRC-32 matches (which also reads the pages in, once, into the shared page cache).

MAP_MAGIC = b"VIGIL-MAPIX\n"
MAP_VERSION = 1
MAX_ARRAYS = 16
_MAP_HEADER = struct.Struct("<12sIQII")
_MAP_ENTRY = struct.Struct("<16s4sI2QQQII")
_PAGE = 4096
_DTYPES = {b"<u8", b"<i8", b"<u4", b"<i4", b"|u1", b"|i1"}


def save_arrays(path: Path | str, arrays: dict[str, np.ndarray], position: int) -> None:
    """Write ``arrays`` (1- or 2-dimensional, plain integer dtypes) and ``position`` to
    ``path`` atomically: a crash leaves the old file or the new one, never half of one.

    Raises ValueError for more than :data:`MAX_ARRAYS` arrays, a name over 16 bytes or an
    unsupported dtype or shape."""
    if len(arrays) > MAX_ARRAYS:
        raise ValueError(f"at most {MAX_ARRAYS} arrays")
    path = Path(path)
    table_end = _MAP_HEADER.size + len(arrays) * _MAP_ENTRY.size + 4
    offset = -(-table_end // _PAGE) * _PAGE
    entries, parts = [], []
    for name, arr in arrays.items():
        raw = name.encode("ascii")
        data = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<"))
        code = data.dtype.str.encode()
        if len(raw) > 16 or code not in _DTYPES or data.ndim not in (1, 2):
            raise ValueError(f"array {name!r}: unsupported name, dtype or shape")
        shape = (*data.shape, 0) if data.ndim == 1 else data.shape
        crc = zlib.crc32(data.data.cast("B")) if data.size else 0
        entries.append(_MAP_ENTRY.pack(raw, code, data.ndim, *shape, offset, data.nbytes, crc, 0))
        parts.append((offset, data))
        offset = -(-(offset + data.nbytes) // _PAGE) * _PAGE
    header = _MAP_HEADER.pack(MAP_MAGIC, MAP_VERSION, position, len(arrays), 0) + b"".join(entries)
    header += struct.pack("<I", zlib.crc32(header))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        # Only this user may read it: the hashes of every indicator on every list.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(header)
            for start, data in parts:
                fh.seek(start)
                fh.write(data.data.cast("B") if data.size else b"")
            fh.truncate(max([start + d.nbytes for start, d in parts], default=len(header)))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_position(path: Path | str) -> int:
    """The position a file written by :func:`save_arrays` covers, from its header alone (not
    a check of the file: :func:`map_arrays` does that). Raises :class:`IndexFileError`."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_MAP_HEADER.size)
    except OSError as exc:
        raise IndexFileError(f"cannot read index file: {exc.strerror or exc}") from None
    if len(head) != _MAP_HEADER.size or head[:12] != MAP_MAGIC:
        raise IndexFileError("not a vigil index file")
    return int(_MAP_HEADER.unpack(head)[2])


def map_arrays(path: Path | str) -> tuple[int, dict[str, np.ndarray]]:
    """Map a file written by :func:`save_arrays`: ``(position, {name: array})``.

    The arrays are read-only views of one copy-on-write mapping of the file: pages stay shared
    with every other process mapping it until one is written (callers that need to write an
    array set its ``writeable`` flag and pay for the pages they touch). Raises
    :class:`IndexFileError` naming the problem for a file that is missing, short, of another
    format or version, claims more than it holds, or fails a checksum."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < _MAP_HEADER.size + 4:
                raise IndexFileError("not a vigil index file: too short")
            head = fh.read(_MAP_HEADER.size)
            magic, version, position, n_arrays, _ = _MAP_HEADER.unpack(head)
            if magic != MAP_MAGIC:
                raise IndexFileError("not a vigil index file: wrong magic bytes")
            if version != MAP_VERSION:
                raise IndexFileError(f"unsupported index file version {version} "
                                     f"(this vigil reads {MAP_VERSION})")
            if n_arrays > MAX_ARRAYS:
                raise IndexFileError(f"index file claims {n_arrays} arrays (at most {MAX_ARRAYS})")
            table = fh.read(n_arrays * _MAP_ENTRY.size + 4)
            if len(table) != n_arrays * _MAP_ENTRY.size + 4:
                raise IndexFileError("index file is truncated: header incomplete")
            if zlib.crc32(head + table[:-4]) != struct.unpack("<I", table[-4:])[0]:
                raise IndexFileError("index file is corrupted: header checksum mismatch")
            mapping = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    except OSError as exc:
        raise IndexFileError(f"cannot read index file: {exc.strerror or exc}") from None
    arrays: dict[str, np.ndarray] = {}
    for k in range(n_arrays):
        raw, code, ndim, d0, d1, offset, nbytes, crc, _ = _MAP_ENTRY.unpack_from(
            table, k * _MAP_ENTRY.size)
        name = raw.rstrip(b"\0").decode("ascii", "replace")
        code = code.rstrip(b"\0")
        if code not in _DTYPES or ndim not in (1, 2) or (ndim == 1 and d1):
            raise IndexFileError(f"index file is invalid: array {name!r} has an unknown layout")
        dtype = np.dtype(code.decode())
        shape = (d0,) if ndim == 1 else (d0, d1)
        if nbytes != dtype.itemsize * d0 * (d1 if ndim == 2 else 1):
            raise IndexFileError(f"index file is invalid: array {name!r} size does not match "
                                 "its shape")
        if offset < _MAP_HEADER.size + len(table) or offset + nbytes > size:
            raise IndexFileError(f"index file is truncated: array {name!r} claims bytes "
                                 f"{offset}..{offset + nbytes} of a {size}-byte file")
        view = memoryview(mapping)[offset : offset + nbytes]
        if (zlib.crc32(view) if nbytes else 0) != crc:
            raise IndexFileError(f"index file is corrupted: checksum mismatch in {name!r}")
        arr = (np.frombuffer(mapping, dtype, d0 * (d1 if ndim == 2 else 1), offset).reshape(shape)
               if nbytes else np.empty(shape, dtype))
        arr.flags.writeable = False
        arrays[name] = arr
    return position, arrays
