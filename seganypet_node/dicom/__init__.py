"""Everything that speaks the DICOM network protocol: listener, spool, completion."""
