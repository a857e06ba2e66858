"""Separation by Lagrangian cuts: the coalition with the largest excess from a small master
over the membership binaries, with an exact LP only at the coalitions it proposes.

The separation model (:func:`framework.game.separation.separation_model`: the grand
coalition's model with a membership binary per microgrid) falls into blocks by owner, as in
:mod:`framework.game.dual`: each microgrid's columns and the rows of it alone (its balance,
its account, its cut-off rows), the station's columns and rows, and the *coupling* rows that
link them. For any multipliers ``y`` of the coupling rows (of the right signs), weak duality
bounds the value of every coalition ``C`` of two or more from below,

    v(C) >= phi_0(y) + sum_{i in C} phi_i(y),

with ``phi_i(y) = const_i + min (c_i - B_i' y)' y_i`` over microgrid ``i``'s own rows (a
member: its flows open) and ``phi_0(y)`` the station's piece plus ``y`` times the coupling
rows' bounds. So, for an allocation ``x``,

    e(C) = x(C) - v(C) <= sum_i z_i (x_i - phi_i(y)) - phi_0(y)

a *cut* linear in the membership vector ``z`` of ``C``, valid for every coalition, and
independent of ``x`` (kept for the separator's whole life: every allocation, every stage of
a nucleolus, the core check). At ``y_C``, the optimal duals of ``C``'s own LP, it is exact at
``C`` (LP strong duality). The master

    max_{z binary, eta}  x'z - eta   s.t.  eta >= phi_0^k + phi^k' z   for every cut k,
                                           2 <= sum_i z_i <= n - 1, exclusions, span

bounds the largest excess of every eligible coalition from above: its value is the
certificate, as the MILP's dual bound is. Its maximiser is solved exactly (the separation
model with the members fixed, as an LP: ``v(C)`` plus the non-members' ``c0_i``) and adds
the cut at its duals; the loop ends when the master's bound is reached by a coalition
solved (the most violated coalition) or is at most the ``level`` asked for (none above it),
or, with a ``level``, at the first coalition proven above it. Each proposal costs one LP of
the grand coalition's size and one small LP per microgrid, instead of the branch and bound
of :class:`framework.game.separation.Separator` over the same model.

The cuts are the Lagrangian relaxation of the coupling rows, so the master's bound is at
least as tight as that of the MILP's LP relaxation with its big-Ms (the perspective of each
microgrid's membership); where it stays above the largest excess, the master proposes
coalitions until the cuts at them close the gap (finite: a coalition's own cut is exact).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping

import highspy
import numpy as np
import scipy.sparse as sp
import xarray as xr

from framework.game.dual import STATION_OWNER, microgrid_constants, owners
from framework.game.separation import (
    Separation,
    SeparationModel,
    add_exclusion,
    add_outside_span,
    separation_model,
)
from framework.model import scenario_data
from framework.solve import lp
from framework.system import System

log = logging.getLogger(__name__)


class Blocks:
    """The separation model split into the blocks of its owners, for the cuts.

    Parameters
    ----------
    form : SeparationModel
    players : tuple of str
    constants : np.ndarray
        Each microgrid's constant in the objective (:func:`microgrid_constants`).
    """

    def __init__(self, form: SeparationModel, players: tuple[str, ...],
                 constants: np.ndarray) -> None:
        model = form.lp
        n = len(players)
        a = sp.csc_array((np.asarray(model.a_matrix_.value_), np.asarray(model.a_matrix_.index_),
                          np.asarray(model.a_matrix_.start_)),
                         shape=(model.num_row_, model.num_col_)).tocsr()
        owner = owners(form.columns, form.model, players)
        slot = np.where(owner == STATION_OWNER, n, owner)
        own = sp.csr_array((np.ones(slot.size), (np.arange(slot.size), slot)),
                           shape=(slot.size, n + 1))
        touches = (abs(a) @ own) > 0
        is_z = np.zeros(slot.size)
        is_z[form.z] = 1.0
        nnz = np.diff(a.indptr)
        z_only = (nnz > 0) & ((abs(a) > 0) @ is_z == nnz)  # rows of memberships alone
        count = np.asarray(touches.sum(axis=1)).ravel()
        self.coupling = np.flatnonzero((count > 1) & ~z_only)
        self.membership_rows = np.flatnonzero(z_only)  # the coalition's size
        self.row_lower = np.asarray(model.row_lower_, dtype=float)[self.coupling]
        self.row_upper = np.asarray(model.row_upper_, dtype=float)[self.coupling]
        cost = np.asarray(model.col_cost_, dtype=float)
        lower, upper = np.asarray(model.col_lower_), np.asarray(model.col_upper_)
        private = (count == 1) & ~z_only
        touches = touches.tocsc()
        coupled = a[self.coupling]
        self.constants = np.r_[constants, 0.0]
        self.shift: list[sp.csr_array] = []
        self.cost: list[np.ndarray] = []
        self.h: list[highspy.Highs] = []
        for b in range(n + 1):
            cols = np.flatnonzero(slot == b)
            rows = np.flatnonzero(private & (touches[:, [b]].toarray().ravel()))
            lo, hi = lower[cols].copy(), upper[cols].copy()
            if b < n:  # a member: its flows open
                mine = np.isin(cols, form.z)
                lo[mine] = hi[mine] = 1.0
            h = lp.new_highs(1)
            lp.pass_model(h, cost[cols], lo, hi, a[rows][:, cols],
                          np.asarray(model.row_lower_)[rows], np.asarray(model.row_upper_)[rows])
            self.shift.append(sp.csr_array(coupled[:, cols].T))
            self.cost.append(cost[cols])
            self.h.append(h)

    def prices(self, row_dual: np.ndarray) -> np.ndarray:
        """The coupling rows' multipliers from an LP's row duals, each of the sign its
        row's finite bound allows (0 where the solver's tolerance left the other)."""
        y = np.asarray(row_dual, dtype=float)[self.coupling]
        y = np.where(np.isfinite(self.row_lower), y, np.minimum(y, 0.0))
        return np.where(np.isfinite(self.row_upper), y, np.maximum(y, 0.0))

    def pieces(self, y: np.ndarray) -> np.ndarray | None:
        """``phi_i(y)`` of every microgrid and, last, ``phi_0(y)``; ``None`` when a block's
        LP is not solved to optimality (no cut from these multipliers)."""
        out = np.empty(len(self.h))
        for b, h in enumerate(self.h):
            cost = self.cost[b] - self.shift[b] @ y
            h.changeColsCost(cost.size, np.arange(cost.size, dtype=np.int32), cost)
            if lp.run(h) != highspy.HighsModelStatus.kOptimal:
                return None
            out[b] = h.getInfo().objective_function_value
        bound = np.where(y > 0, self.row_lower, self.row_upper)
        out[-1] += float(np.dot(y[y != 0], bound[y != 0]))
        return out + self.constants


class CutSeparator:
    """The separation by Lagrangian cuts of one system (the module docstring), with the
    interface and the parameters of :class:`framework.game.separation.Separator`
    (``threads``: of the coalition LPs)."""

    def __init__(self, system: System, scenarios: xr.Dataset, no_storage: Mapping[str, float],
                 threads: int | None = None) -> None:
        self.players = tuple(system.names)
        self.no_storage = np.array([float(no_storage[p]) for p in self.players])
        self.excluded: list[frozenset[str]] = []
        self.span: list[frozenset[str]] = []
        self.cuts: list[np.ndarray] = []  # phi_1..phi_n, phi_0
        self.values: dict[frozenset[str], float] = {}  # v(C) of the coalitions solved
        self.master: highspy.Highs | None = None
        form = separation_model(system, scenarios)
        if form is None:
            return
        start = time.perf_counter()
        data = [scenario_data(scenarios, k) for k in range(scenarios.sizes["scenario"])]
        self.offset, self.z, self._flow_cols = form.offset, form.z, form.flows
        self.blocks = Blocks(form, self.players, microgrid_constants(
            system, data, form.architecture, self.players, form.offset))
        relaxed = form.lp
        relaxed.integrality_ = []
        self.lp = lp.new_highs(threads)
        self.lp.passModel(relaxed)
        free = self.blocks.membership_rows.astype(np.int32)
        self.lp.changeRowsBounds(free.size, free, np.full(free.size, -lp.INF),
                                 np.full(free.size, lp.INF))
        self._rebuild()
        self.solve(frozenset(self.players))  # the grand coalition's prices: the dual rule
        log.info("cut separation of %d microgrids (%s): %d coupling rows, %d columns, built "
                 "in %.1f s", len(self.players), form.architecture, self.blocks.coupling.size,
                 relaxed.num_col_, form.build_s + time.perf_counter() - start)

    def _rebuild(self) -> None:
        """The master with every cut and restriction (after a change of restrictions)."""
        n = len(self.players)
        h = lp.new_highs(1)
        matrix = np.vstack([np.r_[np.ones(n), 0.0]] + [np.r_[-c[:n], 1.0] for c in self.cuts])
        lp.pass_model(h, np.zeros(n + 1), np.r_[np.zeros(n), -lp.INF],
                      np.r_[np.ones(n), lp.INF], matrix,
                      np.r_[2.0, [c[n] for c in self.cuts]], np.r_[n - 1.0,
                                                                   np.full(len(self.cuts),
                                                                           lp.INF)],
                      integer=np.r_[np.ones(n, dtype=bool), False])
        h.setOptionValue("mip_rel_gap", 0.0)
        self.master = h
        if self.span:
            add_outside_span(h, np.arange(n, dtype=np.int32), self.players, self.span)
        for c in self.excluded:
            add_exclusion(h, np.arange(n, dtype=np.int32), self.players, c)

    def solve(self, coalition: frozenset[str]) -> float:
        """``v(C)`` of a coalition of two or more, from its LP (the separation model with
        its members fixed); adds the cut at the LP's duals, exact at ``C``."""
        members = np.array([float(p in coalition) for p in self.players])
        self.lp.changeColsBounds(self.z.size, self.z, members, members)
        status = lp.run(self.lp)
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"cut separation: the LP of {sorted(coalition)} ended with "
                               f"'{self.lp.modelStatusToString(status)}'")
        value = (self.lp.getInfo().objective_function_value + self.offset
                 - float(self.no_storage @ (1.0 - members)))
        self.values[coalition] = value
        self._binding(coalition)
        pieces = self.blocks.pieces(self.blocks.prices(self.lp.getSolution().row_dual))
        if pieces is None:
            log.warning("cut separation: a block's LP failed at the prices of %s; no cut",
                        sorted(coalition))
            return value
        self.cuts.append(pieces)
        n = len(self.players)
        self.master.addRow(float(pieces[n]), lp.INF, n + 1, np.arange(n + 1, dtype=np.int32),
                           np.r_[-pieces[:n], 1.0])
        return value

    def _binding(self, coalition: frozenset[str]) -> None:
        values = np.asarray(self.lp.getSolution().col_value)
        binding = sorted({i for i, j, m in self._flow_cols if j is not None
                          and i in coalition and values[j] >= m * (1 - 1e-6)})
        if binding:
            log.warning("separation: the big-M flow bound binds for %s in coalition %s",
                        binding, sorted(coalition))

    def exclude(self, coalitions: Iterable[frozenset[str]]) -> None:
        """Exclude these coalitions from every later separation."""
        for c in coalitions:
            c = frozenset(c)
            if self.master is None or c in self.excluded:
                continue
            add_exclusion(self.master, np.arange(len(self.players), dtype=np.int32),
                          self.players, c)
            self.excluded.append(c)

    def clear(self) -> None:
        """Remove every exclusion and the span restriction (the cuts stay)."""
        if self.master is not None and (self.excluded or self.span):
            self.excluded, self.span = [], []
            self._rebuild()

    def outside_span(self, fixed: Iterable[frozenset[str]]) -> None:
        """Search only outside the span of ``fixed`` (replaces every earlier restriction;
        :func:`framework.game.separation.add_outside_span`)."""
        fixed = [frozenset(c) for c in fixed]
        self.excluded, self.span = [], fixed
        if self.master is not None:
            self._rebuild()

    def separate(self, allocation: Mapping[str, float], time_limit_s: float | None = None,
                 abs_gap: float = 1e-6, level: float | None = None,
                 fix: tuple[str, bool] | None = None) -> Separation:
        """The coalition of size 2 to n - 1 (not excluded) with the largest excess, with a
        bound on that maximum; parameters and result as
        :meth:`framework.game.separation.Separator.separate`, except that with a ``level``
        the search stops at the first coalition proven above it (status ``violated``: the
        bound is then the master's, not reached)."""
        if self.master is None:
            return Separation(None, -math.inf, -math.inf, "none", 0.0)
        start = time.perf_counter()
        x = np.array([float(allocation[p]) for p in self.players])
        n = len(self.players)
        h = self.master
        h.changeColsCost(n + 1, np.arange(n + 1, dtype=np.int32), np.r_[-x, 1.0])
        # well inside the separation's gap: the bound's slack is the MIP gap plus how far a
        # cut's row may be violated (an absolute tolerance, 1e-6 by default)
        h.setOptionValue("mip_abs_gap", float(abs_gap) / 4)
        h.setOptionValue("mip_feasibility_tolerance", max(1e-10, min(1e-6, abs_gap / 8)))
        h.setOptionValue("primal_feasibility_tolerance", max(1e-10, min(1e-7, abs_gap / 8)))
        if fix is not None:
            j = self.players.index(fix[0])
            h.changeColBounds(j, float(fix[1]), float(fix[1]))
        found: dict[frozenset[str], float] = {}
        try:
            status, bound = self._loop(x, found, start, time_limit_s, abs_gap, level)
        finally:
            if fix is not None:
                h.changeColBounds(j, 0.0, 1.0)
        best = max(found, key=found.get) if found else None
        solve_s = time.perf_counter() - start
        if best is None:
            return Separation(None, -math.inf, bound, status, solve_s)
        return Separation(best, found[best], max(bound, found[best]), status, solve_s,
                          tuple(sorted(found.items(), key=lambda item: -item[1])))

    def _loop(self, x: np.ndarray, found: dict[frozenset[str], float], start: float,
              time_limit_s: float | None, abs_gap: float, level: float | None
              ) -> tuple[str, float]:
        """Master and exact LPs until the bound is reached or is at most ``level`` (or a
        coalition above ``level`` is found); the status and the bound."""
        h = self.master
        bound = math.inf
        while True:
            left = None if time_limit_s is None else time_limit_s - (time.perf_counter() - start)
            if left is not None and left <= 0:
                return "time_limit", bound
            status = lp.run(h, left)
            if status == highspy.HighsModelStatus.kInfeasible:  # nothing eligible
                return ("optimal", float(level)) if level is not None else ("infeasible",
                                                                              -math.inf)
            info = h.getInfo()
            if status != highspy.HighsModelStatus.kOptimal:
                if status == highspy.HighsModelStatus.kTimeLimit:
                    return "time_limit", min(bound, -info.mip_dual_bound)
                raise RuntimeError(f"cut separation: the master ended with "
                                   f"'{h.modelStatusToString(status)}'")
            bound = -info.mip_dual_bound
            best = max(found.values(), default=-math.inf)
            if level is not None and bound <= level:
                return "optimal", max(float(level), best)
            if bound - best <= abs_gap:
                return "optimal", bound
            values = np.asarray(h.getSolution().col_value)[:x.size]
            coalition = frozenset(p for p, v in zip(self.players, values) if v > 0.5)
            if coalition in found:  # its own cut is exact: the bound is reached
                log.warning("cut separation: bound %.9g above the excess %.9g of %s, whose "
                            "cut is exact; stopping", bound, found[coalition],
                            sorted(coalition))
                return "optimal", bound
            value = self.values.get(coalition)
            if value is None:
                value = self.solve(coalition)
            found[coalition] = float(sum(x[i] for i, p in enumerate(self.players)
                                         if p in coalition)) - value
            if level is not None and found[coalition] > level:
                return "violated", bound

