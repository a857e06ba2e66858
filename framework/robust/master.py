"""The C&CG master: the first stage with one recourse copy per worst case found so far.

    min  c'x + sum_b w_b eta_b                      (aggregate "sum")
    min  c'x + eta                                  (aggregate "max")
    s.t. first-stage constraints on x
         for every block b and every worst case u^l of b found so far, a copy y^{b,l}:
             row_lower + H u^l <= A y^{b,l} + B x <= row_upper + H u^l
             col_lower <= y^{b,l} <= col_upper
             eta_b >= q'y^{b,l} + f'u^l + f0        ("sum")
             eta   >= w_b (q'y^{b,l} + f'u^l + f0)  ("max")

Its optimal value is a lower bound on the robust optimum (a relaxation: finitely many
``u``). The model lives in one HiGHS instance; each copy is appended as columns and rows,
so an LP master re-starts from the previous basis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from framework.robust.problem import RobustProblem
from framework.solve import lp
from framework.solve.highs import SolveError


@dataclass(frozen=True)
class MasterSolution:
    """A solved master: status, first stage, epigraph values and the lower bound."""

    status: str
    x: np.ndarray
    eta: np.ndarray
    objective: float
    bound: float


class Master:
    """The master problem of :func:`framework.robust.solve_ccg` (see the module docstring)."""

    def __init__(self, problem: RobustProblem, threads: int | None = None) -> None:
        self.problem = problem
        fs = problem.first_stage
        self.nx = fs.size
        self.n_eta = len(problem.blocks) if problem.aggregate == "sum" else 1
        eta_cost = [b.weight for b in problem.blocks] if problem.aggregate == "sum" else [1.0]
        self.h = lp.new_highs(threads)
        matrix = sp.hstack([fs.rows, sp.csr_array((fs.rows.shape[0], self.n_eta))])
        lp.pass_model(self.h, np.concatenate([fs.cost, eta_cost]),
                      np.concatenate([fs.lower, np.full(self.n_eta, -np.inf)]),
                      np.concatenate([fs.upper, np.full(self.n_eta, np.inf)]),
                      matrix, fs.row_lower, fs.row_upper,
                      integer=np.concatenate([fs.integer, np.zeros(self.n_eta, bool)]))
        self.integer = bool(fs.integer.any())
        self.n_cols = self.nx + self.n_eta
        self.cuts: list[list[np.ndarray]] = [[] for _ in problem.blocks]

    def eta_index(self, block: int) -> int:
        """Column of the epigraph variable of ``block``."""
        return self.nx + (block if self.n_eta > 1 else 0)

    def add_cut(self, block: int, u: np.ndarray) -> None:
        """Append the recourse copy of ``block`` for the worst case ``u``."""
        b = self.problem.blocks[block]
        rec = b.recourse
        m, ny = rec.matrix.shape
        start = self.n_cols
        self.h.addCols(ny, np.zeros(ny), lp.finite(rec.col_lower), lp.finite(rec.col_upper),
                       0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        self.n_cols += ny
        weight = 1.0 if self.problem.aggregate == "sum" else b.weight
        rows = sp.vstack([
            sp.hstack([rec.first_stage, sp.csr_array((m, self.n_eta)), rec.matrix]),
            sp.hstack([sp.csr_array((1, self.nx)), self._unit(block),
                       sp.csr_array(-weight * rec.cost[None, :])]),
        ]).tocsr()
        shift = rec.uncertain @ u
        constant = weight * rec.constant_at(u)
        lower = np.concatenate([rec.row_lower + shift, [constant]])
        upper = np.concatenate([rec.row_upper + shift, [np.inf]])
        cols = rows.indices.copy()
        cols[cols >= self.nx + self.n_eta] += start - self.nx - self.n_eta
        self.h.addRows(rows.shape[0], lp.finite(lower), lp.finite(upper), rows.nnz,
                       rows.indptr[:-1].astype(np.int32), cols.astype(np.int32),
                       rows.data.astype(float))
        self.cuts[block].append(np.array(u, dtype=float))

    def _unit(self, block: int) -> sp.csr_array:
        unit = np.zeros((1, self.n_eta))
        unit[0, self.eta_index(block) - self.nx] = 1.0
        return sp.csr_array(unit)

    def has_cut(self, block: int, u: np.ndarray, tol: float = 1e-9) -> bool:
        """Whether ``u`` is already among the worst cases of ``block``."""
        return any(np.allclose(u, v, atol=tol, rtol=0) for v in self.cuts[block])

    def solve(self, time_limit_s: float | None = None, mip_rel_gap: float | None = None
              ) -> MasterSolution:
        """Solve the master; ``status`` is ``optimal``, ``time_limit`` or ``infeasible``."""
        status = lp.run(self.h, time_limit_s, mip_rel_gap if self.integer else None)
        if status in (lp.Status.kInfeasible, lp.Status.kUnboundedOrInfeasible):
            empty = np.full(self.nx, np.nan)
            return MasterSolution("infeasible", empty, np.full(self.n_eta, np.nan),
                                  np.inf, np.inf)
        if not lp.has_solution(self.h):
            if status == lp.Status.kTimeLimit:
                empty = np.full(self.nx, np.nan)
                return MasterSolution("time_limit", empty, np.full(self.n_eta, np.nan),
                                      -np.inf, -np.inf)
            raise SolveError(f"C&CG master ended with "
                                f"'{self.h.modelStatusToString(status)}'")
        info = self.h.getInfo()
        values = np.array(self.h.getSolution().col_value)
        objective = info.objective_function_value
        bound = info.mip_dual_bound if self.integer else objective
        return MasterSolution("optimal" if status == lp.Status.kOptimal else "time_limit",
                              values[:self.nx], values[self.nx:self.nx + self.n_eta],
                              objective, bound)
