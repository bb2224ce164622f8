"""Bad input gets the right status or rejection; the node keeps serving; nothing leaves spool."""

from __future__ import annotations

import socket
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import MRImageStorage, SecondaryCaptureImageStorage

from tests.support import echoscu, pynetdicom_store, storescu

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dcmtk")]


def tree(root: Path) -> set[str]:
    """Every file below ``root`` (relative paths)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def spool_files(node) -> set[str]:
    return tree(node.data_dir / "spool")


@pytest.fixture
def node(start_node):
    return start_node()


def test_truncated_file_is_refused_and_nothing_is_stored(node, phantom_study, tmp_path) -> None:
    data = phantom_study.files[0].read_bytes()
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(data[: len(data) - 3000])
    response = pynetdicom_store(node.port, truncated)
    assert response is not None and response.Status in (0xC210, 0xA900)
    assert spool_files(node) == set()
    assert node.counts()["instances"] == 0
    assert echoscu(node.port) == 0


def test_path_like_sop_instance_uid(node, phantom_study, tmp_path) -> None:
    ds = pydicom.dcmread(phantom_study.files[0])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "../../x"
    path = tmp_path / "sent" / "evil.dcm"
    path.parent.mkdir()
    ds.save_as(path)
    before = tree(tmp_path)
    result = storescu(node.port, path)  # dcmtk sends the UID as it is
    assert "Received Store Response (Error: CannotUnderstand)" in result.stdout + result.stderr
    assert spool_files(node) == set()
    assert {p for p in tree(tmp_path) - before if not p.startswith("node0")} == set()
    assert not (node.data_dir.parent / "x").exists() and not (node.data_dir / "x").exists()
    assert echoscu(node.port) == 0


def test_path_like_study_uid_from_pynetdicom(node, phantom_study) -> None:
    ds = pydicom.dcmread(phantom_study.files[1])
    ds.StudyInstanceUID = "/tmp/../../etc"
    response = pynetdicom_store(node.port, ds)
    assert response.Status == 0xC220
    assert "StudyInstanceUID" in response.ErrorComment
    assert spool_files(node) == set()


def test_non_dicom_bytes_on_the_socket_do_not_hurt_the_node(node) -> None:
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 40)
        sock.settimeout(10)
        try:
            while sock.recv(4096):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
    assert node.alive()
    assert echoscu(node.port) == 0


def test_non_dicom_data_set_in_a_c_store(node, phantom_study, tmp_path) -> None:
    source = pydicom.dcmread(phantom_study.files[2])
    garbage = tmp_path / "garbage.dcm"
    source.save_as(garbage, enforce_file_format=True)
    raw = garbage.read_bytes()
    meta_end = 132 + 12 + int.from_bytes(raw[140:144], "little")  # preamble+DICM+group length
    garbage.write_bytes(raw[:meta_end] + b"\xff\xfe\x00\xe0not dicom at all" * 50)
    response = pynetdicom_store(node.port, garbage)
    assert response is not None and response.Status in (0xC210, 0xA900)
    assert spool_files(node) == set()
    assert echoscu(node.port) == 0


@pytest.mark.parametrize(("sop_class", "modality"),
                         [(MRImageStorage, "MR"), (SecondaryCaptureImageStorage, "OT")])
def test_unsupported_sop_class_is_rejected_in_negotiation(
    node, phantom_study, tmp_path, sop_class, modality
) -> None:
    ds = pydicom.dcmread(phantom_study.files[0])
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.Modality = modality
    path = tmp_path / "other.dcm"
    ds.save_as(path)
    result = storescu(node.port, path)
    assert result.returncode != 0
    assert "No presentation context" in result.stdout + result.stderr
    assert spool_files(node) == set()
    assert echoscu(node.port) == 0


def test_allow_list_rejects_unknown_callers(start_node, phantom_study) -> None:
    node = start_node(access={"allowed_callers": [
        {"ae_title": "STORESCU", "host": "127.0.0.1", "port": 11113}]})
    assert echoscu(node.port, calling="INTRUDER") != 0
    result = storescu(node.port, phantom_study.files[0], calling="INTRUDER")
    assert "Calling AE Title Not Recognized" in result.stdout + result.stderr
    assert spool_files(node) == set()
    assert storescu(node.port, phantom_study.files[0], calling="STORESCU").returncode == 0
    assert len(spool_files(node)) == 1


def test_an_allowed_title_from_another_address_is_rejected_like_an_unknown_one(
        start_node, phantom_study) -> None:
    """Before: any host could use an allowed AE title (and its results went to that caller's
    real host). The entry's host is 10.9.9.9; the peer calls from 127.0.0.1."""
    remote = {"ae_title": "PACS", "host": "10.9.9.9", "port": 104}
    node = start_node(access={"allowed_callers": [remote]})
    result = storescu(node.port, phantom_study.files[0], calling="PACS")
    assert "Calling AE Title Not Recognized" in result.stdout + result.stderr
    assert spool_files(node) == set()
    node.stop()
    trusted = start_node(access={"allowed_callers": [
        {**remote, "networks": ["10.9.9.0/24", "127.0.0.0/8"]}]})
    assert storescu(trusted.port, phantom_study.files[0], calling="PACS").returncode == 0
    assert len(spool_files(trusted)) == 1


def test_called_ae_title_must_be_ours(node) -> None:
    assert echoscu(node.port, called="SOMEONE_ELSE") != 0
    assert echoscu(node.port) == 0
