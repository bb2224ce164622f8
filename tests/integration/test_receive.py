"""dcmtk peers push studies to a real node process; files and rows are checked afterwards."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless
from sqlalchemy import select

from seganypet_node.db.models import Instance, Job, Series
from seganypet_node.db.states import CompletionRule, JobState, SeriesState
from seganypet_node.dicom.sop import ENHANCED_PET_IMAGE_STORAGE
from tests.support import echoscu, pynetdicom_store, storescu

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dcmtk")]


def sent_equals_stored(source: Path, stored: Path) -> bool:
    """The stored data set is the sent one, element for element (file meta aside)."""
    a, b = pydicom.dcmread(source), pydicom.dcmread(stored)
    return a.SOPInstanceUID == b.SOPInstanceUID and a.PixelData == b.PixelData and all(
        element == b[element.tag] for element in a
    )


def altered_copies(files, tmp_path: Path, alter) -> Path:
    """Copies of ``files`` changed by ``alter(dataset)``, in a folder of their own."""
    folder = tmp_path / "series"
    folder.mkdir()
    for path in files:
        ds = pydicom.dcmread(path)
        alter(ds)
        ds.save_as(folder / path.name)
    return folder


def test_echo(start_node) -> None:
    node = start_node()
    assert echoscu(node.port) == 0


def test_series_is_stored_completed_once_and_resend_is_idempotent(
    start_node, phantom_study
) -> None:
    node = start_node()
    first = storescu(node.port, phantom_study.dicom_dir)
    assert first.returncode == 0, first.stderr
    assert node.counts() == {"instances": 300, "series": 1, "jobs": 1}
    again = storescu(node.port, phantom_study.dicom_dir)
    assert again.returncode == 0, again.stderr
    assert node.counts() == {"instances": 300, "series": 1, "jobs": 1}
    with node.session() as s:
        series = s.scalars(select(Series)).one()
        job = s.scalars(select(Job)).one()
        instances = s.scalars(select(Instance)).all()
    assert series.state is SeriesState.COMPLETE and series.completion_rule is CompletionRule.COUNT
    assert series.calling_ae == "STORESCU" and job.state is JobState.PENDING
    spool = node.data_dir / "spool"
    by_uid = {i.sop_instance_uid: spool / i.spool_path for i in instances}
    for source in phantom_study.files[::37]:
        uid = pydicom.dcmread(source, stop_before_pixels=True).SOPInstanceUID
        assert sent_equals_stored(source, by_uid[uid])
    assert len(list(spool.rglob("*.dcm"))) == 300
    assert not list(spool.rglob("*.tmp"))


def test_four_parallel_associations(start_node, make_phantom) -> None:
    studies = [make_phantom(seed) for seed in (21, 22, 23, 24)]
    node = start_node()
    results: dict[int, int] = {}

    def send(k: int) -> None:
        results[k] = storescu(node.port, studies[k].dicom_dir, calling=f"SCU{k}").returncode

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: 0, 1: 0, 2: 0, 3: 0}
    assert node.counts() == {"instances": 1200, "series": 4, "jobs": 4}


@pytest.mark.parametrize(
    ("syntax", "propose"),
    [(RLELossless, "-xr"), (JPEGLSLossless, "-xt"), (JPEG2000Lossless, "-xv")],
)
def test_lossless_transfer_syntaxes(
    start_node, phantom_study, tmp_path: Path, syntax, propose: str
) -> None:
    source = pydicom.dcmread(phantom_study.files[150])
    expected = source.pixel_array.copy()
    source.compress(syntax)
    path = tmp_path / "compressed.dcm"
    source.save_as(path, enforce_file_format=True)
    node = start_node()
    result = storescu(node.port, path, extra=(propose,))
    assert result.returncode == 0, result.stdout + result.stderr
    with node.session() as s:
        row = s.scalars(select(Instance)).one()
    assert row.transfer_syntax_uid == syntax
    stored = pydicom.dcmread(node.data_dir / "spool" / row.spool_path)
    assert (stored.pixel_array == expected).all()


def test_implicit_vr_little_endian(start_node, phantom_study) -> None:
    node = start_node()
    result = storescu(node.port, phantom_study.files[0], extra=("-xi",))
    assert result.returncode == 0, result.stderr
    with node.session() as s:
        assert s.scalars(select(Instance.transfer_syntax_uid)).one() == "1.2.840.10008.1.2"


def test_series_without_number_of_slices_completes_after_quiet_period(
    start_node, phantom_study, tmp_path: Path
) -> None:
    folder = altered_copies(phantom_study.files[:5], tmp_path, lambda ds: delattr(
        ds, "NumberOfSlices"))
    node = start_node(completion={"quiet_period_s": 1.0, "sweep_interval_s": 0.2})
    assert storescu(node.port, folder).returncode == 0
    deadline = time.monotonic() + 15
    while node.counts()["jobs"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    with node.session() as s:
        series = s.scalars(select(Series)).one()
    assert series.completion_rule is CompletionRule.QUIET
    assert node.counts()["jobs"] == 1


def test_non_attenuation_corrected_pet_is_stored_without_job(
    start_node, phantom_study, tmp_path: Path
) -> None:
    def not_attenuation_corrected(ds: pydicom.Dataset) -> None:
        ds.CorrectedImage = ["DECY", "NORM"]
        ds.NumberOfSlices = 3

    folder = altered_copies(phantom_study.files[:3], tmp_path, not_attenuation_corrected)
    node = start_node()
    assert storescu(node.port, folder).returncode == 0
    with node.session() as s:
        series = s.scalars(select(Series)).one()
    assert series.state is SeriesState.COMPLETE
    assert "not attenuation corrected" in series.skip_reason
    assert node.counts() == {"instances": 3, "series": 1, "jobs": 0}


def test_enhanced_pet_multiframe_is_stored_and_gets_a_job(
    start_node, phantom_study, tmp_path: Path
) -> None:
    frames = [pydicom.dcmread(p) for p in phantom_study.files[100:110]]
    ds = frames[0]
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = ENHANCED_PET_IMAGE_STORAGE
    ds.NumberOfFrames = len(frames)
    del ds.NumberOfSlices  # multi-frame: completion by the quiet period
    ds.PixelData = b"".join(f.PixelData for f in frames)
    path = tmp_path / "enhanced.dcm"
    ds.save_as(path, enforce_file_format=True)
    node = start_node(completion={"quiet_period_s": 0.5, "sweep_interval_s": 0.2})
    result = storescu(node.port, path, extra=("-R",))  # storescu proposes Enhanced PET on -R
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + 15
    while node.counts()["jobs"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    with node.session() as s:
        series = s.scalars(select(Series)).one()
    assert series.sop_class_uid == ENHANCED_PET_IMAGE_STORAGE and series.skip_reason is None
    assert node.counts() == {"instances": 1, "series": 1, "jobs": 1}


def test_real_pet_and_ct_slices_are_received(start_node, shared_data: Path) -> None:
    folder = shared_data / "real_pet_slices"
    # dcmtk cannot read the UIDs of this file (every element is UN); pynetdicom sends its bytes.
    odd = folder / "2021-02-19-MalaterreCP246.dcm"
    jpeg2000 = sorted((folder / "Comunix").rglob("*.dcm"))
    files = [p for p in folder.glob("*.dcm") if p != odd]
    node = start_node()
    result = storescu(node.port, *files)
    assert result.returncode == 0, result.stdout + result.stderr
    result = storescu(node.port, *jpeg2000, extra=("-xw",))  # Siemens' JPEG 2000 export
    assert result.returncode == 0, result.stdout + result.stderr
    assert pynetdicom_store(node.port, odd).Status == 0
    with node.session() as s:
        rows = s.scalars(select(Series)).all()
    modalities = sorted(r.modality for r in rows)
    assert modalities.count("PT") >= 4 and "CT" in modalities
    for row in rows:
        if row.modality == "CT":
            assert row.skip_reason == "CT series: stored, not segmented"
    for stored in (node.data_dir / "spool").rglob("*.dcm"):
        ds = pydicom.dcmread(stored)
        assert ds.pixel_array.size > 0
