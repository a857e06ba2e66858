"""What runs inside the PH hub: cost-scaled rho, bounds on the hub, progress, stopping.

mpi-sppy lets a hub carry *extensions* (called at fixed points of each PH iteration) and a
*converger* (asked after the weights are updated whether to stop). This module provides:

- :class:`CostScaledRho`: the default rho, set after iteration 0 (see
  :func:`cost_scaled_rho`), doubled by :class:`HubBounds` when the gap stalls;
- :class:`HubBounds`: the capacity bounds (first iteration), the bounds that no spoke
  provides, computed on the hub's own subproblems (a Lagrangian bound with the current
  weights, and the expected cost of ``xbar``), a guard on every subproblem's status, the
  per-iteration history and the progress line (rank 0 only);
- :class:`GapConverger`: stop when the certified relative gap is small enough.

They read their settings from ``options["sesplan_ph"]`` of the hub (a dict made by
:func:`framework.solve.ph.solve_ph`).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.repn import generate_standard_repn

from framework._mpisppy import MPI, Converger, Extension
from framework.model.build import YEAR_VARS, bounds_year_var
from framework.solve.ph_guard import (
    OptimalOnlyBounds,
    impose_capacity_bounds,
    needed_xhat,
    pin_xhat,
    relative_gap,
    solve_all,
    subproblem_members,
    unpin,
)

log = logging.getLogger("framework.solve.ph")

DEFAULT_RHO_MULTIPLIER = 0.3
"""Multiplier of the cost-scaled rho (see :func:`cost_scaled_rho`)."""

STALL_ITERATIONS = 5
STALL_PROGRESS = 0.1
RHO_FACTOR = 2.0
"""Rho is multiplied by ``RHO_FACTOR`` when the certified gap shrank by less than the share
``STALL_PROGRESS`` over the last ``STALL_ITERATIONS`` iterations (and rho did not change in
them): a PH that stalls, or cycles between vertices of the LP, has too weak a pull to the
consensus. (Balancing the primal and dual residuals instead raised rho from the first
iterations on, when the days still disagree, and slowed PH down tenfold on the default
system; ``docs/ph.md``.)"""


def cost_scaled_rho(cost: np.ndarray, spread: np.ndarray, xbar: np.ndarray,
                    multiplier: float = DEFAULT_RHO_MULTIPLIER) -> np.ndarray:
    """The default rho of each first-stage variable (currency/yr per unit squared).

    ``rho_i = multiplier * c_i / max(d_i, |xbar_i|, 1)`` with ``c_i`` the variable's annual
    capex coefficient (currency/yr per kWh or kW), ``d_i = sum_s pi_s |x_si - xbar_i|`` the
    probability-weighted spread of the scenario solutions at iteration 0 and ``xbar_i``
    their mean (kWh or kW; at least one unit). Like mpi-sppy's cost-proportional rho
    setters (``coeff_rho``, and the "SEP" rule of Watson and Woodruff 2011,
    doi:10.1007/s10287-010-0125-4, ``c_i / max(d_i, 1)``), rho follows the cost; dividing by
    a capacity scale makes it independent of units, so that the proximal term
    ``rho/2 (x - xbar)^2`` costs about ``multiplier * c_i * dx / 2`` for a step ``dx`` of
    the size of the capacities themselves. SEP's scale alone (the spread) gave a rho far too
    large for capacities on which the scenarios nearly agree (the converter power of
    individual batteries), and PH crawled; with the scale above and ``multiplier = 0.3`` PH
    reached a certified 1 % gap in 4-6 iterations on 4 to 50 days of the default system with
    individual batteries and with a shared station (``docs/ph.md``). A variable without
    capex (``c_i = 0``) gets ``c = 1``.
    """
    scale = np.maximum(np.maximum(spread, np.abs(xbar)), 1.0)
    return multiplier * np.where(cost > 0, cost, 1.0) / scale


def _settings(opt: Any) -> dict[str, Any]:
    return opt.options["sesplan_ph"]


def _nonants(s: pyo.Block) -> list:
    return list(s._mpisppy_data.nonant_indices.values())


class CostScaledRho(Extension):
    """Rho: set after iteration 0 by :func:`cost_scaled_rho` (or to a fixed value).

    No cost scale fits every system, so :class:`HubBounds` doubles rho when the certified
    gap stalls (:func:`scale_rho`). Rho stays the same in every scenario, so
    ``sum_s pi_s W_s = 0`` holds after each update and the Lagrangian bounds stay valid.
    """

    def post_iter0(self) -> None:
        settings = _settings(self.opt)
        first = next(iter(self.opt.local_scenarios.values()))
        local = np.zeros((2, len(_nonants(first))))
        for s in self.opt.local_scenarios.values():
            local[0] += s._mpisppy_probability * np.array([v.value for v in _nonants(s)])
        xbar = self.opt.mpicomm.allreduce(local[0], op=MPI.SUM)
        for s in self.opt.local_scenarios.values():
            x = np.array([v.value for v in _nonants(s)])
            local[1] += s._mpisppy_probability * np.abs(x - xbar)
        spread = self.opt.mpicomm.allreduce(local[1], op=MPI.SUM)
        if settings["rho"] is not None:
            rho = np.full(len(xbar), float(settings["rho"]))
        else:
            rho = cost_scaled_rho(np.asarray(settings["cost"], dtype=float), spread, xbar,
                                  settings["rho_multiplier"])
        for s in self.opt.local_scenarios.values():
            for i, key in enumerate(s._mpisppy_data.nonant_indices):
                s._mpisppy_model.rho[key] = float(rho[i])
        settings["rho_values"] = [float(r) for r in rho]


def scale_rho(opt: Any, factor: float) -> None:
    """Multiply the rho of every capacity by ``factor`` (in every scenario alike).

    The first-stage variables of what couples the days
    (:data:`~framework.model.build.YEAR_VARS`) keep their cost-scaled rho: each is bounded
    by some scenarios and priced in all, its weights must settle at that price in the
    others, and a rho doubled again and again drives them far beyond it, which stalls the
    Lagrangian bound (on the test systems of ``tests/framework/test_ph_year_coupling.py``
    the bound stayed several per cent below the optimum where it closed to 1-2 % without).
    """
    first = next(iter(opt.local_scenarios.values()))
    scaled = [v.parent_component().local_name not in YEAR_VARS for v in _nonants(first)]
    for s in opt.local_scenarios.values():
        for key, scale in zip(s._mpisppy_data.nonant_indices, scaled):
            if scale:
                s._mpisppy_model.rho[key]._value *= factor
    settings = _settings(opt)
    settings["rho_values"] = [r * factor if scale else r
                              for r, scale in zip(settings.get("rho_values", []), scaled)]


class HubBounds(OptimalOnlyBounds):
    """Hub-side bounds, the subproblem status guard, history and the progress line.

    At the first ``miditer`` it imposes the capacity bounds of
    :class:`~framework.solve.ph_guard.CapacityBounds`, with the cost of ``xbar`` as the
    feasible plan's cost. At each ``miditer`` (the weights ``W`` and ``xbar`` of this
    iteration are set, the PH solves have not started) it computes, if no spoke does:

    - the **Lagrangian bound** ``sum_s pi_s min_x (f_s(x) + W_s x)``: the PH subproblems
      solved with the proximal term switched off (valid because ``sum_s pi_s W_s = 0``);
    - the **inner bound** of ``xhat = xbar``: every scenario's dispatch optimised with the
      capacities fixed at ``xbar``, weights and proximal term off.

    Both only count if every subproblem is solved to optimality. The best ``xhat`` is kept
    (``best_xhat``) for the final result.
    """

    def __init__(self, opt: Any) -> None:
        super().__init__(opt)
        self.settings = _settings(opt)
        self.history: list[dict[str, float]] = []
        self.best_xhat: list[float] | None = None
        self.hub_outer = -math.inf
        self.hub_inner = math.inf
        self.capacity_done = False
        self.budget = math.nan
        self.rho_changed = 0

    def _lagrangian_bound(self) -> float:
        """The Lagrangian bound with this iteration's weights, those of what couples the days
        settled first (:func:`year_weights`); PH goes on with its own weights."""
        opt = self.opt
        saved = year_weights(opt)
        opt._disable_prox()
        opt.solve_loop(solver_options=opt._effective_solver_options(opt._PHIter),
                       need_solution=False)
        bound = opt.Ebound()
        opt._reenable_prox()
        for s, weights in saved:
            for key, value in weights.items():
                s._mpisppy_model.W[key]._value = value
        return bound

    def _candidate(self) -> list[float]:
        """This iteration's ``xhat``: ``xbar``, but the first-stage variables of what couples
        the days (:data:`~framework.model.build.YEAR_VARS`: the billing peaks, each
        scenario's cell discharge) at their highest value over the scenarios whose rows
        bound them (:func:`~framework.model.build.bounds_year_var`). Each of them costs in
        every scenario, so the others pull ``xbar`` below what its users need until PH has
        converged (or, with weights beyond the cost, above it); the users' highest value
        keeps every user's dispatch. Any value gives a feasible plan, so the bound holds."""
        opt = self.opt
        first = next(iter(opt.local_scenarios.values()))
        xhat = np.array([first._mpisppy_model.xbars[key]._value
                         for key in first._mpisppy_data.nonant_indices])
        if not any(v.parent_component().local_name in YEAR_VARS for v in _nonants(first)):
            return list(xhat)
        local = np.full(len(xhat), -np.inf)
        for name, s in opt.local_scenarios.items():
            for position, block in subproblem_members(name, s):
                year = block._year_context
                used = [bounds_year_var(year, position, v) for v in _nonants(s)]
                local = np.where(used, np.maximum(local, [v.value for v in _nonants(s)]), local)
        high = np.max(opt.mpicomm.allgather(local), axis=0)  # MPI.MAX would compare arrays
        return list(np.where(np.isfinite(high), high, xhat))

    def _xbar_inner_bound(self) -> float:
        """Expected cost of the candidate ``xhat`` (:meth:`_candidate`), or with a cycle
        life or demand charges of the plan held at what its dispatch needs
        (:func:`~framework.solve.ph_guard.needed_xhat`) where that is lower; ``inf`` unless
        every dispatch is optimal."""
        opt = self.opt
        xhat = self._candidate()
        opt._save_nonants()
        value, ok = self._held(xhat)
        needed = needed_xhat(opt, xhat) if ok else None
        if needed is not None:
            lower, held = self._held(needed)
            if held and lower < value:
                value, xhat = lower, needed
        opt._restore_nonants()
        value = value if ok else math.inf
        if value < self.hub_inner:
            self.best_xhat = xhat
        return value

    def _held(self, xhat: list[float]) -> tuple[float, bool]:
        """Expected cost with every first stage held at ``xhat`` (weights and proximal terms
        off) and whether every subproblem was solved to optimality."""
        opt = self.opt
        pinned = {name: pin_xhat(_nonants(s), xhat, s._solver_plugin)
                  for name, s in opt.local_scenarios.items()}
        value, ok = solve_all(opt, dis_W=True, dis_prox=True)
        for name, s in opt.local_scenarios.items():
            unpin(_nonants(s), pinned[name], s._solver_plugin)
        return value, ok

    def miditer(self) -> None:
        """Capacity bounds (first iteration), then this iteration's hub-side bounds."""
        opt, settings = self.opt, self.settings
        first = not self.capacity_done
        if first:  # before any solve with weights; xbar's cost serves as the upper cost
            self.capacity_done = True
            xbar_cost = self._timed("xbar", self._xbar_inner_bound)
            if settings["hub_inner"]:
                self._improve_inner(xbar_cost)
            self.budget = self._timed("capacity bounds", impose_capacity_bounds, opt,
                                      xbar_cost if math.isfinite(xbar_cost) else None)
        if first or opt._PHIter % settings["hub_bound_every"] == 0:
            if settings["hub_outer"]:
                self.hub_outer = max(self.hub_outer,
                                     self._timed("Lagrangian", self._lagrangian_bound))
            if settings["hub_inner"] and not first:
                self._improve_inner(self._timed("xbar", self._xbar_inner_bound))
        if math.isfinite(self.hub_outer):
            opt.best_bound_obj_val = max(self.hub_outer, opt.best_bound_obj_val or -math.inf)
        self.record()

    def _timed(self, what: str, fn: Any, *args: Any) -> float:
        start = time.perf_counter()
        value = fn(*args)
        if self.opt.cylinder_rank == 0:
            log.debug("PH %s it %d: %s pass %.2f s -> %.8g", self.settings["mode"],
                      self.opt._PHIter, what, time.perf_counter() - start, value)
        return value

    def _improve_inner(self, value: float) -> None:
        self.hub_inner = min(self.hub_inner, value)
        if math.isfinite(self.hub_inner):
            self.opt.best_solution_obj_val = self.hub_inner

    def bounds(self) -> tuple[float, float]:
        """Best outer and inner bound known to the hub (its own and the spokes')."""
        spcomm = self.opt.spcomm
        outer = max(self.hub_outer, opt_value(self.opt.best_bound_obj_val, -math.inf),
                    spcomm.BestOuterBound if spcomm is not None else -math.inf)
        inner = min(self.hub_inner, spcomm.BestInnerBound if spcomm is not None else math.inf)
        return outer, inner

    def record(self) -> None:
        """Append this iteration to the history and log a progress line (rank 0)."""
        outer, inner = self.bounds()
        elapsed = time.perf_counter() - self.settings["start"]
        conv = self.opt.conv if self.opt.conv is not None else math.nan
        row = {"iteration": float(self.opt._PHIter), "outer_bound": outer,
               "inner_bound": inner, "rel_gap": relative_gap(outer, inner),
               "convergence": float(conv), "elapsed_s": elapsed}
        self.history.append(row)
        self._unstall()
        if self.opt.cylinder_rank == 0:
            log.info("PH %s it %3d: outer %.8g  inner %.8g  gap %s  conv %.3g  (%.1f s)",
                     self.settings["mode"], self.opt._PHIter, outer, inner,
                     f"{row['rel_gap']:.3%}" if math.isfinite(row["rel_gap"]) else "inf",
                     conv, elapsed)

    def _unstall(self) -> None:
        """Double rho when the gap stalls (see ``STALL_ITERATIONS``); the same decision on
        every hub rank (the bounds are shared)."""
        if self.settings["rho"] is not None or len(self.history) <= STALL_ITERATIONS \
                or len(self.history) - self.rho_changed <= STALL_ITERATIONS:
            return
        now, before = self.history[-1]["rel_gap"], self.history[-1 - STALL_ITERATIONS]["rel_gap"]
        if math.isfinite(now) and math.isfinite(before) and now > (1 - STALL_PROGRESS) * before:
            scale_rho(self.opt, RHO_FACTOR)
            self.rho_changed = len(self.history)
            if self.opt.cylinder_rank == 0:
                log.debug("PH %s it %d: gap stalled at %.3g%%, rho x %g", self.settings["mode"],
                          self.opt._PHIter, 100 * now, RHO_FACTOR)

    def post_everything(self) -> None:
        self.opt.sesplan_hub = self


PEAK_VARS = ("peak_import_kw", "coincident_peak_kw")
"""The billing peaks: first-stage variables priced linearly (the demand charge) and used by
the scenarios of their billing period only."""
DISCHARGE_VARS = ("cell_discharge_kwh",)
"""Each scenario's day of discharge at the cells: used by that scenario only, priced by the
cells' convex annuity (no linear price)."""


def year_weights(opt: Any) -> list[tuple[pyo.Block, dict[Any, float]]]:
    """Settle the weights of what couples the days for a Lagrangian bound; returns the
    weights replaced, per subproblem.

    A billing peak ``x_j`` enters the subproblems of the scenarios outside its billing period
    only through its charge ``c_j x_j`` in the first-stage cost. Their best weight is
    ``W_sj = -c_j``: any ``W_sj < -c_j`` makes the Lagrangian subproblem put ``x_j`` at its
    upper bound (a large loss), any ``W_sj > -c_j`` adds nothing. A day's discharge
    ``cell_discharge_kwh[k,s']`` enters the other scenarios' subproblems only through the
    cells' annuity, convex and piecewise linear in the year's discharge (the calendar row,
    then the chords: :func:`framework.model.ageing.define_ageing`); its ``c_j`` is the
    annuity's slope at ``xbar`` (:func:`_discharge_prices`: 0 where the calendar life
    binds, a chord's slope where the cycles shorten the life). Left to PH, these weights
    drifted and held the bound of the default system on 4 days at 2.7 % below the optimum
    for 200 iterations; settled, it is 0.5 % below after 5. So, with ``N`` the subproblems that do not use ``x_j``
    (:func:`~framework.model.build.bounds_year_var`; a bundle uses it if one of its
    scenarios does) and ``U`` the others, ``W'_sj = -c_j`` on ``N`` and
    ``W'_sj = W_sj + (c_j P_N - sum_U pi_s W_sj) / P_U`` on ``U`` (``P`` their
    probabilities): ``sum_s pi_s W'_sj = 0``, so the bound stays valid. PH's own weights
    oscillate around ``-c_j`` on ``N`` and, with the peaks' large upper bounds, the plain
    Lagrangian bound stalled percents below the optimum (the four days of
    ``tests/framework/test_ph_year_coupling.py``)."""
    subproblems = list(opt.local_scenarios.items())
    nonants = _nonants(subproblems[0][1])
    names = [v.parent_component().local_name for v in nonants]
    coupled = [j for j, name in enumerate(names) if name in PEAK_VARS + DISCHARGE_VARS]
    if not coupled:
        return []
    members = {name: subproblem_members(name, s) for name, s in subproblems}
    first = members[subproblems[0][0]][0][1]
    price = np.where([names[j] in PEAK_VARS for j in coupled],
                     _prices(first.first_stage_cost, [nonants[j] for j in coupled]),
                     _discharge_prices(first, subproblems[0][1], [nonants[j] for j in coupled]))
    local = np.zeros((3, len(coupled)))  # P_N, P_U, sum_U pi W
    used = {}
    for name, s in subproblems:
        keys = list(s._mpisppy_data.nonant_indices)
        used[name] = np.array([any(bounds_year_var(block._year_context, position, nonants[j])
                                   for position, block in members[name]) for j in coupled])
        w = np.array([s._mpisppy_model.W[keys[j]]._value for j in coupled])
        local += s._mpisppy_probability * np.array([~used[name], used[name], used[name] * w])
    p_none, p_used, w_used = opt.mpicomm.allreduce(local, op=MPI.SUM)
    shift = np.where(p_used > 0, (price * p_none - w_used) / np.maximum(p_used, 1e-300), 0.0)
    saved = []
    for name, s in subproblems:
        keys = list(s._mpisppy_data.nonant_indices)
        weights = s._mpisppy_model.W
        saved.append((s, {keys[j]: weights[keys[j]]._value for j in coupled}))
        for n, j in enumerate(coupled):
            if p_used[n] > 0:
                weights[keys[j]]._value = (weights[keys[j]]._value + shift[n]
                                           if used[name][n] else -price[n])
    return saved


def _discharge_prices(first: pyo.Block, s: pyo.Block, variables: list) -> np.ndarray:
    """Per variable, the slope of the first-stage cost in a day's discharge at the cells
    (``cell_discharge_kwh``) at ``xbar``: the cells' annual cost ``cell_cost_annual[k]`` is
    the largest of its rows ``cell_calendar[k]``, ``cell_cycles[k, j]`` (each a lower bound
    affine in the first stage), so the slope is that of the row largest at ``xbar`` times
    the cost's coefficient on ``cell_cost_annual[k]``; 0 for any other variable."""
    if not hasattr(first, "cell_cost_annual"):
        return np.zeros(len(variables))
    xbar = {id(v): s._mpisppy_model.xbars[key]._value
            for key, v in s._mpisppy_data.nonant_indices.items()}
    slope: dict[int, float] = {}
    for k in first.K:
        cell = first.cell_cost_annual[k]
        rows = [first.cell_calendar[k]] + [row for index, row in first.cell_cycles.items()
                                           if index[0] == k]
        best, best_slope = -math.inf, {}
        for row in rows:
            repn = generate_standard_repn(row.body, quadratic=False)
            coef = {id(v): float(c) for v, c in zip(repn.linear_vars, repn.linear_coefs)}
            own = coef.pop(id(cell), 0.0)
            bound = row.lower if own > 0 else row.upper
            if own == 0.0 or bound is None:
                continue
            rest = float(repn.constant) + sum(c * (xbar.get(i) or 0.0) for i, c in coef.items())
            implied = (pyo.value(bound) - rest) / own
            if implied > best:
                best, best_slope = implied, {i: -c / own for i, c in coef.items()}
        weight = float(_prices(first.first_stage_cost, [cell])[0])
        for i, c in best_slope.items():
            slope[i] = weight * c
    return np.array([slope.get(id(v), 0.0) if v.parent_component().local_name
                     in DISCHARGE_VARS else 0.0 for v in variables])


def _prices(cost: Any, variables: list) -> np.ndarray:
    """The coefficients of ``variables`` in the linear expression ``cost``."""
    repn = generate_standard_repn(cost.expr, quadratic=False)
    coef = {id(v): float(c) for v, c in zip(repn.linear_vars, repn.linear_coefs)}
    return np.array([coef.get(id(v), 0.0) for v in variables])


def opt_value(value: float | None, default: float) -> float:
    """``value``, or ``default`` where it is None."""
    return default if value is None else float(value)


class GapConverger(Converger):
    """Stop PH when the certified relative gap ``(inner - outer) / |inner|`` reaches the
    target (the same decision on every hub rank)."""

    def __init__(self, opt: Any) -> None:
        super().__init__(opt)
        self.opt = opt

    def is_converged(self) -> bool:
        hub = _hub_bounds(self.opt)
        outer, inner = hub.bounds()
        self.conv = relative_gap(outer, inner)
        return self.opt.allreduce_or(self.conv <= _settings(self.opt)["rel_gap"])


def _hub_bounds(opt: Any) -> HubBounds:
    ext = opt.extobject
    return ext.extdict["HubBounds"] if hasattr(ext, "extdict") else ext
