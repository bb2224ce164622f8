import errno
import os
import shutil
from pathlib import Path, PurePosixPath

import pytest

from seganypet_node.dicom.spool import ContentConflictError, InvalidUidError, Spool, validate_uid


@pytest.mark.parametrize("uid", ["1.2.3", "1.2.840.10008.5.1.4.1.1.128", "0.1", "2.25." + "9" * 58])
def test_valid_uids(uid: str) -> None:
    assert validate_uid(uid) == uid


@pytest.mark.parametrize(
    "uid",
    ["../../x", "1.2/3", "1.2.03", "1..2", ".1.2", "1.2.", "1", "", "1.2.3 ", "1.2.a",
     "2.25." + "9" * 61, None, 12, "/etc/passwd", "1.2\x00.3"],
)
def test_invalid_uids(uid: object) -> None:
    with pytest.raises(InvalidUidError):
        validate_uid(uid)


def test_instance_path_rejects_bad_uid_before_any_path(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    with pytest.raises(InvalidUidError, match="SOPInstanceUID"):
        spool.instance_path("1.2", "1.3", "../../x")
    assert list((tmp_path / "spool").iterdir()) == []


def test_write_is_complete_and_leaves_no_temp_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    rel = spool.instance_path("1.2", "1.3", "1.4")
    first = spool.write(rel, b"abc")
    again = spool.write(rel, b"abc")
    assert not first.existed and again.existed
    assert (tmp_path / "1.2" / "1.3" / "1.4.dcm").read_bytes() == b"abc"
    assert [p.name for p in (tmp_path / "1.2" / "1.3").iterdir()] == ["1.4.dcm"]


def test_other_bytes_never_replace_a_stored_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    rel = spool.instance_path("1.2", "1.3", "1.4")
    spool.write(rel, b"acknowledged")
    with pytest.raises(ContentConflictError, match=r"1\.4\.dcm"):
        spool.write(rel, b"other pixels")
    assert (tmp_path / "1.2" / "1.3" / "1.4.dcm").read_bytes() == b"acknowledged"
    assert [p.name for p in (tmp_path / "1.2" / "1.3").iterdir()] == ["1.4.dcm"]


def test_absolute_refuses_paths_outside_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    with pytest.raises(ValueError, match="leaves the spool"):
        spool.absolute(PurePosixPath("../outside.dcm"))


def test_remove(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    rel = spool.instance_path("1.2", "1.3", "1.4")
    spool.write(rel, b"x")
    spool.remove(rel)
    assert not spool.absolute(rel).exists()


def test_write_recreates_a_directory_removed_under_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    first = spool.instance_path("1.2", "1.3", "1.4")
    spool.write(first, b"x")
    shutil.rmtree(tmp_path / "1.2")
    spool.write(spool.instance_path("1.2", "1.3", "1.5"), b"y")
    assert (tmp_path / "1.2" / "1.3" / "1.5.dcm").read_bytes() == b"y"


def test_write_below_the_free_space_watermark_is_refused_and_leaves_nothing(tmp_path) -> None:
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    spool = Spool(tmp_path / "spool", min_free_bytes=free + 2**30)
    relative = spool.instance_path("1.2.3", "1.2.3.4", "1.2.3.4.5")
    with pytest.raises(OSError) as raised:
        spool.write(relative, b"x" * 1000)
    assert raised.value.errno == errno.ENOSPC
    assert [p for p in (tmp_path / "spool").rglob("*") if p.is_file()] == []
    roomy = Spool(tmp_path / "spool", min_free_bytes=1024)
    assert roomy.write(relative, b"x" * 1000).size_bytes == 1000
