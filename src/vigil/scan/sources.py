"""What a scan reads: folders, single files, archives and disk images, as a stream of members.

Every member is a path and either a file on disk (a worker reads it), its bytes (read from an
archive or a disk image here, never written anywhere), or an error naming the problem. Nothing
is extracted to disk, and nothing here decodes an image: the workers do (:mod:`vigil.scan.work`).

* **Typed by content.** A file is opened as an archive or a disk image because of its first
  bytes (zip ``PK``, gzip, bzip2, xz, a ustar header, EWF's signature, a partition table or a
  file system's superblock), never because of its name.
* **Archives** (zip; tar, plain or gzip/bzip2/xz-compressed; a lone gzip/bzip2/xz stream) are
  streamed: a tar is read member by member as it decompresses, a zip member by member through
  its central directory. Members of members are opened the same way, down to
  :attr:`ScanLimits.max_depth` levels.
* **Disk images**: raw images (MBR or GPT partitions, or a bare file system) and EnCase E01
  images through The Sleuth Kit (``pytsk3``) and libewf (``pyewf``): allocated regular files
  of every file system TSK reads (ext2-4, FAT, exFAT, NTFS, HFS+, ...). Deleted files and
  unallocated space are not carved.
* **Bad input is a member with an error**, and the stream goes on: a zip bomb (a member or an
  archive over the size limits, or a compression ratio over :attr:`ScanLimits.max_ratio`,
  checked on the declared sizes *before* reading and on the bytes actually produced while
  streaming), a name that climbs out of the archive (``../``, an absolute path), links and
  special files, encrypted members, archives nested too deep, truncated or corrupt archives
  (what was read before the damage stands), unreadable files.

Paths inside an archive are written ``archive.zip!/inner/path`` (and ``disk.E01!/p2/dir/x``
for a disk image's second partition). The order is fixed — sources as given, folders sorted,
archive members in archive order — so that a resumed scan meets the same members in the same
order (:mod:`vigil.scan.run`).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vigil.matching.hashing import DEFAULT_MAX_FILE_BYTES

#: Bytes read from the start of a file to tell what it is.
HEAD_BYTES = 4096
_EWF_SIGNATURE = b"EVF\x09\x0d\x0a\xff\x00"


@dataclass(frozen=True)
class ScanLimits:
    """Limits on what a scan reads from archives and disk images (the decoding pipeline has
    its own: pixels, frames, seconds; :class:`~vigil.matching.hashing.HashOptions`)."""

    #: One member (or file) at most this many bytes: more is a per-file error.
    max_member_bytes: int = DEFAULT_MAX_FILE_BYTES
    #: One archive expands to at most this many bytes in all (a bomb of many small members).
    max_archive_bytes: int = 64 * 1024**3
    #: Uncompressed bytes per compressed byte, at most (deflate reaches ~1000:1 only on
    #: degenerate data; photos and videos barely compress) ...
    max_ratio: int = 200
    #: ... once the output passes this many bytes (tiny files compress oddly well).
    ratio_floor: int = 1024 * 1024
    #: Archives in archives, at most this many levels (an archive given is level 1).
    max_depth: int = 3
    #: Members of one archive, at most.
    max_members: int = 1_000_000
    #: Open disk images (raw, E01) with The Sleuth Kit; off: they are hashed as plain files.
    disk_images: bool = True

    def __post_init__(self) -> None:
        for name in ("max_member_bytes", "max_archive_bytes", "max_ratio", "max_depth",
                     "max_members"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass(frozen=True)
class Member:
    """One thing a scan hashes, or could not read. Exactly one of ``file`` (a regular file on
    disk, read by the worker), ``data`` (bytes from an archive or image) and ``error`` is set,
    except for a file on disk whose bytes were already read (both)."""

    path: str
    file: str | None = None
    data: bytes | None = None
    error: str | None = None
    size: int | None = None


class SourceError(Exception):
    """A member or an archive that cannot be read; the message names the problem."""


def sniff(head: bytes) -> str | None:
    """What a file's first bytes say it is, if it is a container a scan opens: ``zip``,
    ``gzip``, ``bzip2``, ``xz``, ``tar``, ``e01`` or ``disk`` (a partition table or a file
    system's boot sector or superblock); None for anything else."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[257:262] == b"ustar":
        return "tar"
    if head[:8] == _EWF_SIGNATURE:
        return "e01"
    if _looks_like_disk(head):
        return "disk"
    return None


def _looks_like_disk(head: bytes) -> bool:
    if len(head) < 1082:
        return False
    if head[512:520] == b"EFI PART" or head[1080:1082] == b"\x53\xef":  # GPT; ext2-4
        return True
    if head[510:512] != b"\x55\xaa":
        return False
    if head[3:11] in (b"NTFS    ", b"EXFAT   ") or head[54:59] in (b"FAT12", b"FAT16") \
            or head[82:87] == b"FAT32":
        return True
    entries = [head[446 + 16 * i: 462 + 16 * i] for i in range(4)]
    used = [e for e in entries if e[4] != 0]
    return bool(used) and all(e[0] in (0x00, 0x80) for e in entries)


def unsafe_name(name: str) -> str | None:
    """Why an archive member's name is unsafe to use as a path (None: it is not): an absolute
    path, a climb out of the archive (``..``), or control characters. Nothing is extracted,
    but such a name is how an archive attacks the tool that unpacks it, so it is reported."""
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        return f"unsafe name in archive (an absolute path): {name!r}"
    if ".." in n.split("/"):
        return f"unsafe name in archive (path traversal): {name!r}"
    if any(ord(c) < 32 or c == "\x7f" for c in n):
        return f"unsafe name in archive (control characters): {name!r}"
    return None


def iter_members(sources: Sequence[str | Path], limits: ScanLimits | None = None
                 ) -> Iterator[Member]:
    """Every member of ``sources`` in a fixed order (see the module docstring). Never raises
    for bad input: a problem is a member with ``error``."""
    lim = limits or ScanLimits()
    for raw in sources:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    yield from _disk_file(Path(root) / name, lim, follow=False)
        else:
            yield from _disk_file(p, lim, follow=True)


def source_bytes(sources: Sequence[str | Path]) -> int:
    """The size of every file under ``sources`` (a cheap walk, for a progress bar's total)."""
    total = 0
    for raw in sources:
        p = Path(raw)
        if p.is_dir():
            for root, _dirs, files in os.walk(p):
                for name in files:
                    with contextlib.suppress(OSError):
                        total += os.lstat(os.path.join(root, name)).st_size
        else:
            with contextlib.suppress(OSError):
                total += p.stat().st_size
    return total


def _disk_file(path: Path, lim: ScanLimits, follow: bool) -> Iterator[Member]:
    shown = str(path)
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        yield Member(shown, error="unreadable: no such file")
        return
    except OSError as exc:
        yield Member(shown, error=f"unreadable: {exc.strerror or exc}")
        return
    if stat.S_ISLNK(st.st_mode):
        yield Member(shown, error=f"symbolic link (to {os.readlink(path)!r}): not followed")
        return
    if not stat.S_ISREG(st.st_mode):
        yield Member(shown, error="unreadable: not a regular file (a pipe, socket or device)")
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
            kind = sniff(head)
            if kind in ("disk", "e01"):
                if lim.disk_images:
                    found = yield from _disk_image(path, kind, shown, lim)
                    if found or kind == "e01":
                        return
            elif kind is not None:
                fh.seek(0)
                yield from _archive(fh, shown, kind, 1, lim)
                return
    except PermissionError:
        yield Member(shown, error="unreadable: permission denied")
        return
    except OSError as exc:
        yield Member(shown, error=f"unreadable: {exc.strerror or exc}")
        return
    if st.st_size > lim.max_member_bytes:
        yield Member(shown, error=f"file too large: {st.st_size} bytes, more than the limit of "
                                  f"{lim.max_member_bytes}")
        return
    yield Member(shown, file=str(path), size=st.st_size)


# -- archives -------------------------------------------------------------------------------


def _member(path: str, data: bytes, depth: int, lim: ScanLimits) -> Iterator[Member]:
    """A member's bytes: itself, or (an archive or a disk image) what it holds."""
    kind = sniff(data[:HEAD_BYTES])
    if kind in ("disk", "e01") and lim.disk_images:
        if depth >= lim.max_depth:
            yield Member(path, error=f"nested container deeper than {lim.max_depth} levels: "
                                     "not opened")
            return
        found = yield from _disk_image_bytes(data, kind, path, lim, depth + 1)
        if found or kind == "e01":
            return
    elif kind is not None and kind not in ("disk", "e01"):
        if depth >= lim.max_depth:
            yield Member(path, error=f"nested archive deeper than {lim.max_depth} levels: "
                                     "not opened")
            return
        yield from _archive(io.BytesIO(data), path, kind, depth + 1, lim)
        return
    yield Member(path, data=data, size=len(data))


def _archive(fh: IO[bytes], shown: str, kind: str, depth: int, lim: ScanLimits
             ) -> Iterator[Member]:
    if kind == "zip":
        yield from _zip(fh, shown, depth, lim)
    elif kind == "tar":
        yield from _tar(fh, shown, depth, lim, None)
    else:
        yield from _compressed(fh, shown, kind, depth, lim)


def _zip(fh: IO[bytes], shown: str, depth: int, lim: ScanLimits) -> Iterator[Member]:
    try:
        zf = zipfile.ZipFile(fh)
        infos = zf.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        yield Member(shown, error=f"corrupt or truncated zip archive: {exc}")
        return
    if len(infos) > lim.max_members:
        yield Member(shown, error=f"zip archive of {len(infos)} members, more than the limit "
                                  f"of {lim.max_members}")
        return
    declared = sum(i.file_size for i in infos)
    if declared > lim.max_archive_bytes:
        yield Member(shown, error=f"zip bomb: the archive declares {declared} bytes "
                                  f"uncompressed, more than the limit of {lim.max_archive_bytes}")
        return
    produced = 0
    with zf:
        for info in infos:
            if info.is_dir():
                continue
            path = f"{shown}!/{info.filename}"
            problem = unsafe_name(info.filename) or _zip_member_problem(info, lim)
            if problem:
                yield Member(path, error=problem)
                continue
            try:
                with zf.open(info) as member:
                    data = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                    NotImplementedError, RuntimeError) as exc:
                yield Member(path, error=f"corrupt or truncated member: {exc}")
                continue
            produced += len(data)
            if produced > lim.max_archive_bytes:
                yield Member(shown, error=f"zip bomb: the members expand to more than "
                                          f"{lim.max_archive_bytes} bytes; the rest is not read")
                return
            yield from _member(path, data, depth, lim)


