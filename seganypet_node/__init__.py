"""seganypet-node: a DICOM node that segments whole-body PET with SegAnyPET."""

__version__ = "0.1.0"
