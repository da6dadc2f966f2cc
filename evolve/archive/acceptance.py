"""Acceptance rules: when a program takes a cell from the elite that holds it.

An empty cell always accepts. Otherwise the rule decides, from the incumbent and the
challenger alone (never from arrival time, so a replayed sequence of insertions rebuilds
the same archive):

* ``StrictImprovement``: the challenger's fitness is strictly greater; ties keep the
  incumbent (the MAP-Elites rule).
* ``Parsimony``: strictly greater fitness, or fitness within a relative ``tolerance`` of
  the incumbent's (|f_c - f_i| <= tolerance * max(1, |f_i|)) with shorter code. Program
  search bloats: among equally good programs the shorter is easier to read and to edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from evolve.archive.grid import Elite


class Acceptance(Protocol):
    name: str

    def accepts(self, incumbent: "Elite", challenger: "Elite") -> bool:
        """Whether ``challenger`` replaces ``incumbent`` in its cell."""


class StrictImprovement:
    name = "strict"

    def accepts(self, incumbent: "Elite", challenger: "Elite") -> bool:
        return challenger.fitness > incumbent.fitness


class Parsimony:
    name = "parsimony"

    def __init__(self, tolerance: float = 0.0) -> None:
        if tolerance < 0:
            raise ValueError(f"parsimony tolerance must be >= 0, got {tolerance}")
        self.tolerance = tolerance

    def accepts(self, incumbent: "Elite", challenger: "Elite") -> bool:
        if challenger.fitness > incumbent.fitness + self._band(incumbent):
            return True
        tied = abs(challenger.fitness - incumbent.fitness) <= self._band(incumbent)
        return tied and len(challenger.code) < len(incumbent.code)

    def _band(self, incumbent: "Elite") -> float:
        return self.tolerance * max(1.0, abs(incumbent.fitness))


def make_acceptance(name: str, tolerance: float = 0.0) -> Acceptance:
    """The rule called ``name`` (``[search] acceptance``)."""
    if name == "strict":
        return StrictImprovement()
    if name == "parsimony":
        return Parsimony(tolerance)
    raise ValueError(f"unknown acceptance rule {name!r}; choose strict or parsimony")