def _zip_member_problem(info: zipfile.ZipInfo, lim: ScanLimits) -> str | None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link in archive: not followed"
    if info.flag_bits & 0x1:
        return "encrypted member: cannot be read without its password"
    if info.file_size > lim.max_member_bytes:
        return (f"zip bomb: the member declares {info.file_size} bytes, more than the limit "
                f"of {lim.max_member_bytes} per file")
    if info.file_size > lim.ratio_floor \
            and info.file_size > lim.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        return (f"zip bomb: compression ratio {ratio}:1 is over the limit of "
                f"{lim.max_ratio}:1")
    return None


class _Bomb(Exception):
    pass


class _Counting(io.RawIOBase):
    """A raw stream that counts what is read from it (the compressed side of a ratio)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class _Limited(io.RawIOBase):
    """The decompressed side: raises :class:`_Bomb` as soon as the bytes produced pass the
    archive limit, or the ratio to the compressed bytes read passes :attr:`ScanLimits.max_ratio`
    (after :attr:`ScanLimits.ratio_floor`). A first block can be peeked and is read again."""

    def __init__(self, inner: IO[bytes], counted: _Counting, lim: ScanLimits) -> None:
        self.inner, self.counted, self.lim = inner, counted, lim
        self.produced = 0
        self._pending = b""

    def readable(self) -> bool:
        return True

    def peek_block(self, n: int) -> bytes:
        while len(self._pending) < n:
            more = self._pull(n - len(self._pending))
            if not more:
                break
            self._pending += more
        return self._pending[:n]

    def _pull(self, n: int) -> bytes:
        data = self.inner.read(n)
        self.produced += len(data)
        if self.produced > self.lim.max_archive_bytes:
            raise _Bomb(f"decompression bomb: more than {self.lim.max_archive_bytes} bytes "
                        "uncompressed")
        if self.produced > self.lim.ratio_floor \
                and self.produced > self.lim.max_ratio * max(self.counted.count, 1):
            raise _Bomb(f"decompression bomb: compression ratio over the limit of "
                        f"{self.lim.max_ratio}:1")
        return data

    def readinto(self, buffer: Any) -> int:
        if self._pending:
            data, self._pending = self._pending[: len(buffer)], self._pending[len(buffer):]
        else:
            data = self._pull(len(buffer))
        buffer[: len(data)] = data
        return len(data)


_OPENERS = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}
_SUFFIXES = {"gzip": (".gz", ".tgz"), "bzip2": (".bz2", ".tbz2"), "xz": (".xz", ".txz")}


def _compressed(fh: IO[bytes], shown: str, kind: str, depth: int, lim: ScanLimits
                ) -> Iterator[Member]:
    """A compressed stream: a tar inside (read member by member), or one file."""
    counted = _Counting(fh)
    opener: Any = _OPENERS[kind]
    limited = _Limited(opener(fileobj=counted, mode="rb"), counted, lim)
    try:
        block = limited.peek_block(tarfile.BLOCKSIZE)
        is_tar = len(block) == tarfile.BLOCKSIZE and _is_tar_header(block)
        if is_tar:
            yield from _tar(limited, shown, depth, lim, counted)
            return
        data = _read_bounded(limited, lim.max_member_bytes)
    except _Bomb as exc:
        yield Member(shown, error=str(exc))
        return
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        yield Member(shown, error=f"corrupt or truncated {kind} stream: {exc}")
        return
    if data is None:
        yield Member(shown, error=f"the {kind} stream expands to more than the limit of "
                                  f"{lim.max_member_bytes} bytes per file")
        return
    inner = shown.rsplit("/", 1)[-1]
    for suffix in _SUFFIXES[kind]:
        if inner.lower().endswith(suffix):
            inner = inner[: -len(suffix)] + (".tar" if suffix.startswith(".t") else "")
            break
    yield from _member(f"{shown}!/{inner or 'data'}", data, depth, lim)


def _is_tar_header(block: bytes) -> bool:
    try:
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _read_bounded(fh: IO[bytes] | _Limited, limit: int) -> bytes | None:
    out = bytearray()
    while True:
        chunk = fh.read(min(1024 * 1024, limit + 1 - len(out)))
        if not chunk:
            return bytes(out)
        out += chunk
        if len(out) > limit:
            return None


def _tar(fh: IO[bytes] | _Limited, shown: str, depth: int, lim: ScanLimits, counted: _Counting | None
         ) -> Iterator[Member]:
    produced = 0
    count = 0
    reading: str | None = None  # the member whose bytes are being read
    try:
        with tarfile.open(fileobj=fh, mode="r|") as tf:
            for info in tf:
                if info.isdir():
                    continue
                count += 1
                if count > lim.max_members:
                    yield Member(shown, error=f"tar archive of more than {lim.max_members} "
                                              "members: the rest is not read")
                    return
                path = f"{shown}!/{info.name}"
                problem = unsafe_name(info.name) or _tar_member_problem(info, lim)
                if problem:
                    yield Member(path, error=problem)
                    continue
                reading = path
                member = tf.extractfile(info)
                data = member.read() if member is not None else b""
                reading = None
                produced += len(data)
                if produced > lim.max_archive_bytes:
                    yield Member(shown, error=f"the members expand to more than "
                                              f"{lim.max_archive_bytes} bytes; the rest is not read")
                    return
                yield from _member(path, data, depth, lim)
    except _Bomb as exc:
        yield Member(reading or shown, error=f"{exc}; the rest of {shown} is not read")
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        what = "truncated or corrupt member" if reading else "corrupt or truncated tar archive"
        yield Member(reading or shown, error=f"{what}: {exc}")


def _tar_member_problem(info: tarfile.TarInfo, lim: ScanLimits) -> str | None:
    if info.issym() or info.islnk():
        return f"link in archive (to {info.linkname!r}): not followed"
    if info.issparse():
        return "sparse member: not read"
    if not info.isfile():
        return "special file in archive (a device or a pipe): not read"
    if info.size > lim.max_member_bytes:
        return (f"member of {info.size} bytes, more than the limit of {lim.max_member_bytes} "
                "per file")
    return None


# -- disk images ----------------------------------------------------------------------------

_TSK_MISSING = ("a disk image: reading it needs The Sleuth Kit's Python bindings (pytsk3, and "
                "libewf-python for E01), which are not installed: pip install 'vigil[forensics]'")


#: A generator of members that returns whether it found a file system.
_Found = Generator[Member, None, bool]


def _disk_image(path: Path, kind: str, shown: str, lim: ScanLimits) -> _Found:
    """Members of a disk image file; returns whether a file system was found (a raw file that
    only looked like a disk is then hashed as a plain file)."""
    if kind == "e01":
        try:
            import pyewf
        except ImportError:
            yield Member(shown, error=_TSK_MISSING)
            return False
        handle = pyewf.handle()
        try:
            handle.open(pyewf.glob(str(path)))
            size = handle.get_media_size()
        except (OSError, RuntimeError, TypeError) as exc:
            yield Member(shown, error=f"corrupt or truncated E01 image: {exc}")
            return False
        try:
            return (yield from _filesystems(_EwfReader(handle), size, shown, lim, "e01", 1))
        finally:
            handle.close()
    with open(path, "rb") as fh:
        return (yield from _filesystems(fh, os.fstat(fh.fileno()).st_size, shown, lim, kind, 1))


def _disk_image_bytes(data: bytes, kind: str, shown: str, lim: ScanLimits, depth: int
                      ) -> _Found:
    if kind == "e01":  # libewf opens E01 segments by name only
        yield Member(shown, error="an E01 image inside an archive: extract it to scan it")
        return False
    return (yield from _filesystems(io.BytesIO(data), len(data), shown, lim, kind, depth))


class _EwfReader:
    """pyewf's handle as the seek/read file object the TSK image reads through."""

    def __init__(self, handle: Any) -> None:
        self.handle, self.offset = handle, 0

    def seek(self, offset: int) -> None:
        self.offset = offset

    def read(self, size: int) -> bytes:
        data: bytes = self.handle.read_buffer_at_offset(size, self.offset)
        self.offset += len(data)
        return data


