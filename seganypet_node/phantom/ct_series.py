"""The CT of a phantom PET/CT study: Hounsfield units per tissue on the PET grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from seganypet_node.dicom.sop import CT_IMAGE_STORAGE
from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE
from seganypet_node.phantom.anatomy import AIRWAY, BODY, BONE, FAT, Grid
from seganypet_node.phantom.pet_series import (
    StudyIdentity,
    file_meta,
    image_plane,
    place_slice,
    study_header,
)
from seganypet_node.phantom.physics import Acquisition

HOUNSFIELD = {
    BODY: 40, FAT: -100, BONE: 450, AIRWAY: -950,
    BY_NAME["brain"].label: 35, BY_NAME["heart"].label: 40, BY_NAME["liver"].label: 60,
    BY_NAME["spleen"].label: 45, BY_NAME["kidney_left"].label: 35,
    BY_NAME["kidney_right"].label: 35, BY_NAME["urinary_bladder"].label: 10,
    BY_NAME["lung_left"].label: -850, BY_NAME["lung_right"].label: -850,
    BY_NAME["aorta"].label: 45,
}


def write_ct_series(labels: np.ndarray, grid: Grid, acquisition: Acquisition,
                    identity: StudyIdentity, out: Path, rng: np.random.Generator) -> list[Path]:
    """One CT slice per PET slice, same study and frame of reference."""
    hu = np.full(labels.shape, -1000.0, dtype=np.float32)
    for label, value in HOUNSFIELD.items():
        hu[labels == label] = value
    hu[labels >= LESION_LABEL_BASE] = 40
    hu += rng.normal(0, 12, hu.shape).astype(np.float32) * (labels > 0)
    base = study_header(acquisition, identity)
    base.SOPClassUID = CT_IMAGE_STORAGE
    base.SeriesInstanceUID = generate_uid()
    base.Modality, base.SeriesNumber, base.SeriesDescription = "CT", 1, "CT for AC (phantom)"
    base.SeriesDate = base.StudyDate
    base.SeriesTime = (acquisition.series_time.replace(minute=0)).strftime("%H%M%S")
    base.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    base.KVP, base.AcquisitionNumber, base.PatientPosition = 120, 1, "HFS"
    image_plane(base, grid)
    base.RescaleIntercept, base.RescaleSlope, base.RescaleType = -1024, 1, "HU"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    nz = labels.shape[0]
    for number, k in enumerate(range(nz - 1, -1, -1), start=1):
        ds = Dataset()
        ds.update(base)
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = number
        place_slice(ds, grid, k)
        ds.PixelData = np.clip(np.round(hu[k] + 1024), -32768, 32767).astype("<i2").tobytes()
        ds.file_meta = file_meta(ds)
        path = out / f"CT{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
