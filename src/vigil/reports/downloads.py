"""The file name an evidence download is saved under, for the API and the workspace alike.

A provider names its uploads, and that name reaches an officer's disk: it is reduced to a plain
base name (no directories, no control or shell-special characters, bounded length), and its
extension is the one of the type the bytes *are* (typed by content, as the Centre hashes them),
never the one the provider claimed — a picture named ``invoice.exe`` is saved as
``invoice.jpg``. Without a usable name the file is ``report-<id>-file-<n>.<ext>``. The header
follows RFC 6266: an ASCII ``filename`` for every client and ``filename*`` (RFC 8187, UTF-8)
for names with other letters.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

#: (offset, leading bytes, extension), first match wins.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "jpg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"BM", "bmp"),
    (0, b"II*\x00", "tif"),
    (0, b"MM\x00*", "tif"),
    (0, b"\x1a\x45\xdf\xa3", "mkv"),
    (0, b"FLV", "flv"),
    (0, b"OggS", "ogg"),
    (0, b"%PDF-", "pdf"),
    (0, b"PK\x03\x04", "zip"),
)
_RIFF = {b"WEBP": "webp", b"AVI ": "avi", b"WAVE": "wav"}
_FTYP = {b"avif": "avif", b"avis": "avif", b"heic": "heic", b"heix": "heic", b"mif1": "heif",
         b"msf1": "heif", b"qt  ": "mov"}
_UNSAFE = re.compile(r"[^\w.\- ()+,=@\[\]]+")
MAX_STEM = 100


def detected_extension(data: bytes) -> str:
    """The extension of the type ``data`` is (``jpg``, ``png``, ``mp4``, …), or ``bin``."""
    head = data[:16]
    if head[:4] == b"RIFF":
        return _RIFF.get(head[8:12], "bin")
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12], "mp4")
    for offset, magic, ext in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return ext
    return "bin"


def _clean_stem(name: str) -> str:
    base = re.split(r"[/\\]", name)[-1]  # a Windows path from the provider, too
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    stem = "".join(c for c in unicodedata.normalize("NFC", stem) if unicodedata.category(c)[0] != "C")
    stem = _UNSAFE.sub("_", stem).strip(" ._-")
    return stem[:MAX_STEM].rstrip(" ._-")


def download_name(report_public_id: str, file_number: int, original: str | None, data: bytes) -> str:
    """The name to save a report's file as: the provider's name made safe, with the extension
    of the detected type; ``report-<first 8 of the report id>-file-<n>.<ext>`` without one.

    >>> download_name("1a2b3c4d-0000", 9, "../../holiday photo.exe", b"\\xff\\xd8\\xff\\xe0")
    'holiday photo.jpg'
    """
    ext = detected_extension(data)
    stem = _clean_stem(original or "")
    if not stem or stem.lower() == "upload":
        stem = f"report-{report_public_id[:8]}-file-{file_number}"
    return f"{stem}.{ext}"


def attachment(name: str) -> str:
    """A ``Content-Disposition`` value that saves the download as ``name`` (RFC 6266)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r'[^A-Za-z0-9.\-_ ()+,=@\[\]]', "_", ascii_name).strip()
    if not ascii_name.rsplit(".", 1)[0].strip("_ "):  # nothing left of the name but its type
        ascii_name = "download" + (name[name.rfind("."):] if "." in name else "")
    if ascii_name == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
