"""What the C&CG engine returns: termination status, worst cases, iteration history."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class Termination(enum.Enum):
    """Why the C&CG loop stopped."""

    OPTIMAL = "optimal"
    """The relative gap between the bounds reached ``rel_gap``."""
    STALLED = "stalled"
    """No worst case cut off the master's solution, but the gap stayed above ``rel_gap``
    (separation MIP gaps or numerical tolerances larger than ``rel_gap``)."""
    ITERATION_LIMIT = "iteration_limit"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    """No first stage is feasible for the worst cases found so far."""


@dataclass(frozen=True)
class WorstCase:
    """The worst case of one block for one first stage.

    Attributes
    ----------
    block : int
        Position of the block.
    u : ndarray
        The worst uncertain vector found (a vertex of the set).
    value : float
        ``Q_b(x, u)`` from the recourse LP (``inf`` if the recourse is infeasible at ``u``).
    bound : float
        Upper bound on ``max_{u in U_b} Q_b(x, u)`` (the separation MILP's dual bound; equal
        to ``value`` when solved exactly).
    solve_s : float
        Time of the separation (s).
    widenings : int
        How often a big-M bound was widened.
    exact : bool
        Whether ``bound`` bounds the true maximum; ``False`` for a worst case the ascent
        heuristic found above the master's estimate (then ``bound = inf``).
    others : tuple of (ndarray, float)
        Other local maxima the ascent found, with their values ``Q_b(x, u)`` (each becomes
        a cut too if it cuts off the master's solution).
    """

    block: int
    u: np.ndarray
    value: float
    bound: float
    solve_s: float
    widenings: int = 0
    exact: bool = True
    others: tuple[tuple[np.ndarray, float], ...] = ()


@dataclass(frozen=True)
class IterationRecord:
    """One C&CG iteration: a master solve, then a worst case per block.

    Attributes
    ----------
    iteration : int
        1, 2, ...
    master_objective : float
        The master's optimal value (its dual bound for a MILP master).
    lower_bound, upper_bound : float
        Best bounds so far (``LB`` non-decreasing, ``UB`` non-increasing).
    gap : float
        ``(UB - LB) / max(|UB|, 1)``.
    cuts : int
        Worst cases added to the master after this iteration.
    exact_blocks : int
        Blocks whose worst case was found exactly in this iteration (the others by the
        ascent heuristic only).
    master_s, separation_s : float
        Wall time of the master solve and of the separation round (all blocks; under MPI
        the parallel wall time seen by rank 0) (s).
    """

    iteration: int
    master_objective: float
    lower_bound: float
    upper_bound: float
    gap: float
    cuts: int
    exact_blocks: int
    master_s: float
    separation_s: float


@dataclass(frozen=True)
class CCGResult:
    """Result of :func:`framework.robust.solve_ccg`.

    Attributes
    ----------
    status : Termination
    x : ndarray
        The first stage with the best upper bound; while none is known (a limit reached
        before any round was certified: ``objective = inf``), the last master's.
    x_names : tuple of str
    objective : float
        Its robust objective ``c'x + AGG_b w_b max_u Q_b(x, u)`` (the upper bound).
    lower_bound : float
        Best lower bound (master).
    worst_cases : tuple of WorstCase
        For ``x``, one per block.
    cuts : tuple of tuple of ndarray
        Per block, the uncertain vectors whose recourse copies the master holds.
    iterations : tuple of IterationRecord
    setup_s, master_s, separation_s, total_s : float
        Time to build master and separators, total time in master solves and in
        separation rounds, and the whole call (s).
    """

    status: Termination
    x: np.ndarray
    x_names: tuple[str, ...]
    objective: float
    lower_bound: float
    worst_cases: tuple[WorstCase, ...]
    cuts: tuple[tuple[np.ndarray, ...], ...]
    iterations: tuple[IterationRecord, ...]
    setup_s: float
    master_s: float
    separation_s: float
    total_s: float

    @property
    def upper_bound(self) -> float:
        return self.objective

    @property
    def gap(self) -> float:
        return relative_gap(self.lower_bound, self.objective)

    def history(self) -> dict[str, np.ndarray]:
        """The iteration records as arrays, one per field."""
        names = IterationRecord.__dataclass_fields__
        return {name: np.array([getattr(r, name) for r in self.iterations]) for name in names}


def relative_gap(lower: float, upper: float) -> float:
    """``(UB - LB) / max(|UB|, 1)``; ``inf`` while ``UB`` is infinite."""
    if not np.isfinite(upper) or not np.isfinite(lower):
        return float("inf")
    return max(upper - lower, 0.0) / max(abs(upper), 1.0)
