"""Synthetic whole-body FDG PET studies with ground truth (tests, demo, training)."""
