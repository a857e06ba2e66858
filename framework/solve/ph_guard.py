"""What keeps the bounds of progressive hedging valid (see ``docs/ph.md``).

Two defects showed up when mpi-sppy 0.14 bounds this model (``docs/ph.md`` has the
reproduction):

1. A Lagrangian subproblem ``min f_s(x) + W_s x`` is **unbounded** whenever a weight
   ``W_s`` makes the net cost of a capacity negative: capacity beyond what the dispatch
   uses costs only its capex. mpi-sppy then keeps that scenario's ``outer_bound`` from an
   *earlier* solve (with other weights) and adds it into the expected bound, which can lie
   above the optimum. :class:`CapacityBounds` gives every capacity a finite upper bound
   that every optimal plan satisfies, before the first solve with weights, so no
   subproblem of the hub or of a Lagrangian spoke is unbounded.
2. Any subproblem that is not solved to proven optimality (unbounded, infeasible, a limit
   hit) gives no bound. :class:`OptimalOnlyBounds` marks such a scenario's bound as
   ``-inf``, so the expected bound of that pass is ``-inf`` and the hub ignores it.

:func:`check_bounds` is the last line: an outer bound above an inner bound (beyond a
tolerance) raises :class:`BoundError` instead of printing a negative gap.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.opt import TerminationCondition
from pyomo.repn import generate_standard_repn

from framework._mpisppy import MPI, Extension, sputils
from framework.model.build import YEAR_VARS, year_needs
from framework.model.stochastic import scenario_number
from framework.solve.highs import SolveError, solve_highs

BOUND_MARGIN = 1e-4
"""Relative slack added to each derived capacity bound (covers solver tolerances)."""

CAPEX_SHARE = 0.5
"""Share ``e`` of the capex kept in the solve that bounds the operating cost from below
(:class:`CapacityBounds`)."""

BOUND_TOLERANCE = 1e-6
"""Largest relative excess of an outer bound over an inner bound taken as round-off."""


class BoundError(SolveError):
    """An outer (lower) bound lies above an inner (upper) bound, or no valid bound exists."""


def relative_gap(outer: float, inner: float) -> float:
    """``(inner - outer) / |inner|`` (``inf`` while either bound is missing)."""
    if not (math.isfinite(outer) and math.isfinite(inner)):
        return math.inf
    return (inner - outer) / max(abs(inner), 1e-10)


def check_bounds(outer: float, inner: float, what: str = "",
                 tolerance: float = BOUND_TOLERANCE) -> None:
    """Raise :class:`BoundError` if ``outer`` exceeds ``inner`` by more than ``tolerance``
    (relative to ``|inner|``)."""
    if math.isfinite(outer) and math.isfinite(inner) \
            and outer - inner > tolerance * max(abs(inner), 1.0):
        raise BoundError(
            f"{what}invalid bounds: outer (lower) bound {outer:.10g} exceeds inner (upper) "
            f"bound {inner:.10g} by {(outer - inner) / max(abs(inner), 1.0):.3g} (relative); "
            "a lower bound cannot lie above a feasible plan's cost")


def first_stage_costs(m: pyo.ConcreteModel
                      ) -> tuple[list[float], list[float], list[float]] | None:
    """Cost coefficients and cheapest feasible value of each first-stage variable of a
    scenario model, in mpi-sppy's nonant order (its root node sorts the indices).

    The bound coefficients ``a_i`` are those of the nonanticipative variables in the
    first-stage cost ``first_stage_cost = capex_annual + demand_charge_annual`` (the billing
    peaks' charges among them), with the cells' cost ``cell_cost_annual[k]`` of a cycle
    life (not a nonant) replaced by its calendar row's floor ``crf * c_E * E_k``
    (:func:`cell_cost_rows`), so that ``first_stage_cost >= sum_i a_i x_i``, as
    :class:`CapacityBounds` needs; a scenario's day of cell discharge (``cell_discharge_kwh``)
    gets ``a_i = 0``. The rho costs (:func:`framework.solve.ph_hub.cost_scaled_rho`) are the
    same but for those discharges, priced at the first chord's slope (``c_E * b_0 /
    (N delta)`` per kWh a year: a cycle beyond the calendar life's allowance). The
    cheapest first stage ``x0``
    minimises ``first_stage_cost`` over the first-stage constraints (every dispatch is
    feasible for any first stage: with shedding).

    Returns
    -------
    tuple of list of float or None
        ``(a, x0, rho_cost)``; None where the bound argument does not apply (the cost not
        linear with non-negative coefficients in non-negative variables).
    """
    cost = m.first_stage_cost if hasattr(m, "first_stage_cost") else m.capex_annual
    repn = generate_standard_repn(cost.expr, quadratic=False)
    coef = {id(v): float(c) for v, c in zip(repn.linear_vars, repn.linear_coefs)}
    nonants = m._mpisppy_node_list[0].nonant_vardata_list
    if not repn.is_linear() or repn.constant < 0 or any(c < 0 for c in coef.values()) \
            or any(v.lb is None or v.lb < 0 for v in nonants):
        return None
    rho_coef = dict(coef)
    for cell, calendar, chord in cell_cost_rows(m):
        price = coef.get(id(cell), 0.0)
        for var, rate in calendar.items():
            coef[var] = coef.get(var, 0.0) + price * rate
            rho_coef[var] = rho_coef.get(var, 0.0) + price * rate
        for var, rate in chord.items():
            if var not in calendar:  # the days' discharges, not E_k
                rho_coef[var] = rho_coef.get(var, 0.0) + price * rate
    m.dispatch.deactivate()
    m.objective.deactivate()
    m.capex_objective = pyo.Objective(expr=cost)
    try:
        solve_highs(m)
    finally:
        m.del_component(m.capex_objective)
        m.dispatch.activate()
        m.objective.activate()
    return ([coef.get(id(v), 0.0) for v in nonants], [float(v.value) for v in nonants],
            [rho_coef.get(id(v), 0.0) for v in nonants])


def cell_cost_rows(m: pyo.ConcreteModel
                   ) -> list[tuple[pyo.Var, dict[int, float], dict[int, float]]]:
    """Per storage ``k`` with a cycle life (:func:`framework.model.ageing.define_ageing`):
    ``cell_cost_annual[k]`` and the rates of its calendar row and its first chord row,
    ``cell_cost_annual[k] >= sum_v rate_v * v``, each as ``{id(v): rate_v}`` of the
    variables ``v`` other than the cell cost (read from the rows, which hold the numbers)."""
    if not hasattr(m, "cell_cost_annual"):
        return []
    out = []
    for k in m.K:
        cell = m.cell_cost_annual[k]
        rates = []
        for row in (m.cell_calendar[k], m.cell_cycles[k, 0]):
            body = generate_standard_repn(row.body, quadratic=False)
            terms = dict(zip((id(v) for v in body.linear_vars), body.linear_coefs))
            own = terms.pop(id(cell))  # the row is own * cell + sum_v c_v v >= 0
            rates.append({var: -c / own for var, c in terms.items()})
        out.append((cell, *rates))
    return out


class CapacityBounds(Extension):
    """mpi-sppy extension: finite upper bounds on the capacities, valid for every optimum.

    Let ``x0`` be the cheapest first stage and ``Z0 = sum_s pi_s f_s(x0)`` its expected
    annual cost, ``f_s = capex + op_s``. For a share ``e`` in (0, 1) let
    ``L = sum_s pi_s min_x (op_s(x) + e capex(x))``, the expected cost with the capex cut to
    the share ``e``. Every optimal plan ``x*`` has ``capex(x*) + op(x*) <= Z0`` and
    ``op(x*) + e capex(x*) >= L``, hence ``capex(x*) <= (Z0 - L) / (1 - e)``; as
    ``capex = sum_i a_i x_i`` (plus non-negative fixed costs) with ``a_i, x_i >= 0``, each
    ``x_i <= (Z0 - L) / ((1 - e) a_i)`` where ``a_i > 0``. With ``e = 0`` (storage free)
    the bound is tightest but that LP is badly degenerate and slow; ``e = CAPEX_SHARE``
    keeps it as easy as the subproblems themselves for a bound at most twice as loose,
    and any finite bound serves (it only keeps the Lagrangian subproblems bounded).

    Both sums come from two solves of each subproblem the cylinder already holds, with
    mpi-sppy's own weights: ``W = -(1 - e) a`` gives ``L``, and ``x`` held at ``x0`` with
    ``W`` off gives ``Z0``. It runs before the first solve whose weights are not zero: at
    ``pre_iter0`` where the weight terms are already in the objective (a Lagrangian
    spoke), else at the first ``miditer`` (the PH hub attaches them after iteration 0).
    Settings: ``options["sesplan_capacity"] = {"cost": a, "x0": x0}``.
    """

    def __init__(self, opt: Any) -> None:
        super().__init__(opt)
        self.done = False
        self.budget = math.nan

    def pre_iter0(self) -> None:
        attached = hasattr(next(iter(self.opt.local_scenarios.values()))._mpisppy_model,
                           "WExpr")
        solvers = all(hasattr(s, "_solver_plugin") for s in self.opt.local_scenarios.values())
        if attached and solvers:
            self.apply()

    def miditer(self) -> None:
        if not self.done:
            self.apply()

    def apply(self) -> None:
        """Compute the bounds on this cylinder's subproblems and impose them."""
        self.done = True
        self.budget = impose_capacity_bounds(self.opt)


def solve_all(opt: Any, **kwargs: Any) -> tuple[float, bool]:
    """Solve every local subproblem of ``opt``; the expected objective over its cylinder
    (the solver's objective values) and whether every solve was optimal (on all ranks)."""
    opt.solve_loop(solver_options=opt._effective_solver_options(opt._PHIter),
                   need_solution=False, **kwargs)
    local = np.zeros(2)
    for s in opt.local_scenarios.values():
        ok = s._mpisppy_data.solution_available and math.isfinite(s._mpisppy_data.outer_bound)
        local[0] += s._mpisppy_probability * (s._mpisppy_data.inner_bound if ok else 0.0)
        local[1] += 0.0 if ok else 1.0
    total = opt.mpicomm.allreduce(local, op=MPI.SUM)
    return float(total[0]), bool(total[1] == 0)


def _nonants(s: pyo.Block) -> list:
    return list(s._mpisppy_data.nonant_indices.values())


def impose_capacity_bounds(opt: Any, z_upper: float | None = None) -> float:
    """The bounds of :class:`CapacityBounds` on the subproblems of ``opt``.

    Parameters
    ----------
    opt : mpi-sppy PHBase
        A cylinder whose objectives carry the weight terms; its settings are
        ``options["sesplan_capacity"]``.
    z_upper : float, optional
        The expected annual cost of a feasible first stage, if known (the PH hub has one
        from ``xbar``); else ``Z0`` is computed at the cheapest first stage.

    Returns
    -------
    float
        The capex budget ``(Z - L) / (1 - e)``; NaN where no bound was imposed (a solve
        not optimal, or no settings).
    """
    settings = opt.options.get("sesplan_capacity")
    if not settings:
        return math.nan
    cost, x0 = np.asarray(settings["cost"]), list(settings["x0"])
    # W is indexed by the nonant keys (its own iteration order is not the nonant order)
    saved = {name: ({key: w._value for key, w in s._mpisppy_model.W.items()},
                    s._mpisppy_model.W_on.value, s._mpisppy_model.prox_on.value)
             for name, s in opt.local_scenarios.items()}
    for s in opt.local_scenarios.values():
        for key, a in zip(s._mpisppy_data.nonant_indices, cost):
            s._mpisppy_model.W[key]._value = -(1.0 - CAPEX_SHARE) * a
        s._mpisppy_model.W_on.value = 1
        s._mpisppy_model.prox_on.value = 0
    lower, ok = solve_all(opt)
    if z_upper is None:
        pinned = {}
        for name, s in opt.local_scenarios.items():
            s._mpisppy_model.W_on.value = 0
            pinned[name] = pin_xhat(_nonants(s), x0, s._solver_plugin)
        z_upper, x0_ok = solve_all(opt)
        ok = ok and x0_ok
        for name, s in opt.local_scenarios.items():
            unpin(_nonants(s), pinned[name], s._solver_plugin)
    for name, s in opt.local_scenarios.items():
        weights, w_on, prox_on = saved[name]
        for key, value in weights.items():
            s._mpisppy_model.W[key]._value = value
        s._mpisppy_model.W_on.value = w_on
        s._mpisppy_model.prox_on.value = prox_on
    if not (ok and math.isfinite(z_upper)):
        return math.nan
    budget = (z_upper - lower) / (1.0 - CAPEX_SHARE)
    for s in opt.local_scenarios.values():
        for v, a in zip(_nonants(s), cost):
            if a > 0:
                ub = budget / a * (1 + BOUND_MARGIN) + BOUND_MARGIN
                v.setub(ub if v.ub is None else min(v.ub, ub))
                _tell(s._solver_plugin, [v])
    return budget


def subproblem_members(name: str, subproblem: pyo.Block) -> list[tuple[int, pyo.Block]]:
    """Scenario positions and models of one subproblem (a scenario or a bundle)."""
    names = getattr(subproblem, "_ef_scenario_names", None)
    if subproblem.find_component("dispatch") is not None:
        return [(scenario_number(names[0] if names else name), subproblem)]
    return [(scenario_number(n), subproblem.component(n)) for n in names]


def needed_xhat(opt: Any, xhat: list[float]) -> list[float] | None:
    """After every subproblem of ``opt`` was solved with its first stage held at ``xhat``:
    ``xhat`` with each first-stage variable of what couples the days
    (:data:`~framework.model.build.YEAR_VARS`) at the highest value that the dispatch of
    the scenarios whose rows bound it needs (:func:`~framework.model.build.year_needs`:
    a billing peak at its users' highest import, a scenario's cell discharge at its day's
    discharge). Every dispatch stays feasible there and the first-stage cost rises with
    these variables, so the plan costs at most what it cost at ``xhat``. None when the
    model has no such variable (all ranks of the cylinder call)."""
    nonants = _nonants(next(iter(opt.local_scenarios.values())))
    if not any(v.parent_component().local_name in YEAR_VARS for v in nonants):
        return None
    position = {(v.parent_component().local_name, v.index()): j for j, v in enumerate(nonants)}
    local = np.full(len(nonants), -np.inf)
    for name, s in opt.local_scenarios.items():
        if sputils.is_persistent(s._solver_plugin):  # a lean plugin loads the first stage only
            s._solver_plugin.load_vars(list(s.component_data_objects(pyo.Var)))
        for _, block in subproblem_members(name, s):
            for v, value in year_needs(block):
                j = position[v.parent_component().local_name, v.index()]
                local[j] = max(local[j], value)
    high = np.max(opt.mpicomm.allgather(local), axis=0)  # MPI.MAX would compare arrays
    return [max(float(h), 0.0) if np.isfinite(h) else float(x) for x, h in zip(xhat, high)]


MODULE_FOLLOWERS = ("cap_energy_kwh", "cap_power_kw", "built")
"""First-stage variables that follow the module counts with modular sizing."""


def pin_xhat(nonants: list, values: list[float], solver: Any
             ) -> list[tuple[float | None, float | None]]:
    """Hold the first stage of one subproblem at a candidate ``xhat``; returns the old bounds.

    The values are imposed as equal lower and upper bounds, not by fixing: a persistent
    solver interface takes a bound change as it is, but may rebuild every constraint of a
    fixed variable. Every first-stage variable is held at ``values`` (the capacities, and
    the scenarios' days of cell discharge and the billing peaks of what couples the days);
    with modular sizing the module counts are held rounded, and the capacities and
    ``built`` flags (:data:`MODULE_FOLLOWERS`) follow from them in each scenario
    (``E = e_mod * n``, ``P = p_mod * n``; ``built`` at its cheapest). :func:`unpin`
    restores the bounds. ``solver``, if persistent, is told.
    """
    old = [(v.lb, v.ub) for v in nonants]
    modular = any(v.is_integer() and not v.is_binary() for v in nonants)
    for v, value in zip(nonants, values):
        if modular and v.parent_component().local_name in MODULE_FOLLOWERS:
            continue
        held = round(value) if v.is_integer() else value
        v.setlb(held)
        v.setub(held)
    _tell(solver, nonants)
    return old


def unpin(nonants: list, old: list[tuple[float | None, float | None]], solver: Any) -> None:
    """Put back the bounds that :func:`pin_xhat` replaced."""
    for v, (lb, ub) in zip(nonants, old):
        v.setlb(lb)
        v.setub(ub)
    _tell(solver, nonants)


def _tell(solver: Any, variables: list) -> None:
    if hasattr(solver, "update_var"):
        for v in variables:
            solver.update_var(v)


class OptimalOnlyBounds(Extension):
    """mpi-sppy extension: a subproblem not solved to optimality contributes ``-inf``.

    mpi-sppy copies the solver's objective bound into ``outer_bound`` only when a solve
    succeeds, and leaves the previous value in place otherwise; with some interfaces a time
    or iteration limit even stores the objective of a non-optimal point. Here, after every
    solve, anything but ``optimal`` sets the scenario's ``outer_bound`` to ``-inf`` (a
    valid, useless bound).
    """

    def post_solve(self, subproblem: pyo.Block, results: Any) -> Any:
        if results is None or results.solver.termination_condition \
                != TerminationCondition.optimal:
            subproblem._mpisppy_data.outer_bound = -math.inf
        return results


def capacity_settings(m: pyo.ConcreteModel) -> dict[str, list[float]] | None:
    """``options["sesplan_capacity"]`` of :class:`CapacityBounds` from one scenario model."""
    costs = first_stage_costs(m)
    if costs is None:
        return None
    return {"cost": costs[0], "x0": costs[1], "rho_cost": costs[2]}

