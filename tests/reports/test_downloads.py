"""The name an officer's evidence download is saved under (both the API and the workspace use
:mod:`vigil.reports.downloads`; tests/web/test_parity.py checks both doors send it)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from vigil.reports.downloads import attachment, detected_extension, download_name
from vigil.samples import encode, pattern_image

JPEG = encode(pattern_image(1, (32, 24)))
PNG = encode(pattern_image(1, (32, 24)), "PNG")


@pytest.mark.parametrize(("original", "data", "expected"), [
    ("beach.jpg", JPEG, "beach.jpg"),
    ("beach.exe", JPEG, "beach.jpg"),  # the type the bytes are, not the claimed one
    ("scan.jpeg", PNG, "scan.png"),
    ("../../etc/passwd", JPEG, "passwd.jpg"),  # never a path
    ("C:\\Users\\x\\holiday photo.JPG", JPEG, "holiday photo.jpg"),
    ('bad"name;\r\n.jpg', JPEG, "bad_name.jpg"),  # no quote, separator or line break
    ("", JPEG, "report-1a2b3c4d-file-9.jpg"),
    ("upload", PNG, "report-1a2b3c4d-file-9.png"),  # the name the service gives a nameless file
    ("...", b"plain text", "report-1a2b3c4d-file-9.bin"),
    ("x" * 300 + ".jpg", JPEG, "x" * 100 + ".jpg"),
])
def test_the_download_name_is_safe_and_says_what_the_file_is(original: str, data: bytes,
                                                              expected: str) -> None:
    assert download_name("1a2b3c4d-5e6f", 9, original, data) == expected


@pytest.mark.parametrize(("head", "ext"), [
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"), (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
    (b"\x00\x00\x00\x18ftypisom", "mp4"), (b"\x00\x00\x00\x18ftypheic", "heic"),
    (b"GIF89a", "gif"), (b"\x1a\x45\xdf\xa3", "mkv"), (b"", "bin"),
])
def test_types_are_read_from_the_bytes(head: bytes, ext: str) -> None:
    assert detected_extension(head) == ext


def test_the_header_carries_an_ascii_name_and_the_full_name_for_other_letters() -> None:
    assert attachment("beach.jpg") == 'attachment; filename="beach.jpg"'
    header = attachment("Straße München.jpg")
    ascii_part, utf8_part = header.split("; filename*=UTF-8''")
    assert ascii_part == 'attachment; filename="Strae Munchen.jpg"'
    assert unquote(utf8_part) == "Straße München.jpg"
    assert attachment("写真.png").startswith('attachment; filename="download.png"; filename*=')
