"""The SEG's overlap check, done plane by plane, says what highdicom's whole-stack sum says;
its frames, packed once and streamed to the file, are highdicom's; its stack is sparse."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.organs import BY_NAME
from seganypet_node.outputs.dicom_file import write_durably
from seganypet_node.outputs.seg import (
    Algorithm,
    SegmentMask,
    build_segmentation,
    organ_segment,
    segment_description,
    segment_stack,
)
from seganypet_node.outputs.seg_stack import PlaneCheckedSegmentation

BINARY = hd.seg.SegmentationTypeValues.BINARY


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("by_segment", [False, True])
def test_overlap_per_plane_agrees_with_highdicom(seed: int, by_segment: bool) -> None:
    """Also for the transposed view the SEG builder passes (stored segment by segment)."""
    rng = np.random.default_rng(seed)
    stack = np.zeros((4, 9, 12, 10), np.uint8).transpose(1, 2, 3, 0) if by_segment \
        else np.zeros((9, 12, 10, 4), np.uint8)
    for segment in range(4):
        z, y, x = rng.integers(0, 6, 3)
        stack[z:z + 3, y:y + 5, x:x + 4, segment] = 1
    numbers = np.arange(1, 5)
    ours = PlaneCheckedSegmentation._check_and_cast_pixel_array(stack, numbers, BINARY, np.uint8)
    theirs = hd.seg.Segmentation._check_and_cast_pixel_array(stack, numbers, BINARY, np.uint8)
    assert ours[1] == theirs[1]
    assert ours[0] is stack  # no copy of the stack either


def test_a_stack_that_is_not_binary_is_refused() -> None:
    stack = np.zeros((2, 3, 3, 2), np.uint8)
    stack[0, 0, 0, 1] = 2
    with pytest.raises(ValueError, match="binary"):
        PlaneCheckedSegmentation._check_and_cast_pixel_array(stack, np.arange(1, 3), BINARY,
                                                             np.uint8)


@pytest.mark.parametrize("by_segment", [False, True])
def test_disjoint_segments_and_an_overlap_in_the_last_plane_only(by_segment: bool) -> None:
    stack = np.zeros((3, 6, 8, 8), np.uint8).transpose(1, 2, 3, 0) if by_segment \
        else np.zeros((6, 8, 8, 3), np.uint8)
    stack[0:3, :, :4, 0] = 1
    stack[0:3, :, 4:, 1] = 1  # beside segment 1, not on it
    stack[5, 2:4, 2:4, 2] = 1
    numbers = np.arange(1, 4)
    check = PlaneCheckedSegmentation._check_and_cast_pixel_array
    assert check(stack, numbers, BINARY, np.uint8)[1] is hd.seg.SegmentsOverlapValues.NO
    stack[5, 3, 3, 0] = 1  # one voxel of the last plane in two segments
    assert check(stack, numbers, BINARY, np.uint8)[1] is hd.seg.SegmentsOverlapValues.YES


def _sources(study) -> list[pydicom.Dataset]:
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in study.files]
    return sorted(sources, key=lambda ds: float(ds.ImagePositionPatient[2]))[:40]


def _segments(shape: tuple[int, int, int], rows: int) -> list[SegmentMask]:
    """Two organs on a grid whose frames hold ``rows`` x 64 pixels."""
    first = np.zeros((10, rows // 2, 8), bool)
    first[2:8, 1:, 2:6] = True
    second = np.ones((5, 3, 3), bool)
    return [organ_segment(BY_NAME["liver"], BoxMask(shape, (slice(5, 15), slice(0, rows // 2),
                                                            slice(10, 18)), first)),
            organ_segment(BY_NAME["spleen"], BoxMask(shape, (slice(30, 35), slice(2, 5),
                                                             slice(40, 43)), second))]


@pytest.mark.parametrize("odd_frames", [False, True])
def test_pixel_data_handed_to_the_writer_is_the_file_highdicom_would_give(
        phantom_study, tmp_path: Path, odd_frames: bool) -> None:
    """Packed once into one buffer and streamed: the same pixels, padded when odd, as
    highdicom's joined frames; a 63-row grid makes the bit-packed value odd-length."""
    sources = _sources(phantom_study)
    if odd_frames:
        for ds in sources:
            ds.Rows = 63
    shape = (len(sources), int(sources[0].Rows), int(sources[0].Columns))
    segments = _segments(shape, shape[1])
    kept = build_segmentation(sources, segments, Algorithm("test", "1"))
    streamed = build_segmentation(sources, segments, Algorithm("test", "1"),
                                  keep_pixel_data=False)
    assert "PixelData" not in streamed
    path = tmp_path / "seg.dcm"
    write_durably(streamed, path, streamed.take_pixel_data())
    with pytest.raises(ValueError, match="taken already"):
        streamed.take_pixel_data()
    read = pydicom.dcmread(path)
    assert read.PixelData == kept.PixelData
    assert len(read.PixelData) % 2 == 0
    assert read.NumberOfFrames == kept.NumberOfFrames == 2 * len(sources)
    theirs = hd.seg.Segmentation(
        source_images=sources, pixel_array=segment_stack([s.mask for s in segments], shape),
        segmentation_type=BINARY,
        segment_descriptions=[segment_description(i, s, Algorithm("test", "1"))
                              for i, s in enumerate(segments, start=1)],
        series_instance_uid=generate_uid(), series_number=1, sop_instance_uid=generate_uid(),
        instance_number=1, manufacturer="x", manufacturer_model_name="x",
        software_versions="1", device_serial_number="0", omit_empty_frames=False)
    highdicom_value = theirs.PixelData
    assert read.PixelData[:len(highdicom_value)] == highdicom_value[:len(read.PixelData)]
    plane = hd.seg.segread(path).get_pixels_by_source_instance(
        [str(sources[10].SOPInstanceUID)], segment_numbers=[1])
    assert np.array_equal(plane[0, :, :, 0].astype(bool), segments[0].mask.full()[10])


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_the_segment_stack_costs_its_boxes_not_the_field_of_view() -> None:
    """Twelve thin segments through a 300 x 360^2 grid (1.5 GB as a dense stack): each costs
    the 4 kB pages its rows touch (about 2 MB). numpy's own zeros, advised to 2 MB huge pages,
    cost each segment its whole slab of planes (39 MB, 0.47 GB in all)."""
    shape = (300, 360, 360)
    masks = [BoxMask(shape, (slice(0, 300), slice(10 * i, 10 * i + 8), slice(0, 8)),
                     np.ones((300, 8, 8), bool)) for i in range(12)]
    before = _rss_kib()
    stack = segment_stack(masks, shape)
    grew_mb = (_rss_kib() - before) / 1024
    assert stack.shape == (*shape, 12) and int(stack[:, 0:8, 0:8, 0].sum()) == 300 * 64
    assert bool(stack.max() == 1)  # reading untouched pages allocates nothing either
    assert grew_mb < 60 and (_rss_kib() - before) / 1024 < 60, f"{grew_mb:.0f} MB"
