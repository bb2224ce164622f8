"""highdicom's Segmentation with its overlap check done plane by plane and its frames packed once.

highdicom decides SegmentsOverlap by summing the whole (frames, rows, columns, segments)
stack over segments in int64: 0.9 GB for a 2 mm 900 x 360^2 study, beside the 1.4 GB stack
itself. The same answer comes from one plane at a time in uint8 (at most 255 segments).
The check overridden is private to highdicom, its signature that of 0.28 (``setup.cfg`` pins
the minor version; ``tests/unit/test_seg_stack.py`` compares the two answers).

highdicom also keeps every packed frame as its own bytes and joins them at the end: the pixel
data is held twice (0.5 GB at 2 mm). Here each frame is appended to one buffer as it is packed,
and that buffer can be handed to the writer instead of becoming ``PixelData``
(:meth:`PlaneCheckedSegmentation.take_pixel_data`), so it is held once.
"""

from __future__ import annotations

from typing import Any

import highdicom as hd
import numpy as np

MAX_SEGMENTS = 255  # a uint8 sum over one plane's segments cannot overflow


class PlaneCheckedSegmentation(hd.seg.Segmentation):
    """:class:`highdicom.seg.Segmentation`, the overlap of a binary 4D stack checked per plane.

    Anything else (label maps, fractional values, volumes) goes through highdicom's own check.

    Parameters
    ----------
    *args, **kwargs
        Those of :class:`highdicom.seg.Segmentation`.
    keep_pixel_data : bool
        True: ``PixelData`` is set, as highdicom sets it. False: it is left out and the packed
        frames wait in :meth:`take_pixel_data`, for a writer that streams them
        (:func:`seganypet_node.outputs.dicom_file.write_durably`); only native (uncompressed)
        transfer syntaxes.
    """

    def __init__(self, *args: Any, keep_pixel_data: bool = True, **kwargs: Any) -> None:
        self._packed: bytearray | None = bytearray()
        super().__init__(*args, **kwargs)
        if not self._packed and self.get("PixelData"):  # encapsulated (compressed) frames
            self._packed = None
            if not keep_pixel_data:
                raise ValueError("keep_pixel_data=False needs a native transfer syntax")
            return
        if len(self._packed) % 2:
            self._packed.append(0)  # PS3.5 8.1.1: an odd-length value gets one padding byte
        if "PixelData" in self:
            del self.PixelData
        if keep_pixel_data:
            self.PixelData = bytes(self.take_pixel_data())

    def take_pixel_data(self) -> bytearray:
        """The packed frames (the value of PixelData), handed over once."""
        if self._packed is None:
            raise ValueError("the pixel data was taken already")
        packed, self._packed = self._packed, None
        return packed

    def _encode_pixels_native(self, planes: np.ndarray) -> bytes:
        assert self._packed is not None
        self._packed += super()._encode_pixels_native(planes)
        return b""  # highdicom joins these: only empty strings now

    @classmethod
    def _check_and_cast_pixel_array(cls, pixel_array: Any, segment_numbers: np.ndarray,
                                    segmentation_type: hd.seg.SegmentationTypeValues,
                                    dtype: type) -> tuple[Any, hd.seg.SegmentsOverlapValues]:
        if not _binary_stack(pixel_array, segment_numbers, segmentation_type):
            return super()._check_and_cast_pixel_array(
                pixel_array, segment_numbers, segmentation_type, dtype)
        if pixel_array.max() > 1:
            raise ValueError("a 4D stack of segments must be binary (0 or 1)")
        overlap = any(bool((plane.sum(axis=-1, dtype=np.uint8) > 1).any())
                      for plane in pixel_array)
        return pixel_array, (hd.seg.SegmentsOverlapValues.YES if overlap
                             else hd.seg.SegmentsOverlapValues.NO)


def _binary_stack(pixel_array: Any, segment_numbers: np.ndarray,
                  segmentation_type: hd.seg.SegmentationTypeValues) -> bool:
    return (isinstance(pixel_array, np.ndarray) and pixel_array.ndim == 4
            and pixel_array.dtype == np.uint8
            and segmentation_type is hd.seg.SegmentationTypeValues.BINARY
            and pixel_array.shape[-1] == len(segment_numbers)
            and 1 < len(segment_numbers) <= MAX_SEGMENTS)
