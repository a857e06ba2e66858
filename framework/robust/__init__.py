"""Two-stage robust optimisation by column-and-constraint generation (C&CG).

A general engine for ``min_x c'x + AGG_b w_b max_{u in U_b} min_y {q'y : ...}`` with a
linear recourse and the uncertainty in the right-hand sides (``docs/robust.md``), and the
robust storage planner built on it (:mod:`framework.robust.storage`).

Roles: :mod:`~framework.robust.config` (settings), :mod:`~framework.robust.sets`
(uncertainty sets), :mod:`~framework.robust.problem` (matrices, compilation from Pyomo),
:mod:`~framework.robust.master`, :mod:`~framework.robust.separation`,
:mod:`~framework.robust.loop` (the entry point :func:`solve_ccg`),
:mod:`~framework.robust.results`.
"""

from framework.robust.config import CCGConfig
from framework.robust.loop import solve_ccg, worst_case
from framework.robust.problem import (
    FirstStage,
    Recourse,
    RobustBlock,
    RobustProblem,
    compile_pyomo,
)
from framework.robust.results import CCGResult, IterationRecord, Termination, WorstCase
from framework.robust.sets import BoxSet, BudgetSet, PolyhedralSet, UncertaintySet

__all__ = [
    "BoxSet", "BudgetSet", "CCGConfig", "CCGResult", "FirstStage", "IterationRecord",
    "PolyhedralSet", "Recourse", "RobustBlock", "RobustProblem", "Termination",
    "UncertaintySet", "WorstCase", "compile_pyomo", "solve_ccg", "worst_case",
]
