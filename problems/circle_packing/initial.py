"""Seed program: 26 circles placed in concentric rings, radii grown until they touch."""

import numpy as np


# EVOLVE-BLOCK-START
def construct_packing():
    """Place the centres: one in the middle, a ring of 8 around it, an outer ring of 17."""
    n = 26
    centers = np.zeros((n, 2))
    centers[0] = [0.5, 0.5]
    for i in range(8):
        angle = 2 * np.pi * i / 8
        centers[i + 1] = [0.5 + 0.3 * np.cos(angle), 0.5 + 0.3 * np.sin(angle)]
    for i in range(17):
        angle = 2 * np.pi * i / 17
        centers[i + 9] = [0.5 + 0.7 * np.cos(angle), 0.5 + 0.7 * np.sin(angle)]
    centers = np.clip(centers, 0.01, 0.99)
    return centers, compute_max_radii(centers)


def compute_max_radii(centers):
    """Largest radii with every circle inside the square, shrinking overlapping pairs in turn."""
    n = centers.shape[0]
    radii = np.min(np.stack([centers[:, 0], centers[:, 1], 1 - centers[:, 0], 1 - centers[:, 1]]), axis=0)
    for i in range(n):
        for j in range(i + 1, n):
            distance = np.sqrt(np.sum((centers[i] - centers[j]) ** 2))
            if radii[i] + radii[j] > distance:
                scale = distance / (radii[i] + radii[j])
                radii[i] *= scale
                radii[j] *= scale
    return radii
# EVOLVE-BLOCK-END


def run_packing():
    """Entry point called by the evaluator: returns (centers, radii)."""
    centers, radii = construct_packing()
    return centers, radii
