"""Small helpers to build and run HiGHS models from arrays (C&CG master and separation,
allocation LPs, compiled Pyomo forms)."""

from __future__ import annotations

import highspy
import numpy as np
import scipy.sparse as sp

from framework.solve import settings

INF = highspy.kHighsInf
Status = highspy.HighsModelStatus
FEASIBLE_STOP = {Status.kOptimal, Status.kTimeLimit, Status.kIterationLimit,
                 Status.kSolutionLimit, Status.kInterrupt}


def finite(values: np.ndarray) -> np.ndarray:
    """``values`` with ``+-inf`` replaced by HiGHS's infinity."""
    return np.clip(np.asarray(values, dtype=float), -INF, INF)


def new_highs(threads: int | None = None) -> highspy.Highs:
    """A HiGHS instance with the run's solver settings (:mod:`framework.solve.settings`),
    silent on the console (its log goes to the solver log file when one is set);
    ``threads`` overrides the settings' threads."""
    h = settings.configure(highspy.Highs(), verbose=False)
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    return h


def array_lp(cost: np.ndarray, col_lower: np.ndarray, col_upper: np.ndarray,
             matrix: sp.sparray | np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray,
             integer: np.ndarray | None = None, maximize: bool = False) -> highspy.HighsLp:
    """``min/max cost'v s.t. row_lower <= matrix v <= row_upper, col bounds`` as a
    ``HighsLp`` (infinite bounds become HiGHS's infinity; ``integer`` marks integer columns)."""
    csc = sp.csc_array(matrix)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = csc.shape[1], csc.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_, lp.col_upper_ = finite(col_lower), finite(col_upper)
    lp.row_lower_, lp.row_upper_ = finite(row_lower), finite(row_upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(float)
    if maximize:
        lp.sense_ = highspy.ObjSense.kMaximize
    if integer is not None and np.any(integer):
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else
                           highspy.HighsVarType.kContinuous for i in integer]
    return lp


def pass_model(h: highspy.Highs, cost: np.ndarray, col_lower: np.ndarray,
               col_upper: np.ndarray, matrix: sp.sparray | np.ndarray, row_lower: np.ndarray,
               row_upper: np.ndarray, integer: np.ndarray | None = None,
               maximize: bool = False) -> None:
    """Load ``min/max cost'v s.t. row_lower <= matrix v <= row_upper, col bounds`` into ``h``."""
    h.passModel(array_lp(cost, col_lower, col_upper, matrix, row_lower, row_upper,
                         integer, maximize))


def run(h: highspy.Highs, time_limit_s: float | None = None,
        mip_rel_gap: float | None = None) -> Status:
    """Run ``h`` with optional limits (the time limit capped by the run's total, see
    :mod:`framework.solve.settings`); Ctrl-C interrupts it. Returns the model status."""
    limit = settings.time_limit(time_limit_s)
    h.setOptionValue("time_limit", float(limit) if limit is not None else INF)
    if mip_rel_gap is not None:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    return settings.run_highs(h)


def has_solution(h: highspy.Highs) -> bool:
    """Whether ``h`` stopped with a feasible solution."""
    return (h.getModelStatus() in FEASIBLE_STOP
            and h.getInfo().primal_solution_status == highspy.kSolutionStatusFeasible)
