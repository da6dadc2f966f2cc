"""Trusted evaluator for circle packing: call run_packing() in the sandbox, verify, score.

Score: the sum of radii of a valid packing. Validity is recomputed here from the raw
numbers (evaluators.geometry): any circle outside the square or any overlap beyond 1e-9
makes the candidate INVALID_OUTPUT with the first violation in the message.
"""

import numpy as np

from evaluators import Evaluation, InvalidOutput
from evaluators.geometry import as_float_array, verify_circles_in_unit_square

N = 26
TOLERANCE = 1e-9
BEST_KNOWN = 2.635


def evaluate(candidate):
    result = candidate.call("run_packing")
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise InvalidOutput(f"run_packing() must return (centers, radii), got {type(result).__name__}")
    centers = as_float_array(result[0], (N, 2), "centers")
    radii = as_float_array(result[1], (N,), "radii")
    verify_circles_in_unit_square(centers, radii, TOLERANCE)
    total = float(radii.sum())
    slack = np.minimum.reduce([centers[:, 0], centers[:, 1], 1 - centers[:, 0], 1 - centers[:, 1]]) - radii
    touching = int(np.sum(slack < 1e-6))
    mean = float(radii.mean())
    cv = float(radii.std() / mean) if mean > 0 else 0.0
    feedback = (
        f"sum of radii {total:.6f} ({total / BEST_KNOWN:.1%} of the best known {BEST_KNOWN}); "
        f"radii from {radii.min():.4f} to {radii.max():.4f}; {touching} of {N} circles touch the border; "
        f"{int(np.sum(radii < 1e-3))} circles are nearly empty (radius < 0.001)."
    )
    return Evaluation(
        score=total,
        metrics={"min_radius": float(radii.min()), "max_radius": float(radii.max()), "fraction_of_best_known": total / BEST_KNOWN},
        features={"radius_cv": cv, "border_fraction": touching / N},
        feedback=feedback,
    )
