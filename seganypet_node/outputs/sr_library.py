"""The TID 1600 image library of a report: the PET slices, their shared descriptors said once.

highdicom's :class:`~highdicom.sr.ImageLibrary` repeats all 16 TID 1602/1604 descriptors under
every image (about 200 data elements a slice: 1.5 MB and most of a report's build and write
time for a 380-slice series). TID 1601 lets an Image Library Group carry the descriptors its
images share; here that is everything but the image position, which is what tells one slice
of a series from the next. Slices that do not share them (mixed geometry) keep highdicom's
full per-image form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

POSITION = (codes.DCM.ImagePositionPatientX, codes.DCM.ImagePositionPatientY,
            codes.DCM.ImagePositionPatientZ)
# What every slice of the group must agree on before its descriptors are said once.
SHARED_ATTRIBUTES = ("Modality", "SOPClassUID", "FrameOfReferenceUID", "Rows", "Columns",
                     "PixelSpacing", "SliceThickness", "SpacingBetweenSlices",
                     "ImageOrientationPatient")
SOURCE = hd.sr.CodedConcept("260753009", "SCT", "Source")


def image_library(sources: Sequence[Dataset]) -> hd.sr.ContainerContentItem:
    """The Image Library container listing ``sources`` (one group when they share geometry).

    Raises
    ------
    ValueError
        ``sources`` is empty.
    """
    if not sources:
        raise ValueError("an image library needs at least one image")
    if not _share_geometry(sources):
        return cast(hd.sr.ContainerContentItem, hd.sr.ImageLibrary(list(sources))[0])
    descriptors = hd.sr.ImageLibraryEntryDescriptors(sources[0])
    group = hd.sr.ContainerContentItem(name=codes.DCM.ImageLibraryGroup,
                                       relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    group.ContentSequence = hd.sr.ContentSequence(
        [item for item in descriptors if item.name not in POSITION]
        + [_entry(source) for source in sources])
    library = hd.sr.ContainerContentItem(name=codes.DCM.ImageLibrary,
                                         relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    library.ContentSequence = hd.sr.ContentSequence([group])
    return library


def _share_geometry(sources: Sequence[Dataset]) -> bool:
    """Whether every slice has the first one's values of :data:`SHARED_ATTRIBUTES`."""
    first = [sources[0].get(name) for name in SHARED_ATTRIBUTES]
    return all([source.get(name) for name in SHARED_ATTRIBUTES] == first for source in sources)


def _entry(source: Dataset) -> hd.sr.ImageContentItem:
    """One slice: its reference and its own position (TID 1604)."""
    item = hd.sr.ImageContentItem(
        name=SOURCE, referenced_sop_class_uid=source.SOPClassUID,
        referenced_sop_instance_uid=source.SOPInstanceUID,
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    item.ContentSequence = hd.sr.ContentSequence([
        hd.sr.NumContentItem(name=name, value=float(value), unit=codes.UCUM.Millimeter,
                             relationship_type=hd.sr.RelationshipTypeValues.HAS_ACQ_CONTEXT)
        for name, value in zip(POSITION, source.ImagePositionPatient, strict=True)])
    return item
