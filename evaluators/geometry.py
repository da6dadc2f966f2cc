"""Strict geometric verifiers, shared by packing-style problems.

The trusted side recomputes feasibility itself from the candidate's raw numbers; nothing the
candidate says about its own validity is believed.
"""

from __future__ import annotations

import numpy as np

from evaluators.contract import InvalidOutput


def as_float_array(value: object, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Convert to a float64 array of exactly ``shape`` with finite entries, or raise InvalidOutput."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidOutput(f"{name} is not numeric: {exc}") from None
    if array.shape != shape:
        raise InvalidOutput(f"{name} has shape {array.shape}, expected {shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidOutput(f"{name}{list(index)} is {array[index]}, not a finite number")
    return array


def verify_circles_in_unit_square(centers: np.ndarray, radii: np.ndarray, tol: float = 1e-9) -> None:
    """Raise InvalidOutput naming the first violation; return None for a valid packing.

    Valid iff for every i: r_i >= 0 and r_i <= x_i, y_i, 1 - x_i, 1 - y_i (+ tol), and for
    every pair i < j: r_i + r_j <= |c_i - c_j| (+ tol).
    """
    n = len(radii)
    negative = np.flatnonzero(radii < 0)
    if negative.size:
        i = int(negative[0])
        raise InvalidOutput(f"circle {i} has negative radius {radii[i]:.6g}")
    slack = np.minimum.reduce([centers[:, 0], centers[:, 1], 1 - centers[:, 0], 1 - centers[:, 1]]) - radii
    outside = np.flatnonzero(slack < -tol)
    if outside.size:
        i = int(outside[0])
        x, y = centers[i]
        raise InvalidOutput(
            f"circle {i} (centre ({x:.6g}, {y:.6g}), radius {radii[i]:.6g}) extends {-slack[i]:.3g} outside the unit square"
        )
    if n < 2:
        return
    i_idx, j_idx = np.triu_indices(n, k=1)
    distance = np.linalg.norm(centers[i_idx] - centers[j_idx], axis=1)
    overlap = radii[i_idx] + radii[j_idx] - distance
    worst = int(np.argmax(overlap))
    if overlap[worst] > tol:
        i, j = int(i_idx[worst]), int(j_idx[worst])
        raise InvalidOutput(f"circles {i} and {j} overlap by {overlap[worst]:.3g} (radii {radii[i]:.6g} + {radii[j]:.6g} > distance {distance[worst]:.6g})")