def _filesystems(fh: Any, size: int, shown: str, lim: ScanLimits, kind: str, depth: int
                 ) -> _Found:
    try:
        import pytsk3
    except ImportError:
        yield Member(shown, error=_TSK_MISSING)
        return False

    class Image(pytsk3.Img_Info):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

        def read(self, offset: int, length: int) -> bytes:
            fh.seek(offset)
            data: bytes = fh.read(length)
            return data

        def get_size(self) -> int:
            return size

        def close(self) -> None:
            pass

    img = Image()
    parts: list[tuple[str, int]] = []
    try:
        volume = pytsk3.Volume_Info(img)
        block = volume.info.block_size
        n = 0
        for part in volume:
            if part.flags == pytsk3.TSK_VS_PART_FLAG_ALLOC and part.len > 0:
                n += 1
                parts.append((f"p{n}/", part.start * block))
    except OSError:
        parts = [("", 0)]
    found = False
    for prefix, offset in parts:
        try:
            fs = pytsk3.FS_Info(img, offset=offset)
        except OSError:
            continue
        found = True
        yield from _walk(fs, fs.open_dir("/"), f"{shown}!/{prefix}", lim, depth, set(), 0)
    if not found and kind == "e01":
        yield Member(shown, error="no file system that The Sleuth Kit reads in this E01 image")
    return found


