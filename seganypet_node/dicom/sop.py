"""SOP classes and transfer syntaxes the node accepts."""

from __future__ import annotations

import logging

from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

log = logging.getLogger(__name__)

PET_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.128")
ENHANCED_PET_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.130")
CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")

PET_SOP_CLASSES = frozenset({PET_IMAGE_STORAGE, ENHANCED_PET_IMAGE_STORAGE})
# CT is accepted so that a whole PET/CT study can be pushed; it is stored, not segmented.
STORAGE_SOP_CLASSES = (PET_IMAGE_STORAGE, ENHANCED_PET_IMAGE_STORAGE, CT_IMAGE_STORAGE)

UNCOMPRESSED_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
_LOSSLESS_SYNTAXES = (JPEGLSLossless, JPEG2000Lossless, RLELossless, JPEGLosslessSV1)
# Some PET/CT scanners (Siemens) export with the general JPEG 2000 syntax; storing the bytes
# as they came loses nothing, so it is accepted too when it can be decoded.
_COMPRESSED_SYNTAXES = (*_LOSSLESS_SYNTAXES, JPEG2000)


def accepted_transfer_syntaxes() -> list[UID]:
    """Transfer syntaxes offered for storage: uncompressed, deflated and the compressed
    ones (lossless, plus general JPEG 2000) that an installed pydicom plugin can decode."""
    from pydicom.pixels.decoders.base import get_decoder

    syntaxes = [*UNCOMPRESSED_SYNTAXES, DeflatedExplicitVRLittleEndian]
    for uid in _COMPRESSED_SYNTAXES:
        try:
            available = get_decoder(uid).is_available
        except (NotImplementedError, ValueError):
            available = False
        if available:
            syntaxes.append(uid)
        else:
            log.warning("transfer syntax %s not offered: no pydicom decoder plugin", uid.name)
    return syntaxes
