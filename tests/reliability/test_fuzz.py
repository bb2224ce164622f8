"""Fuzzing the receive path over the network, and inconsistent series through the workers.

Hypothesis mutates a real phantom PET instance (bytes truncated or overwritten, element
lengths broken, mandatory attributes removed, values of the wrong kind or huge) and sends each
mutant, as raw bytes, over one association to a running node. Every C-STORE must get a status
that says what was wrong (never the internal-error status), and the node must stay up.
"""

from __future__ import annotations

import copy
import struct
import tempfile
from collections import Counter
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from seganypet_node.dicom.sop import STORAGE_SOP_CLASSES, accepted_transfer_syntaxes
from tests.support import NODE_AE, echoscu, storescu

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]

EXAMPLES = 2000
# Stored; UID stored already with other bytes (mutants share the original's UID: the first
# one stored stays); mismatch; cannot decode; bad UID.
EXPECTED = {0x0000, 0x0111, 0xA900, 0xC210, 0xC220}
MANDATORY = ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
             "Modality", "PixelData", "Rows", "Columns", "BitsAllocated"]
# Values written as raw bytes under the attribute's own VR: what a broken sender puts there.
WRONG_VALUES: list[tuple[str, bytes]] = [
    ("InstanceNumber", b"abc "), ("NumberOfSlices", b"-x\x00"), ("Rows", b"\x00\x00"),
    ("Columns", b"\xff\xff"), ("BitsAllocated", b"\x07\x00"), ("Rows", b"\x01"),
    ("SeriesNumber", b"9" * 40), ("PatientName", b"A" * 70000),
    ("StudyInstanceUID", b"1." + b"2" * 200), ("SeriesInstanceUID", b"../../etc\x00"),
    ("Modality", b"X" * 300), ("ImagePositionPatient", b"a\\b\\c "),
    ("RescaleSlope", b"1e400 "), ("CorrectedImage", b"ATTN\\" * 3000),
    ("PixelSpacing", b"0\\0 "), ("SOPClassUID", b"1.2.3.4\x00"), ("NumberOfFrames", b"-1"),
]


class Sender:
    """One association kept open for many C-STOREs (opened again if the node aborts it)."""

    def __init__(self, port: int) -> None:
        from pynetdicom import AE, _config
        from pynetdicom.presentation import build_context

        _config.STORE_SEND_CHUNKED_DATASET = True  # raw bytes, never re-encoded
        self.port = port
        self.ae = AE(ae_title="FUZZER")
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = 30
        self.ae.requested_contexts = [build_context(c, ts) for c in STORAGE_SOP_CLASSES
                                      for ts in accepted_transfer_syntaxes()[:2]]
        self.assoc: Any = None
        self.statuses: Counter[int] = Counter()
        self.folder = Path(tempfile.mkdtemp(prefix="fuzz-"))

    def send(self, data: bytes) -> int:
        path = self.folder / "mutant.dcm"
        path.write_bytes(data)
        if self.assoc is None or not self.assoc.is_established:
            self.assoc = self.ae.associate("127.0.0.1", self.port, ae_title=NODE_AE)
            assert self.assoc.is_established, "the node refused an association"
        try:
            status = self.assoc.send_c_store(path)
        except (ValueError, AttributeError, KeyError, TypeError, OSError):
            return -2  # our own SCU cannot send this mutant; not the node's concern
        code = int(status.Status) if status and "Status" in status else -1
        self.statuses[code] += 1
        return code

    def close(self) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()


def set_raw(ds: pydicom.Dataset, keyword: str, value: bytes) -> None:
    tag = Tag(tag_for_keyword(keyword))
    value += b" " * (len(value) % 2)
    ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(value), value, 0, False, True)


def mutant(base: pydicom.Dataset, kind: str, draw: Any) -> bytes:
    ds = copy.deepcopy(base)  # Dataset.copy() is shallow: deleting would reach the base
    # A new, drawn UID for each mutant (drawn, so hypothesis can replay an example exactly).
    uid = f"2.25.{draw(st.integers(10**20, 10**30))}"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    if kind == "delete":
        delattr(ds, draw(st.sampled_from(MANDATORY)))
    elif kind == "value":
        keyword, value = draw(st.sampled_from(WRONG_VALUES))
        set_raw(ds, keyword, value)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = bytearray(buffer.getvalue())
    body = 132 + 12 + struct.unpack("<I", data[140:144])[0]  # after preamble and file meta
    if kind == "truncate":
        del data[draw(st.integers(body, len(data) - 1)):]
    elif kind == "overwrite":
        start = draw(st.integers(body, len(data) - 1))
        noise = draw(st.binary(min_size=1, max_size=64))
        data[start:start + len(noise)] = noise
    elif kind == "length":
        # Break the 16- or 32-bit length of an element in the first kilobyte of the data set.
        start = draw(st.integers(body, min(body + 1024, len(data) - 4)))
        data[start:start + 4] = struct.pack("<I", draw(st.sampled_from(
            [0, 1, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, len(data) * 2])))
    return bytes(data)


