"""Worst case of one block for a given first stage: ``max_{u in U} Q(x, u)``, exactly.

``Q(x, .)`` is convex and piecewise linear (the value of a minimising LP as a function of
its right-hand side), so the maximum lies at a vertex of ``U``. Two exact searches:

**MILP on the recourse dual** (:class:`MilpSeparator`, box and budget sets). By LP duality
``Q(x, u) = max_pi (b(x) + H u)' pi + f'u + f0`` over the dual polyhedron ``Pi`` (one dual
per finite row and column bound). With the set's binary selectors,
``u = u0 + sum_p step_p e_{j_p} s_p``, the bilinear terms are ``s_p * h_p(pi)`` with
``h_p(pi) = step_p (H' pi)_{j_p}``. Each is replaced by ``w_p`` with

    w_p <= U_p s_p,          w_p <= h_p(pi) - L_p (1 - s_p)

(the two McCormick inequalities that bind when maximising). For binary ``s_p`` this is
``w_p = min(U_p, h_p)`` if ``s_p = 1`` and ``w_p = min(0, h_p - L_p)`` if ``s_p = 0``: the
product exactly when ``L_p <= h_p <= U_p``, less otherwise. So the MILP value never exceeds
the true maximum, and equals it when the bounds contain the sensitivities ``h_p`` of an
optimal dual at the worst case. After every solve the bounds are checked: if the MILP's
dual bound falls below the value of a point the ascent heuristic found, or a bound binds at
the solution while the MILP value falls short of the recourse LP's value there, bounds are
widened by ``bound_factor`` and the MILP re-solved; the worst case is then evaluated by the
recourse LP, and the MILP's dual bound is the upper bound returned.

**Vertex enumeration** (:class:`VertexSeparator`, any set with listed vertices): the
recourse LP at every vertex, warm-started; exact with no bounds at all, and it detects an
infeasible recourse (``Q = inf``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from framework.errors import InputError
from framework.robust.config import CCGConfig
from framework.robust.problem import Recourse, RobustBlock
from framework.robust.results import WorstCase
from framework.robust.sets import BinaryExpansion
from framework.solve import lp
from framework.solve.highs import SolveError

log = logging.getLogger(__name__)


class RecourseLP:
    """``Q(x, u)`` by the primal recourse LP, one HiGHS model re-used (warm start)."""

    def __init__(self, recourse: Recourse, threads: int | None = None) -> None:
        self.recourse = recourse
        self.h = lp.new_highs(threads)
        lp.pass_model(self.h, recourse.cost, recourse.col_lower, recourse.col_upper,
                      recourse.matrix, recourse.row_lower, recourse.row_upper)
        self.rows = np.arange(recourse.matrix.shape[0], dtype=np.int32)

    def solve(self, x: np.ndarray, u: np.ndarray) -> tuple[float, np.ndarray | None]:
        """``(Q(x, u), row duals)``; ``(inf, None)`` if the recourse is infeasible.

        The row duals ``y`` (HiGHS's sign convention) give ``dQ/du = H'y + f``.
        """
        lower, upper = self.recourse.row_bounds(x, u)
        self.h.changeRowsBounds(len(self.rows), self.rows, lp.finite(lower), lp.finite(upper))
        status = lp.run(self.h)
        if status == lp.Status.kUnboundedOrInfeasible:
            self.h.setOptionValue("presolve", "off")
            status = lp.run(self.h)
            self.h.setOptionValue("presolve", "choose")
        if status == lp.Status.kInfeasible:
            return float("inf"), None
        if status != lp.Status.kOptimal:
            raise SolveError(f"recourse LP ended with '{self.h.modelStatusToString(status)}'")
        value = self.h.getInfo().objective_function_value + self.recourse.constant_at(u)
        return value, np.array(self.h.getSolution().row_dual)


class Ascent:
    """Local search for a worst case over binary selectors (a heuristic, never a bound).

    *Gradient steps*: from a start ``s``, solve the recourse LP at ``u(s)``, take its
    sensitivities ``g = H'y + f`` (a subgradient of the convex ``Q(x, .)``), move to the
    selectors that maximise ``g'u`` over the set (a small MILP on the selectors only), and
    repeat while ``Q`` increases; by convexity ``Q(u') >= Q(u) + g'(u' - u) >= Q(u)``.
    *Exchanges*: at the best such point, switch one selector on (or one on and another
    off), the most promising by ``g`` first, and go back to gradient steps after the first
    exchange that increases ``Q``; at most ``evaluations`` recourse LPs in all.
    """

    def __init__(self, expansion: BinaryExpansion, recourse: RecourseLP,
                 threads: int | None = None, evaluations: int = 300) -> None:
        self.exp, self.recourse, self.evaluations = expansion, recourse, evaluations
        n_sel = expansion.coord.size
        self.h = lp.new_highs(threads)
        lp.pass_model(self.h, np.zeros(n_sel), np.zeros(n_sel), np.ones(n_sel), expansion.rows,
                      np.full(expansion.rows.shape[0], -np.inf), expansion.rhs,
                      integer=np.ones(n_sel, bool), maximize=True)
        self.cols = np.arange(n_sel, dtype=np.int32)

    def best_response(self, gain: np.ndarray) -> np.ndarray:
        """The selectors ``s`` of the set that maximise ``gain's``."""
        self.h.changeColsCost(self.cols.size, self.cols, np.asarray(gain, dtype=float))
        lp.run(self.h)
        return np.round(np.array(self.h.getSolution().col_value))

    def _evaluate(self, x: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray | None]:
        self.used += 1
        value, duals = self.recourse.solve(x, self.exp.point(s))
        if duals is None:
            return value, None
        rec = self.recourse.recourse
        sens = rec.uncertain.T @ duals + rec.uncertain_cost
        return value, sens[self.exp.coord] * self.exp.step

    def _climb(self, x: np.ndarray, s: np.ndarray
               ) -> tuple[np.ndarray, float, np.ndarray | None]:
        """Gradient steps from ``s``: the local maximum, its value and its gains."""
        value, gain = self._evaluate(x, s)
        while gain is not None and self.used < self.evaluations:
            step = self.best_response(gain)
            new_value, new_gain = self._evaluate(x, step)
            if new_value <= value + 1e-9 * max(1.0, abs(value)):
                break
            s, value, gain = step, new_value, new_gain
        return s, value, gain

    def _exchange(self, x: np.ndarray, s: np.ndarray, value: float, gain: np.ndarray
                  ) -> np.ndarray | None:
        """The first exchange of ``s`` that increases ``Q``, or ``None``."""
        on = np.flatnonzero(s > 0.5)
        off = np.flatnonzero(s < 0.5)
        on, off = on[np.argsort(gain[on])], off[np.argsort(-gain[off])]
        for q in off:
            for p in [None, *on]:
                if self.used >= self.evaluations:
                    return None
                trial = s.copy()
                trial[q] = 1.0
                if p is not None:
                    trial[p] = 0.0
                if np.any(self.exp.rows @ trial > self.exp.rhs + 1e-9):
                    continue
                new_value, _ = self._evaluate(x, trial)
                if new_value > value + 1e-9 * max(1.0, abs(value)):
                    return trial
        return None

    def run(self, x: np.ndarray, starts: list[np.ndarray]
            ) -> tuple[np.ndarray, float, list[tuple[np.ndarray, float]]]:
        """The best local maximum ``(s, Q(x, u(s)))`` found from the starts, and the other
        distinct local maxima ``[(s, Q), ...]`` (best first)."""
        self.used = 0
        best_s, best, best_gain = starts[0], -np.inf, None
        maxima: list[tuple[np.ndarray, float]] = []
        for start in starts:
            s, value, gain = self._climb(x, start)
            if gain is None:
                return s, value, []
            maxima.append((s, value))
            if value > best:
                best_s, best, best_gain = s, value, gain
        while best_gain is not None and self.used < self.evaluations:
            trial = self._exchange(x, best_s, best, best_gain)
            if trial is None:
                break
            best_s, best, best_gain = self._climb(x, trial)
            if best_gain is None:
                return best_s, best, []
        others: list[tuple[np.ndarray, float]] = []
        for s, value in sorted(maxima, key=lambda m: -m[1]):
            if not any(np.array_equal(s, t) for t, _ in [(best_s, best), *others]):
                others.append((s, value))
        return best_s, best, others


class VertexSeparator:
    """Exact worst case by the recourse LP at every vertex of the set."""

    def __init__(self, block: RobustBlock, index: int, config: CCGConfig) -> None:
        self.index = index
        self.vertices = block.uncertainty.vertices()
        self.recourse = RecourseLP(block.recourse, config.threads)

    def search(self, x: np.ndarray) -> WorstCase:
        """The exact worst case (enumeration is its own fast search)."""
        start = time.perf_counter()
        values = []
        for v in self.vertices:
            value, _ = self.recourse.solve(x, v)
            values.append(value)
            if value == float("inf"):
                break
        best = int(np.argmax(values))
        return WorstCase(self.index, self.vertices[best].copy(), values[best], values[best],
                         time.perf_counter() - start)

    def solve(self, x: np.ndarray, time_limit_s: float | None = None,
              abs_gap: float | None = None, stop_above: float | None = None) -> WorstCase:
        """The exact worst case."""
        return self.search(x)


class MilpSeparator:
    """Exact worst case over a box or budget set by the MILP on the recourse dual."""

    def __init__(self, block: RobustBlock, index: int, config: CCGConfig) -> None:
        expansion = block.uncertainty.expansion()
        if expansion is None:
            raise InputError(f"block {block.name!r}: its set has no binary expansion")
        self.index, self.config, self.exp = index, config, expansion
        self.rec = rec = block.recourse
        self.recourse = RecourseLP(rec, config.threads)
        self.coordinate_bounds = block.dual_bounds
        m, ny = rec.matrix.shape
        finite_lo, finite_hi = np.isfinite(rec.row_lower), np.isfinite(rec.row_upper)
        equal = finite_lo & finite_hi & (rec.row_lower == rec.row_upper)
        # dual columns of the rows: free (equality), >= 0 for a lower, >= 0 for an upper side
        rows = np.concatenate([np.flatnonzero(equal), np.flatnonzero(finite_lo & ~equal),
                               np.flatnonzero(finite_hi & ~equal)])
        sign = np.concatenate([np.ones(equal.sum() + (finite_lo & ~equal).sum()),
                               -np.ones((finite_hi & ~equal).sum())])
        self.row_of, self.sign = rows, sign
        self.base = np.where(sign > 0, rec.row_lower[rows], rec.row_upper[rows])
        n_pi = rows.size
        dual_lo = np.where(np.arange(n_pi) < equal.sum(), -np.inf, 0.0)
        pick = sp.csc_array((sign, (rows, np.arange(n_pi))), shape=(m, n_pi))
        d_pi = sp.csc_array(rec.matrix.T @ pick)
        # dual columns of the column bounds (reduced costs)
        c_lo, c_hi = np.isfinite(rec.col_lower), np.isfinite(rec.col_upper)
        fixed = c_lo & c_hi & (rec.col_lower == rec.col_upper)
        cols = np.concatenate([np.flatnonzero(fixed), np.flatnonzero(c_lo & ~fixed),
                               np.flatnonzero(c_hi & ~fixed)])
        csign = np.concatenate([np.ones(fixed.sum() + (c_lo & ~fixed).sum()),
                                -np.ones((c_hi & ~fixed).sum())])
        n_rc = cols.size
        d_rc = sp.csc_array((csign, (cols, np.arange(n_rc))), shape=(ny, n_rc))
        rc_obj = np.where(csign > 0, rec.col_lower[cols], -rec.col_upper[cols])
        rc_lo = np.where(np.arange(n_rc) < fixed.sum(), -np.inf, 0.0)
        # sensitivities h_p(pi) = step_p * (H' pi)_{j_p}
        self.sens = sp.csr_array(sp.diags_array(expansion.step) @ (
            rec.uncertain.T @ pick).tocsr()[expansion.coord])
        n_sel = expansion.coord.size
        self.n_pi, self.n_rc, self.n_sel = n_pi, n_rc, n_sel
        self.s0 = n_pi + n_rc
        self.w0 = self.s0 + n_sel
        self.pi_shift = np.asarray(pick.T @ (rec.uncertain @ expansion.offset)).ravel()
        self.constant = float(rec.uncertain_cost @ expansion.offset + rec.constant)
        sel_obj = rec.uncertain_cost[expansion.coord] * expansion.step
        zeros = sp.csc_array((n_sel, n_sel))
        eye = sp.eye_array(n_sel, format="csc")
        dual_rows = sp.hstack([d_pi, d_rc, sp.csc_array((ny, 2 * n_sel))])
        upper_rows = sp.hstack([sp.csc_array((n_sel, n_pi + n_rc)), zeros, eye])
        link_rows = sp.hstack([-self.sens, sp.csc_array((n_sel, n_rc)), zeros, eye])
        sel_rows = sp.hstack([sp.csc_array((expansion.rows.shape[0], n_pi + n_rc)),
                              expansion.rows, sp.csc_array((expansion.rows.shape[0], n_sel))])
        matrix = sp.vstack([dual_rows, upper_rows, link_rows, sel_rows]).tocsc()
        self.r_upper, self.r_link = ny, ny + n_sel
        self.h = lp.new_highs(config.threads)
        lp.pass_model(
            self.h, np.concatenate([np.zeros(n_pi), rc_obj, sel_obj, np.ones(n_sel)]),
            np.concatenate([dual_lo, rc_lo, np.zeros(n_sel), np.full(n_sel, -np.inf)]),
            np.concatenate([np.full(n_pi + n_rc, np.inf), np.ones(n_sel),
                            np.full(n_sel, np.inf)]),
            matrix, np.concatenate([rec.cost, np.full(2 * n_sel, -np.inf),
                                    np.full(expansion.rows.shape[0], -np.inf)]),
            np.concatenate([rec.cost, np.zeros(2 * n_sel), expansion.rhs]),
            integer=np.r_[np.zeros(n_pi + n_rc, bool), np.ones(n_sel, bool),
                          np.zeros(n_sel, bool)], maximize=True)
        self.low = self.high = self.bounds_x = None
        self.ascent = Ascent(expansion, self.recourse, config.threads,
                             config.ascent_evaluations)
        self.stop_value = np.inf
        self.violating: tuple[np.ndarray, float] | None = None
        self.h.cbMipImprovingSolution += self._improving
        self.h.cbMipInterrupt += self._interrupt
        self.found: list[np.ndarray] = []
        self.start: tuple[np.ndarray, np.ndarray, float] | None = None

    def _set_bounds(self, low: np.ndarray, high: np.ndarray) -> None:
        """Write ``w_p <= U_p s_p`` and ``w_p - h_p + ... - L_p s_p <= -L_p`` into the MILP."""
        self.low, self.high = low, high
        for p in range(self.n_sel):
            self.h.changeCoeff(self.r_upper + p, self.s0 + p, -float(high[p]))
            self.h.changeCoeff(self.r_link + p, self.s0 + p, -float(low[p]))
            self.h.changeRowBounds(self.r_link + p, -lp.INF, -float(low[p]))

    def _initial_bounds(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-selector bounds ``[L_p, U_p]``: from the block's ``dual_bounds`` on ``(H'pi)_j``
        if given (a callable gives them for this ``x``, and they are set again for each new
        ``x``), else ``bound_factor`` times the largest sensitivity of the recourse LP at
        the set's offset and with every selector on."""
        step = self.exp.step
        if self.coordinate_bounds is not None:
            given = self.coordinate_bounds
            low_j, high_j = (np.asarray(v, dtype=float)[self.exp.coord]
                             for v in (given(x) if callable(given) else given))
            return np.minimum(step * low_j, step * high_j), np.maximum(step * low_j,
                                                                       step * high_j)
        largest = 0.0
        for u in (self.exp.offset, self.exp.offset + np.bincount(
                self.exp.coord, weights=self.exp.step, minlength=self.exp.offset.size)):
            _, duals = self.recourse.solve(x, u)
            if duals is not None:
                largest = max(largest, float(np.abs(self.rec.uncertain.T @ duals).max(
                    initial=0.0)))
        bound = self.config.bound_factor * max(largest, 1e-6) * np.abs(step)
        return -bound, bound.copy()

    def _active(self, s: np.ndarray, h_val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Selectors whose bound may have cut the dual: on with ``h_p`` at ``U_p``, or off
        with ``h_p`` below ``L_p`` (``w_p = h_p - L_p < 0`` paid for it)."""
        scale = 1e-7 * np.maximum(1.0, np.maximum(np.abs(self.low), np.abs(self.high)))
        on = s > 0.5
        return on & (h_val >= self.high - scale), ~on & (h_val < self.low - scale)

    def search(self, x: np.ndarray) -> WorstCase:
        """A worst case by the ascent heuristic (``exact=False``, ``bound=inf``), started
        from the nominal point and the last worst cases found."""
        start = time.perf_counter()
        starts = [np.zeros(self.n_sel)] + self.found[-self.config.ascent_starts:]
        if self.high is not None:
            starts.append(self.ascent.best_response(self.high))
        s, value, others = self.ascent.run(x, starts)
        self.start = (x.copy(), s, value)
        self._remember(s)
        exact = self.n_sel == 0
        return WorstCase(self.index, self.exp.point(s), value, value if exact else float("inf"),
                         time.perf_counter() - start, exact=exact,
                         others=tuple((self.exp.point(t), v) for t, v in others))

    def _improving(self, event: Any) -> None:
        """Keep an incumbent above the stop value (the interrupt below then ends the MILP)."""
        if event.data_out.objective_function_value > self.stop_value:
            self.violating = (np.array(event.data_out.mip_solution)[:self.w0 + self.n_sel],
                              float(event.data_out.objective_function_value))

    def _interrupt(self, event: Any) -> None:
        """Stop once :meth:`_improving` holds a worst case above the stop value. The flag is
        written both ways because HiGHS keeps it from the last run (HiGHS issue #1761): an
        interrupted MILP would otherwise stop the next one at once."""
        event.interrupt(self.violating is not None)

    def solve(self, x: np.ndarray, time_limit_s: float | None = None,
              abs_gap: float | None = None, stop_above: float | None = None) -> WorstCase:
        """The exact worst case by the MILP, started from the last :meth:`search` result
        for the same ``x`` (searched first if there is none). The MILP stops at the relative
        gap ``separation_gap`` or the absolute gap ``abs_gap``, or as soon as it has a worst
        case of value above ``stop_above`` (``bound`` is then ``inf``); otherwise its dual
        bound is returned as ``bound``. An incumbent above ``stop_above`` whose recourse
        LP is not (the MILP's tolerances) does not count: the MILP is then solved on."""
        start = time.perf_counter()
        found = self._solve(x, time_limit_s, abs_gap, stop_above)
        if stop_above is None or found.bound < np.inf or found.value > stop_above:
            return found
        left = None if time_limit_s is None else time_limit_s - (time.perf_counter() - start)
        if left is not None and left <= 0:
            return found
        return self._solve(x, left, abs_gap, None)

    def _solve(self, x: np.ndarray, time_limit_s: float | None, abs_gap: float | None,
               stop_above: float | None) -> WorstCase:
        self.stop_value = np.inf if stop_above is None else stop_above - self.constant
        self.violating = None
        if self.start is None or not np.array_equal(self.start[0], x):
            self.search(x)
        start, (_, s_h, value_h) = time.perf_counter(), self.start
        if self.n_sel == 0:
            u = self.exp.point(s_h)
            return WorstCase(self.index, u, value_h, value_h, time.perf_counter() - start)
        if self.low is None or (callable(self.coordinate_bounds)
                                and not np.array_equal(self.bounds_x, x)):
            self._set_bounds(*self._initial_bounds(x))
            self.bounds_x = x.copy()
        obj = self.sign * (self.base - (self.rec.first_stage @ x)[self.row_of]) + self.pi_shift
        self.h.changeColsCost(self.n_pi, np.arange(self.n_pi, dtype=np.int32), obj)
        widenings = 0
        while True:
            self.h.setSolution(self.n_sel, np.arange(self.s0, self.w0, dtype=np.int32), s_h)
            remaining = None if time_limit_s is None else max(
                time_limit_s - (time.perf_counter() - start), 1e-3)
            self.h.setOptionValue("mip_abs_gap", 1e-6 if abs_gap is None else float(abs_gap))
            lp.run(self.h, remaining, self.config.separation_gap)
            info = self.h.getInfo()
            bound = info.mip_dual_bound + self.constant
            if lp.has_solution(self.h):
                sol = np.array(self.h.getSolution().col_value)
                milp_value = info.objective_function_value + self.constant
            elif self.violating is not None:
                sol, milp_value = self.violating[0], self.violating[1] + self.constant
                bound = np.inf
            elif self.h.getModelStatus() in (lp.Status.kTimeLimit, lp.Status.kInterrupt):
                s, milp_value, bound = s_h, -np.inf, np.inf
                break
            else:
                raise SolveError(f"separation MILP of block {self.index} ended with "
                                 f"'{self.h.modelStatusToString(self.h.getModelStatus())}'")
            s = np.round(sol[self.s0:self.w0])
            up, down = self._active(s, self.sens @ sol[:self.n_pi])
            tol = 1e-7 * max(1.0, abs(value_h))
            if bound < value_h - tol:
                # the bounds cut off the dual of the ascent's point: widen them all
                up, down = np.ones_like(up), np.ones_like(down)
            elif not (up.any() or down.any()):
                break
            else:
                value, _ = self.recourse.solve(x, self.exp.point(s))
                if value == float("inf"):
                    return WorstCase(self.index, self.exp.point(s), value, value,
                                     time.perf_counter() - start, widenings)
                if value <= milp_value + 1e-7 * max(1.0, abs(value)):
                    break
            if widenings >= self.config.max_widenings:
                raise SolveError(
                    f"separation of block {self.index}: a big-M bound on the recourse duals is "
                    f"still binding after {widenings} widenings; give dual_bounds")
            widenings += 1
            width = np.maximum.reduce([self.high - self.low, np.abs(self.high),
                                       np.abs(self.low)])
            grow = (self.config.bound_factor - 1.0) * np.maximum(width, 1e-6)
            log.debug("block %d: %d big-M bounds binding, widened", self.index,
                      int(up.sum() + down.sum()))
            self._set_bounds(np.where(down, self.low - grow, self.low),
                             np.where(up, self.high + grow, self.high))
        u = self.exp.point(s)
        value, _ = self.recourse.solve(x, u)
        if value < milp_value - 1e-6 * max(1.0, abs(value)):
            log.warning("block %d: separation MILP value %.9g exceeds the recourse LP %.9g at "
                        "its worst case", self.index, milp_value, value)
        self._remember(s)
        return WorstCase(self.index, u, value, max(bound, value),
                         time.perf_counter() - start, widenings)

    def _remember(self, s: np.ndarray) -> None:
        if not any(np.array_equal(s, f) for f in self.found):
            self.found.append(s.copy())


def make_separator(block: RobustBlock, index: int, config: CCGConfig
                   ) -> MilpSeparator | VertexSeparator:
    """The separator of a block: by ``config.separation``, ``auto`` takes the MILP when the
    set has a binary expansion."""
    method = config.separation
    if method == "auto":
        method = "milp" if block.uncertainty.expansion() is not None else "vertices"
    if method == "milp":
        if block.uncertainty.expansion() is None:
            raise InputError(f"block {block.name!r}: separation 'milp' needs a box or budget "
                             "set; use 'vertices' for a polyhedron")
        return MilpSeparator(block, index, config)
    return VertexSeparator(block, index, config)
