"""Measurements of segmented regions: uptake statistics and the PERCIST references."""