def _walk(fs: Any, directory: Any, prefix: str, lim: ScanLimits, depth: int, seen: set[int],
          level: int) -> Iterator[Member]:
    import pytsk3

    entries = []
    for entry in directory:
        name = entry.info.name.name.decode("utf-8", "surrogateescape")
        meta = entry.info.meta
        if name in (".", "..") or meta is None or name.startswith("$Orphan") \
                or entry.info.name.flags & pytsk3.TSK_FS_NAME_FLAG_UNALLOC:
            continue
        entries.append((name, entry))
    for name, entry in sorted(entries, key=lambda e: e[0]):
        meta = entry.info.meta
        path = f"{prefix}{name}"
        if meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
            if meta.addr in seen or level > 256:
                continue
            seen.add(meta.addr)
            try:
                sub = entry.as_directory()
            except OSError as exc:
                yield Member(path, error=f"unreadable directory in disk image: {exc}")
                continue
            yield from _walk(fs, sub, f"{path}/", lim, depth, seen, level + 1)
        elif meta.type == pytsk3.TSK_FS_META_TYPE_REG:
            if meta.size > lim.max_member_bytes:
                yield Member(path, error=f"file of {meta.size} bytes, more than the limit of "
                                         f"{lim.max_member_bytes} per file")
                continue
            try:
                data = b"".join(entry.read_random(off, min(1024 * 1024, meta.size - off))
                                for off in range(0, meta.size, 1024 * 1024))
            except OSError as exc:
                yield Member(path, error=f"unreadable file in disk image: {exc}")
                continue
            yield from _member(path, data, depth, lim)
