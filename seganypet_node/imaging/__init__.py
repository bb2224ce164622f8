"""PET series to volume, and the SUV conversion (QIBA vendor-neutral rules)."""
