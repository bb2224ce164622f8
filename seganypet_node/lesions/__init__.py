"""Lesions: hot foci above the PERCIST threshold outside physiological uptake, each delineated
by SegAnyPET from one click, and the tumour burden they add up to."""