@pytest.fixture(scope="module")
def fuzz_node(tmp_path_factory):
    from tests.support import NodeProcess, free_port, write_config

    folder = tmp_path_factory.mktemp("fuzznode")
    port = free_port()
    config = write_config(folder / "node.toml", folder / "data", port,
                          completion={"quiet_period_s": 3600})
    node = NodeProcess(config, folder / "data", port, folder / "node.log").start()
    yield node
    node.kill()


# A 70 kB PatientName goes out as UN (explicit VR cannot hold it): one more odd mutant.
@pytest.mark.filterwarnings("ignore:The value for the data element:UserWarning")
def test_mutated_instances_each_get_a_specific_status(fuzz_node, phantom_study) -> None:
    base = pydicom.dcmread(phantom_study.files[0])
    sender = Sender(fuzz_node.port)
    unexpected: list[tuple[str, int]] = []

    # derandomize: the same 2000 mutants in every run, so a CI failure replays here (a random
    # run once found an escape; its whole class is now swept in tests/unit/test_header.py).
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(["delete", "value", "truncate", "overwrite", "length"]),
           data=st.data())
    def one(kind: str, data: st.DataObject) -> None:
        code = sender.send(mutant(base, kind, data.draw))
        if code not in EXPECTED and code != -2:
            unexpected.append((kind, code))

    try:
        one()
    finally:
        sender.close()
    print(f"statuses over {EXAMPLES} mutants: "
          + ", ".join(f"0x{c:04X}: {n}" for c, n in sorted(sender.statuses.items()) if c >= 0))
    assert not unexpected, Counter(unexpected).most_common(10)
    assert sum(sender.statuses.values()) > EXAMPLES * 0.9  # nearly all reached the node
    assert {0xA900, 0xC210} <= set(sender.statuses)  # the checks were exercised
    assert fuzz_node.alive() and echoscu(fuzz_node.port) == 0
    assert "unexpected error" not in fuzz_node.log()
    # The node still stores a whole good series after all that.
    assert storescu(fuzz_node.port, phantom_study.dicom_dir).returncode == 0


def _inconsistent(ds: pydicom.Dataset, number: int, kind: str, slices: list[pydicom.Dataset]):
    if number != 10:
        return
    if kind == "duplicate position":
        ds.ImagePositionPatient = slices[11].ImagePositionPatient
    elif kind == "matrix size":
        halved = ds.pixel_array[::2, ::2].copy()
        ds.Rows, ds.Columns = halved.shape
        ds.PixelData = halved.tobytes()
    elif kind == "orientation":
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]


@pytest.mark.parametrize(("kind", "reason"), [
    ("duplicate position", "duplicate slice"),
    ("matrix size", "matrix (rows x columns) changes within the series"),
    ("orientation", "different ImageOrientationPatient"),
])
def test_inconsistent_series_fails_its_job_with_the_reason(
        start_node, phantom_study, tmp_path, kind, reason) -> None:
    slices = [pydicom.dcmread(p) for p in phantom_study.files]
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    series_uid = f"2.25.{sum(map(ord, kind))}{len(kind)}"
    folder = tmp_path / "series"
    folder.mkdir()
    for number, ds in enumerate(copy.deepcopy(slices)):
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{series_uid}.{number}"
        _inconsistent(ds, number, kind, slices)
        ds.save_as(folder / f"{number:03d}.dcm", enforce_file_format=True)
    node = start_node(worker={"count": 1, "poll_interval_s": 0.2})
    assert storescu(node.port, folder).returncode == 0  # every instance is valid on its own
    job = node.wait_for_jobs({"done", "failed"})[0]
    assert job.state.value == "failed" and job.attempts == 1
    assert reason in (job.last_error or "")
