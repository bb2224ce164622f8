"""What the node sends back: measurements, DICOM SEG, TID 1500 SR, key image."""
