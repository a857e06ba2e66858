"""Solving a Pyomo model with HiGHS (through Pyomo's appsi interface to ``highspy``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers import Highs


class SolveError(RuntimeError):
    """The solver ended without a usable solution (infeasible, unbounded, no incumbent)."""


@dataclass(frozen=True)
class SolveInfo:
    """What a solve reports.

    Attributes
    ----------
    termination : str
        ``optimal``, ``maxTimeLimit``, ... (Pyomo's termination condition name).
    objective : float
        Objective of the solution loaded into the model.
    bound : float
        Best bound (equal to the objective for an LP solved to optimality).
    wall_s : float
        Wall-clock time of the solve call, model transfer included (s).
    """

    termination: str
    objective: float
    bound: float
    wall_s: float


def highs_version() -> str:
    """Version of the HiGHS library in use."""
    h = highspy.Highs()
    return f"highs {h.version()}"


def solve_highs(model: pyo.Block, time_limit_s: float | None = None,
                mip_rel_gap: float | None = None, threads: int | None = None) -> SolveInfo:
    """Solve ``model`` with HiGHS and load the solution.

    A time limit that leaves a feasible solution is accepted (the bound says how good it
    is); anything else that is not optimal raises :class:`SolveError`.
    """
    opt = Highs()
    opt.config.stream_solver = False
    opt.config.load_solution = False
    if time_limit_s is not None:
        opt.config.time_limit = time_limit_s
    if mip_rel_gap is not None:
        opt.config.mip_gap = mip_rel_gap
    if threads is not None:
        opt.highs_options = {"threads": threads}
    start = time.perf_counter()
    res = opt.solve(model)
    wall = time.perf_counter() - start
    ok = res.termination_condition == TerminationCondition.optimal or (
        res.termination_condition == TerminationCondition.maxTimeLimit
        and res.best_feasible_objective is not None)
    if not ok:
        raise SolveError(f"HiGHS ended with {res.termination_condition.name} on {model.name}")
    res.solution_loader.load_vars()
    bound = res.best_objective_bound
    return SolveInfo(termination=res.termination_condition.name,
                     objective=float(res.best_feasible_objective),
                     bound=float(bound if bound is not None else res.best_feasible_objective),
                     wall_s=wall)
