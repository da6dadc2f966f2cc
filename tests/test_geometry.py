import numpy as np
import pytest

from evaluators import InvalidOutput
from evaluators.geometry import as_float_array, verify_circles_in_unit_square


def test_valid_packing_passes_and_touching_is_allowed():
    centers = np.array([[0.25, 0.5], [0.75, 0.5]])
    verify_circles_in_unit_square(centers, np.array([0.25, 0.25]))


def test_overlap_beyond_tolerance_is_rejected_with_the_pair():
    centers = np.array([[0.3, 0.5], [0.7, 0.5]])
    with pytest.raises(InvalidOutput, match="circles 0 and 1 overlap"):
        verify_circles_in_unit_square(centers, np.array([0.2, 0.2 + 1e-8]))
    verify_circles_in_unit_square(centers, np.array([0.2, 0.2 + 5e-10]))  # within 1e-9


def test_circle_outside_square_is_rejected():
    with pytest.raises(InvalidOutput, match="circle 0 .* outside the unit square"):
        verify_circles_in_unit_square(np.array([[0.05, 0.5]]), np.array([0.06]))
    with pytest.raises(InvalidOutput, match="outside"):
        verify_circles_in_unit_square(np.array([[0.5, 0.99]]), np.array([0.02]))


def test_negative_radius_rejected():
    with pytest.raises(InvalidOutput, match="negative radius"):
        verify_circles_in_unit_square(np.array([[0.5, 0.5]]), np.array([-0.1]))


def test_as_float_array_checks_shape_and_finiteness():
    with pytest.raises(InvalidOutput, match=r"shape \(3,\), expected \(2,\)"):
        as_float_array([1, 2, 3], (2,), "radii")
    with pytest.raises(InvalidOutput, match=r"radii\[1\] is nan"):
        as_float_array([1, float("nan")], (2,), "radii")
    with pytest.raises(InvalidOutput, match="not numeric"):
        as_float_array(["a", "b"], (2,), "radii")
