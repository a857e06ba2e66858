"""Solving a Pyomo model with HiGHS: compiled to matrices, passed to ``highspy`` directly.

Pyomo's standard-form compiler turns the model into sparse matrices several times faster
than its persistent HiGHS interfaces transfer it row by row (``studies/benchmarks``
measures both); the solution is written back into the model's variables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from framework.solve import lp

INF = highspy.kHighsInf
USABLE = {highspy.HighsModelStatus.kOptimal: "optimal",
          highspy.HighsModelStatus.kTimeLimit: "maxTimeLimit",
          highspy.HighsModelStatus.kIterationLimit: "maxIterations",
          highspy.HighsModelStatus.kInterrupt: "interrupted"}


class SolveError(RuntimeError):
    """The solver ended without a usable solution (infeasible, unbounded, no incumbent)."""


@dataclass(frozen=True)
class SolveInfo:
    """What a solve reports.

    Attributes
    ----------
    termination : str
        ``optimal``, ``maxTimeLimit``, ``maxIterations`` or ``interrupted``.
    objective : float
        Objective of the solution loaded into the model.
    bound : float
        Best bound (equal to the objective for an LP solved to optimality).
    compile_s, wall_s : float
        Time to compile the model into matrices, and of the whole call (s).
    """

    termination: str
    objective: float
    bound: float
    compile_s: float
    wall_s: float


def highs_version() -> str:
    """Version of the HiGHS library in use."""
    return f"highs {highspy.Highs().version()}"


def _bounds(values: list[float | None], default: float) -> np.ndarray:
    return np.array([default if v is None else v for v in values], dtype=float)


def standard_form_lp(form: Any, cost: np.ndarray) -> highspy.HighsLp:
    """A ``HighsLp`` of a compiled ``LinearStandardFormCompiler`` form (mixed form) with the
    column costs ``cost``; integer and binary columns keep their integrality."""
    sense = np.array([row.bound_type for row in form.rows], dtype=int)
    rhs = np.asarray(form.rhs, dtype=float)
    return lp.array_lp(cost, _bounds([v.lb for v in form.columns], -INF),
                       _bounds([v.ub for v in form.columns], INF), form.A,
                       np.where(sense == 1, -INF, rhs), np.where(sense == -1, INF, rhs),
                       integer=[v.is_integer() or v.is_binary() for v in form.columns])


def to_highs_lp(model: pyo.Block) -> tuple[highspy.HighsLp, list, float]:
    """The model as a ``HighsLp``, its column variables, and the objective's constant."""
    form = LinearStandardFormCompiler().write(model, mixed_form=True,
                                              set_sense=pyo.minimize)
    cost = np.asarray(form.c.todense(), dtype=float).ravel()
    return standard_form_lp(form, cost), form.columns, float(form.c_offset[0])


def solve_highs(model: pyo.Block, time_limit_s: float | None = None,
                mip_rel_gap: float | None = None, threads: int | None = None) -> SolveInfo:
    """Solve ``model`` (one active objective, linear, minimised) with HiGHS and load the solution.

    A time or iteration limit that leaves a feasible solution is accepted (the bound says
    how good it is); anything else that is not optimal raises :class:`SolveError`.
    Variables that appear in no constraint and not in the objective are set to the bound
    nearest to zero.
    """
    start = time.perf_counter()
    lp, columns, offset = to_highs_lp(model)
    compile_s = time.perf_counter() - start
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    if mip_rel_gap is not None:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    if status not in USABLE or info.primal_solution_status != highspy.kSolutionStatusFeasible:
        raise SolveError(f"HiGHS ended with '{h.modelStatusToString(status)}' on {model.name}")
    for var, value in zip(columns, h.getSolution().col_value):
        var.set_value(value, skip_validation=True)
    for var in model.component_data_objects(pyo.Var, descend_into=True):
        if var.value is None:
            var.set_value(min(max(0.0, var.lb if var.lb is not None else -INF),
                              var.ub if var.ub is not None else INF), skip_validation=True)
    objective = info.objective_function_value + offset
    bound = info.mip_dual_bound + offset if lp.integrality_ else objective
    return SolveInfo(termination=USABLE[status], objective=objective, bound=bound,
                     compile_s=compile_s, wall_s=time.perf_counter() - start)
