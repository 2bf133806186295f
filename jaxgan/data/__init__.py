"""Data: datasets and composable sources with deterministic batches (sources.py), images of any
size as crops or tiles (image_sets.py), on-the-fly degradations (degradations.py) and inpainting
masks (masks.py), and image files: reading, grids, PNGs and the [-1, 1] -> uint8 conversion
(images.py), the files the command-line tools read and write (image_files.py)."""
