"""Reference packing: a 5 x 5 grid of equal circles (r = 0.1) plus one circle in a grid gap.

Sum of radii 2.5 + (sqrt(2) - 1) * 0.1 = 2.5414: the simple regular packing a search has to beat.
"""

import numpy as np


def run_packing():
    coords = 0.1 + 0.2 * np.arange(5)
    xs, ys = np.meshgrid(coords, coords)
    centers = np.column_stack([xs.ravel(), ys.ravel()])
    radii = np.full(25, 0.1)
    gap_radius = (np.sqrt(2.0) - 1.0) * 0.1 * (1 - 1e-9)
    centers = np.vstack([centers, [0.2, 0.2]])
    radii = np.append(radii, gap_radius)
    return centers, radii
