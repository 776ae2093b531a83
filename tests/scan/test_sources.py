"""What a scan reads: files typed by their bytes, archives streamed (never extracted), disk
images through The Sleuth Kit, and every kind of hostile input a member with an error that
names the problem — the members around it still read."""

from __future__ import annotations

import builtins
import gzip
import io
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.seized import disk_image, e01_image, nested_zip, scene, tar_bytes, zip_bytes
from vigil.scan.sources import Member, ScanLimits, iter_members, sniff, unsafe_name

LIMITS = ScanLimits(max_member_bytes=8 * 1024 * 1024)


def members(*sources: Path, limits: ScanLimits = LIMITS) -> dict[str, Member]:
    return {m.path: m for m in iter_members([str(s) for s in sources], limits)}


def names(found: dict[str, Member], root: Path) -> list[str]:
    return [p[len(str(root)) + 1:] for p in found]


def test_folders_in_order_and_files_typed_by_content_not_name(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.jpg").write_bytes(scene(1))
    (tmp_path / "b" / "photos.jpg").write_bytes(zip_bytes({"x.jpg": scene(2)}))  # a zip
    (tmp_path / "b" / "archive.zip").write_bytes(scene(3))  # a picture
    found = members(tmp_path)
    assert names(found, tmp_path) == ["a.jpg", "b/archive.zip", "b/photos.jpg!/x.jpg"]
    assert found[str(tmp_path / "b" / "archive.zip")].file is not None
    assert found[str(tmp_path / "b" / "photos.jpg!/x.jpg")].data == scene(2)


def test_zip_tar_gzip_and_nested_archives_are_read_without_extracting(tmp_path: Path) -> None:
    inner = tar_bytes({"deep/y.jpg": scene(5)})
    (tmp_path / "case.zip").write_bytes(zip_bytes({"in/x.jpg": scene(4), "nested.tgz": inner}))
    (tmp_path / "plain.tar").write_bytes(tar_bytes({"z.png": scene(6, "PNG")}, mode="w"))
    (tmp_path / "one.jpg.gz").write_bytes(gzip.compress(scene(7)))
    before = set(os.listdir(tmp_path))
    found = members(tmp_path)
    assert names(found, tmp_path) == ["case.zip!/in/x.jpg", "case.zip!/nested.tgz!/deep/y.jpg",
                                      "one.jpg.gz!/one.jpg", "plain.tar!/z.png"]
    assert found[str(tmp_path / "case.zip!/nested.tgz!/deep/y.jpg")].data == scene(5)
    assert set(os.listdir(tmp_path)) == before  # nothing written next to the sources


def test_zip_bombs_are_refused_on_declared_sizes_and_ratio(tmp_path: Path) -> None:
    (tmp_path / "bomb.zip").write_bytes(zip_bytes({
        "ok.jpg": scene(1), "zeros.bin": bytes(4 * 1024 * 1024), "after.jpg": scene(2)}))
    found = members(tmp_path / "bomb.zip")
    err = found[f"{tmp_path}/bomb.zip!/zeros.bin"].error or ""
    assert "zip bomb" in err and "compression ratio" in err
    assert found[f"{tmp_path}/bomb.zip!/ok.jpg"].data == scene(1)
    assert found[f"{tmp_path}/bomb.zip!/after.jpg"].data == scene(2)
    small = ScanLimits(max_member_bytes=1000, max_ratio=10_000)
    found = members(tmp_path / "bomb.zip", limits=small)
    assert "declares 4194304 bytes, more than the limit of 1000" in \
        (found[f"{tmp_path}/bomb.zip!/zeros.bin"].error or "")
    total = ScanLimits(max_archive_bytes=1024 * 1024, max_ratio=10_000)
    (err_member,) = members(tmp_path / "bomb.zip", limits=total).values()
    assert "zip bomb: the archive declares" in (err_member.error or "")


def test_a_tar_gz_bomb_is_stopped_while_streaming(tmp_path: Path) -> None:
    data = tar_bytes({"first.jpg": scene(1), "zeros.bin": bytes(6 * 1024 * 1024)})
    (tmp_path / "bomb.tar.gz").write_bytes(data)
    found = members(tmp_path / "bomb.tar.gz", limits=ScanLimits(max_member_bytes=10**9))
    assert found[f"{tmp_path}/bomb.tar.gz!/first.jpg"].data == scene(1)
    err = found[f"{tmp_path}/bomb.tar.gz!/zeros.bin"].error or ""
    assert "decompression bomb" in err and "200:1" in err and "the rest of" in err
    assert found[f"{tmp_path}/bomb.tar.gz!/zeros.bin"].data is None


def test_traversal_names_links_and_special_members_are_errors(tmp_path: Path) -> None:
    (tmp_path / "evil.zip").write_bytes(zip_bytes({
        "../../etc/cron.d/x": b"text", "/abs/path.jpg": scene(1), "ok.jpg": scene(2)}))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
        fifo = tarfile.TarInfo("pipe")
        fifo.type = tarfile.FIFOTYPE
        tf.addfile(fifo)
        up = tarfile.TarInfo("a/../../up.jpg")
        up.size = 4
        tf.addfile(up, io.BytesIO(b"data"))
    (tmp_path / "evil.tar").write_bytes(buf.getvalue())
    errors = {p[len(str(tmp_path)) + 1:]: m.error for p, m in members(tmp_path).items()}
    assert errors == {
        "evil.tar!/link": "link in archive (to '/etc/passwd'): not followed",
        "evil.tar!/pipe": "special file in archive (a device or a pipe): not read",
        "evil.tar!/a/../../up.jpg": "unsafe name in archive (path traversal): 'a/../../up.jpg'",
        "evil.zip!/../../etc/cron.d/x":
            "unsafe name in archive (path traversal): '../../etc/cron.d/x'",
        "evil.zip!//abs/path.jpg": "unsafe name in archive (an absolute path): '/abs/path.jpg'",
        "evil.zip!/ok.jpg": None,
    }


def test_archives_nested_past_the_depth_limit_are_not_opened(tmp_path: Path) -> None:
    (tmp_path / "deep.zip").write_bytes(nested_zip(4, {"x.jpg": scene(1)}))
    (tmp_path / "ok.zip").write_bytes(nested_zip(3, {"x.jpg": scene(1)}))
    found = members(tmp_path)
    deep = [m for p, m in found.items() if p.startswith(f"{tmp_path}/deep.zip")]
    assert len(deep) == 1 and "nested archive deeper than 3 levels" in (deep[0].error or "")
    assert found[f"{tmp_path}/ok.zip!/level1.zip!/level2.zip!/x.jpg"].data == scene(1)


def test_truncated_archives_keep_what_was_read_before_the_damage(tmp_path: Path) -> None:
    tgz = tar_bytes({"a.jpg": scene(1), "b.jpg": scene(2), "c.jpg": scene(3)}, mode="w")
    (tmp_path / "cut.tar").write_bytes(tgz[: 512 * 3 + len(scene(1)) + 2000])
    full_zip = zip_bytes({"a.jpg": scene(1)})
    (tmp_path / "cut.zip").write_bytes(full_zip[: len(full_zip) - 30])
    (tmp_path / "cut.tgz").write_bytes(gzip.compress(tgz)[:20000])
    found = members(tmp_path)
    assert found[f"{tmp_path}/cut.tar!/a.jpg"].data == scene(1)
    assert "truncated or corrupt member" in (found[f"{tmp_path}/cut.tar!/b.jpg"].error or "")
    assert f"{tmp_path}/cut.tar!/c.jpg" not in found
    assert "corrupt or truncated zip archive" in (found[f"{tmp_path}/cut.zip"].error or "")
    assert found[f"{tmp_path}/cut.tgz!/a.jpg"].data == scene(1)
    cut = [m.error for p, m in found.items() if p.startswith(f"{tmp_path}/cut.tgz") and m.error]
    assert len(cut) == 1 and "Compressed file ended before the end-of-stream" in cut[0]


def test_unreadable_files_and_links_on_disk(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "real.jpg").write_bytes(scene(1))
    (tmp_path / "link.jpg").symlink_to(tmp_path / "real.jpg")
    found = members(tmp_path, tmp_path / "missing.jpg")
    assert found[f"{tmp_path}/fifo"].error == \
        "unreadable: not a regular file (a pipe, socket or device)"
    assert "symbolic link" in (found[f"{tmp_path}/link.jpg"].error or "")
    assert found[f"{tmp_path}/missing.jpg"].error == "unreadable: no such file"
    assert found[f"{tmp_path}/real.jpg"].file == f"{tmp_path}/real.jpg"
    big = ScanLimits(max_member_bytes=100)
    assert "file too large" in (members(tmp_path / "real.jpg", limits=big)[
        f"{tmp_path}/real.jpg"].error or "")


def test_a_raw_disk_image_is_read_through_its_file_system(tmp_path: Path) -> None:
    img = disk_image(tmp_path / "seized.img", {"photos/a.jpg": scene(1),
                                               "docs/archive.zip": zip_bytes({"x.jpg": scene(2)})})
    if img is None:
        pytest.skip("mke2fs is not installed")
    found = members(img)
    paths = names(found, tmp_path)
    assert paths == ["seized.img!/docs/archive.zip!/x.jpg", "seized.img!/photos/a.jpg"]
    assert found[f"{img}!/photos/a.jpg"].data == scene(1)
    assert next(iter(members(img, limits=ScanLimits(disk_images=False)).values())).file == str(img)


def test_an_e01_image_is_read_through_libewf_and_its_file_system(tmp_path: Path) -> None:
    """A real EnCase image (made by libewf's ewfacquire from an ext4 image): its files are
    read through pyewf and The Sleuth Kit, as a raw image's are, named inside the E01."""
    raw = disk_image(tmp_path / "seized.img", {"photos/a.jpg": scene(1),
                                               "docs/archive.zip": zip_bytes({"x.jpg": scene(2)})})
    e01 = e01_image(raw) if raw is not None else None
    if e01 is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs mke2fs and ewfacquire (scripts/install --test installs them)")
        pytest.skip("mke2fs or ewfacquire (Debian's ewf-tools) is not installed")
    raw.unlink()
    found = members(e01)
    assert names(found, tmp_path) == ["seized.E01!/docs/archive.zip!/x.jpg",
                                      "seized.E01!/photos/a.jpg"]
    assert found[f"{e01}!/photos/a.jpg"].data == scene(1)
    assert found[f"{e01}!/docs/archive.zip!/x.jpg"].data == scene(2)


def test_a_broken_e01_image_is_an_error_and_a_missing_library_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "disk.E01").write_bytes(b"EVF\x09\x0d\x0a\xff\x00" + bytes(4000))
    (err,) = members(tmp_path / "disk.E01").values()
    assert "E01" in (err.error or "")
    real_import = builtins.__import__

    def no_tsk(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in ("pyewf", "pytsk3"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tsk)
    (err,) = members(tmp_path / "disk.E01").values()
    assert "pytsk3" in (err.error or "") and "not installed" in (err.error or "")


def test_sniff_knows_the_containers() -> None:
    assert sniff(zip_bytes({"a": b"x"})) == "zip"
    assert sniff(gzip.compress(b"x")) == "gzip"
    assert sniff(tar_bytes({"a": b"x"}, mode="w")) == "tar"
    assert sniff(tar_bytes({"a": b"x"}, mode="w:bz2")) == "bzip2"
    assert sniff(tar_bytes({"a": b"x"}, mode="w:xz")) == "xz"
    assert sniff(scene(1)) is None and sniff(b"") is None
    assert sniff(zipfile.ZipFile.__doc__.encode() if zipfile.ZipFile.__doc__ else b"") is None


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "c d", "é"]), min_size=1, max_size=6),
       st.booleans())
def test_unsafe_names_are_exactly_those_that_leave_the_archive(parts: list[str], absolute: bool
                                                               ) -> None:
    name = ("/" if absolute else "") + "/".join(parts)
    problem = unsafe_name(name)
    assert (problem is not None) == (absolute or ".." in parts)
    assert (problem is not None) == (unsafe_name(name.replace("/", "\\")) is not None)
