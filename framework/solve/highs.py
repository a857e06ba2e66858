"""Solving a Pyomo model with HiGHS: compiled to matrices, passed to ``highspy`` directly.

Pyomo's standard-form compiler turns the model into sparse matrices several times faster
than its persistent HiGHS interfaces transfer it row by row (``studies/benchmarks``
measures both); the solution is written back into the model's variables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from framework.errors import SolveError
from framework.solve import lp, settings

INF = highspy.kHighsInf
log = logging.getLogger(__name__)
USABLE = {highspy.HighsModelStatus.kOptimal: "optimal",
          highspy.HighsModelStatus.kTimeLimit: "maxTimeLimit",
          highspy.HighsModelStatus.kIterationLimit: "maxIterations",
          highspy.HighsModelStatus.kInterrupt: "interrupted"}


@dataclass(frozen=True)
class SecondObjective:
    """Among the optima of the model's objective, minimise ``sum(minimise)``.

    The variables ``fix`` keep their optimal values, the first objective is held within
    ``hold_rel * max(1, |objective|)`` of its optimum, and HiGHS continues from the first
    solve's basis (its instance is reused: no second compile, no cold start).
    """

    minimise: Sequence[Any]
    fix: Sequence[Any]
    hold_rel: float = 1e-9


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
    second_s : float or None
        Time of the :class:`SecondObjective` solve (s); ``None`` when none was asked for or
        it ended without a usable solution (the first optimum is then loaded).
    """

    termination: str
    objective: float
    bound: float
    compile_s: float
    wall_s: float
    second_s: float | None = None


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
                mip_rel_gap: float | None = None, threads: int | None = None,
                second: SecondObjective | None = None) -> SolveInfo:
    """Solve ``model`` (one active objective, linear, minimised) with HiGHS and load the solution.

    A time or iteration limit that leaves a feasible solution is accepted (the bound says
    how good it is); anything else that is not optimal raises :class:`SolveError`.
    Variables that appear in no constraint and not in the objective are set to the bound
    nearest to zero. With ``second``, an optimal first solve is followed by the second
    objective on the same HiGHS instance (:class:`SecondObjective`).
    """
    start = time.perf_counter()
    lp, columns, offset = to_highs_lp(model)
    compile_s = time.perf_counter() - start
    h = settings.configure(highspy.Highs(), time_limit_s)  # the log under -v
    if mip_rel_gap is not None:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    h.passModel(lp)
    status = settings.run_highs(h)
    info = h.getInfo()
    if status not in USABLE or info.primal_solution_status != highspy.kSolutionStatusFeasible:
        limit = (f" (time limit {settings.option_value(h, 'time_limit'):.3g} s)"
                 if status == highspy.HighsModelStatus.kTimeLimit else "")
        raise SolveError(f"HiGHS ended with '{h.modelStatusToString(status)}'{limit} on "
                         f"{model.name}", status=h.modelStatusToString(status))
    objective = info.objective_function_value + offset
    bound = info.mip_dual_bound + offset if lp.integrality_ else objective
    solution = h.getSolution().col_value
    second_s = None
    if second is not None and status == highspy.HighsModelStatus.kOptimal:
        second_start = time.perf_counter()
        if _second_objective(h, lp, columns, solution, second, info.objective_function_value):
            solution, second_s = h.getSolution().col_value, time.perf_counter() - second_start
    for var, value in zip(columns, solution):
        var.set_value(value, skip_validation=True)
    for var in model.component_data_objects(pyo.Var, descend_into=True):
        if var.value is None:
            var.set_value(min(max(0.0, var.lb if var.lb is not None else -INF),
                              var.ub if var.ub is not None else INF), skip_validation=True)
    return SolveInfo(termination=USABLE[status], objective=objective, bound=bound,
                     compile_s=compile_s, wall_s=time.perf_counter() - start,
                     second_s=second_s)


def _second_objective(h: highspy.Highs, lp: highspy.HighsLp, columns: list, solution: list,
                      second: SecondObjective, optimum: float) -> bool:
    """Run :class:`SecondObjective` on the solved instance ``h``; whether it succeeded."""
    position = {id(v): k for k, v in enumerate(columns)}
    fixed = np.array(sorted({position[id(v)] for v in second.fix if id(v) in position}),
                     dtype=np.int32)
    if fixed.size:
        values = np.asarray(solution, dtype=float)[fixed]
        h.changeColsBounds(fixed.size, fixed, values, values)
    cost = np.asarray(lp.col_cost_, dtype=float)
    used = np.flatnonzero(cost).astype(np.int32)
    hold = second.hold_rel * max(1.0, abs(optimum))
    h.addRow(-INF, optimum + hold, used.size, used, cost[used])
    flows = np.array(sorted({position[id(v)] for v in second.minimise if id(v) in position}),
                     dtype=np.int32)
    new_cost = np.zeros(len(columns))
    new_cost[flows] = 1.0
    h.changeColsCost(len(columns), np.arange(len(columns), dtype=np.int32), new_cost)
    # the first optimum stays primal feasible (the new row holds it): primal simplex goes on
    # from its basis, about ten times faster here than HiGHS's default dual simplex
    h.setOptionValue("simplex_strategy", 4)
    settings.run_highs(h)
    return (h.getModelStatus() == highspy.HighsModelStatus.kOptimal
            and h.getInfo().primal_solution_status == highspy.kSolutionStatusFeasible)
