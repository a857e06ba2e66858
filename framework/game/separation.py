"""Exact separation: the coalition with the largest excess for an allocation, as one MILP.

For an allocation ``x`` (currency/yr per microgrid) the separation finds

    max_{C : 2 <= |C| <= n - 1}  e(C) = x(C) - v(C)

without enumerating coalitions. ``-v(C)`` is a maximum over the operation of ``C``, so the
maximum over ``C`` and the operation together is one optimisation problem: the grand
coalition's model of the shared architecture (the one model builder,
:func:`framework.model.build_extensive_model`) with a binary ``z_i`` per microgrid (1: a
member) and

    max  sum_i z_i x_i - annual_cost + sum_i (1 - z_i) c0_i
    s.t. the grand coalition's model (one station, capex counted once)
         flow[i,t] <= M_i z_i   for every station and p2p flow of microgrid i (every scenario)
         2 <= sum_i z_i <= n - 1
         sum_{i not in C} z_i - sum_{i in C} z_i >= 1 - |C|   for every excluded coalition C
         z outside the span of given coalitions (optional: Separator.outside_span)

Options of one solve: a cutoff ``level`` (only excesses above it matter, so nodes that cannot
exceed it are pruned from the start) and one member's ``z`` fixed (half of the search, for
two processes to share).

A non-member (``z_i = 0``) is cut off from the station and from p2p exchange; its account,
with no flow, holds nothing (or, without self-discharge, a constant that only takes
capacity), so it operates alone with no storage and no exchange and costs ``c0_i``, its
optimal cost under architecture ``none`` (a constant, solved once per microgrid). The
annual cost of a solution is then ``v_z(C) + sum_{i not in C} c0_i`` with ``v_z(C)`` the cost
of ``C``'s operation, so the objective is ``x(C) - v_z(C)``: its maximum is the maximum excess.
HiGHS's dual bound is an upper bound on the maximum excess over every eligible coalition:
the certificate. Its incumbent (and each improving solution it saved) is a coalition whose
excess is at least the incumbent's objective (``v(C)`` is at most the cost of any operation
of ``C``); the exact ``v(C)`` is then solved as an LP by
:func:`framework.game.values.coalition_values`, never taken from the MILP.

Big-Ms (:func:`flow_bounds`): a flow metered at microgrid ``i``'s connection in step ``t``
is bounded by its own variable bound where the system sets one (``station_limit_kw``,
``p2p_limit_kw``), an account's flows by the station's power (``storage.power_max_kw``: they
are part of ``sum_i charge <= P``), and every one by what the microgrids can supply or take:
without p2p, ``charge[i,t] <= pv + wind + import_limit`` and ``discharge[i,t] <= load +
export_limit`` of ``i`` at ``t``; with p2p, every flow of step ``t`` by the sum of these over
the microgrids (the reasoning of the builder's exact no-simultaneous constraints,
:func:`framework.model.build.simultaneous_bound_kw`). These hold at an optimum of every
coalition without circular flows: among a coalition's optima the one with the least metered
flow (what :func:`framework.solve.ef.least_exchange` reports) has no connection that charges
and discharges, or sends and receives, in the same step (cancelling both leaves every
balance unchanged and lowers the fee), so each metered flow carries what a member supplies
or takes in that step. A member whose data-derived bound binds in the MILP's solution is
logged as a warning (:attr:`Separation.binding`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
import xarray as xr

from framework.architecture import Architecture, architecture
from framework.errors import InputError
from framework.game.values import SolveStats, Task, solve_tasks
from framework.model import build_extensive_model, check_scenarios_match, scenario_data
from framework.model.data import ScenarioData
from framework.solve import lp
from framework.solve.highs import to_highs_lp
from framework.system import System

log = logging.getLogger(__name__)

#: What a finished separation reports as its status.
STATUS = {highspy.HighsModelStatus.kOptimal: "optimal",
          highspy.HighsModelStatus.kTimeLimit: "time_limit",
          highspy.HighsModelStatus.kInterrupt: "interrupted",
          highspy.HighsModelStatus.kInfeasible: "infeasible"}


#: HiGHS options of the separation MILP: with few binaries and costly node LPs, strong
#: branching and the RINS/RENS sub-MIPs take most of the time; without them the MILPs of
#: 8 and 16 microgrids of the scaled default system solve 2.5 to 4 times faster.
TUNING = {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False,
          "mip_pscost_minreliable": 0}


@dataclass(frozen=True)
class Separation:
    """The result of one separation.

    Attributes
    ----------
    coalition : frozenset or None
        The incumbent: the coalition with the largest excess found (``None`` when no
        eligible coalition was found: fewer than three microgrids, all excluded, or a time
        limit before any incumbent).
    excess : float
        A lower bound on the maximum excess: the incumbent's objective ``x(C) - cost`` of its
        operation, at most the exact ``x(C) - v(C)`` (``-inf`` without an incumbent).
    bound : float
        HiGHS's dual bound: an upper bound on ``x(C) - v(C)`` for every eligible coalition
        (``-inf`` when none is eligible).
    status : str
        ``optimal`` (``bound - excess`` within the absolute gap), ``time_limit``,
        ``interrupted``, ``infeasible`` (every eligible coalition excluded), ``none``
        (fewer than three microgrids: no coalition of size 2 to n - 1) or, from the
        cuts with a level, ``violated`` (stopped at a coalition proven above it).
    solve_s : float
        Wall time of the separation (s).
    candidates : tuple
        ``(coalition, excess lower bound)`` of the incumbent and of every improving solution
        HiGHS found on the way, best first, each coalition once.
    binding : tuple of str
        The members whose data-derived big-M (not a limit of the system) binds in the
        incumbent's operation (empty when none does: the bounds cut nothing off there).
    """

    coalition: frozenset[str] | None
    excess: float
    bound: float
    status: str
    solve_s: float
    candidates: tuple[tuple[frozenset[str], float], ...] = ()
    binding: tuple[str, ...] = ()


def shared_architecture(system: System) -> Architecture:
    """The architecture the coalitions share; the separation needs a shared station
    (``accounts``, ``pooled``, with or without ``+p2p``) and no coincident demand charge
    (it would price non-members' imports)."""
    arch = architecture(system.planning.shared_architecture)
    if not arch.shared:
        raise InputError(f"separation: expected a shared station (accounts or pooled, "
                         f"optionally +p2p), got architecture {arch.name!r}")
    if system.tariff.coincident_demand_charge_per_kw:
        raise InputError("separation: tariff.coincident_demand_charge_per_kw prices the peak "
                         "of every microgrid together, members or not; set it to 0 for "
                         "allocation by generation (or use --method enumeration)")
    return arch


def no_storage_costs(system: System, scenarios: xr.Dataset, *, cache_dir: Any = None,
                     comm: Any = None) -> tuple[dict[str, float], SolveStats]:
    """``c0_i``: each microgrid's optimal annual cost alone with no storage and no exchange
    (architecture ``none``), cached and spread over MPI ranks like the coalition values;
    and how they were obtained."""
    tasks = [Task(system, (name,), "none") for name in system.names]
    values, stats = solve_tasks(tasks, scenarios, cache_dir=cache_dir, comm=comm,
                                label="no-storage")
    return {v.coalition[0]: v.annual_cost for v in values}, stats


def flow_bounds(system: System, data: ScenarioData, arch: Architecture, check: bool = True
                ) -> dict[str, dict[tuple[str, int], float]]:
    """The big-M of every flow metered at a microgrid's connection in one scenario:
    ``{variable name: {(microgrid, step): M (kW)}}`` for ``charge_kw``, ``discharge_kw`` and,
    with p2p, ``p2p_in_kw``, ``p2p_out_kw`` (why they are valid: the module docstring).

    Without p2p: ``charge[i,t] <= pv + wind + import_limit`` of ``i`` at ``t`` (what ``i``
    can supply), ``discharge[i,t] <= load + export_limit`` (what it can take). With p2p every
    flow of step ``t``: what all microgrids can supply or take at ``t``,
    ``max(sum_j (pv + wind + import_limit), sum_j (load + export_limit))``. Each also at most
    ``station_limit_kw`` or ``p2p_limit_kw`` of ``i``, and an account's flows at most
    ``storage.power_max_kw``. Raises :class:`InputError` when a flow has no finite bound
    (unless ``check`` is false: infinite bounds are then returned as they are).
    """
    mgs = system.microgrids
    steps = range(data.steps)
    supply, sink = {}, {}
    for mg in mgs:
        col = data.column(mg.name)
        for t in steps:
            supply[mg.name, t] = (mg.pv_kw * float(data.pv_pu[t, col])
                                  + mg.wind_kw * float(data.wind_pu[t, col])
                                  + (math.inf if mg.import_limit_kw is None
                                     else mg.import_limit_kw))
            sink[mg.name, t] = float(data.load_kw[t, col]) + (
                math.inf if mg.export_limit_kw is None else mg.export_limit_kw)
    if arch.p2p:
        community = {t: max(sum(supply[mg.name, t] for mg in mgs),
                            sum(sink[mg.name, t] for mg in mgs)) for t in steps}
        supply = sink = {(mg.name, t): community[t] for mg in mgs for t in steps}
    power = system.storage.power_max_kw if not arch.pooled else None

    def least(*values: float | None) -> float:
        return min(math.inf if v is None else float(v) for v in values)

    out = {"charge_kw": {(mg.name, t): least(mg.station_limit_kw, power, supply[mg.name, t])
                         for mg in mgs for t in steps},
           "discharge_kw": {(mg.name, t): least(mg.station_limit_kw, power, sink[mg.name, t])
                            for mg in mgs for t in steps}}
    if arch.p2p:
        for name in ("p2p_in_kw", "p2p_out_kw"):
            out[name] = {(mg.name, t): least(mg.p2p_limit_kw, supply[mg.name, t])
                         for mg in mgs for t in steps}
    open_ = sorted({f"{name}[{i}]" for name, m in out.items() for (i, _), v in m.items()
                    if not math.isfinite(v)})
    if open_ and check:
        raise InputError(f"separation: no bound on {open_[0]}: set import_limit_kw and "
                         f"export_limit_kw of every microgrid (or station_limit_kw, "
                         f"p2p_limit_kw, storage.power_max_kw)")
    return out


def integer_null_space(rows: list[list[int]]) -> list[list[int]]:
    """An integer basis of ``{w : A w = 0}`` for an integer matrix ``A`` (exact: rational
    elimination, each vector scaled by the common denominator and divided by the gcd)."""
    n = len(rows[0])
    a = [[Fraction(v) for v in row] for row in rows]
    pivots: list[int] = []
    for col in range(n):
        r = len(pivots)
        pick = next((i for i in range(r, len(a)) if a[i][col] != 0), None)
        if pick is None:
            continue
        a[r], a[pick] = a[pick], a[r]
        a[r] = [v / a[r][col] for v in a[r]]
        for i in range(len(a)):
            if i != r and a[i][col] != 0:
                a[i] = [vi - a[i][col] * vr for vi, vr in zip(a[i], a[r])]
        pivots.append(col)
    basis = []
    for free in (c for c in range(n) if c not in pivots):
        w = [Fraction(0)] * n
        w[free] = Fraction(1)
        for r, col in enumerate(pivots):
            w[col] = -a[r][free]
        scale = math.lcm(*(v.denominator for v in w))
        ints = [int(v * scale) for v in w]
        g = math.gcd(*ints)
        basis.append([v // g for v in ints])
    return basis


@dataclass(frozen=True)
class SeparationModel:
    """The grand coalition's model with a membership binary per microgrid, compiled.

    Attributes
    ----------
    lp : highspy.HighsLp
        ``min annual_cost`` (non-members' ``c0_i`` not included; the membership columns
        cost 0) over the grand coalition's model, the cut-off rows and ``2 <= sum z <= n - 1``.
    columns : list
        The Pyomo variable of each column.
    offset : float
        The objective's constant.
    model : pyomo block
        The model compiled (its ``member`` variable holds the binaries).
    z : np.ndarray
        The column of each microgrid's membership binary.
    flows : list of (microgrid, column or None, M)
        The flows whose data-derived big-M is below the system's own limits.
    architecture : str
    build_s : float
        Wall time of building and compiling (s).
    """

    lp: highspy.HighsLp
    columns: list
    offset: float
    model: Any
    z: np.ndarray
    flows: list[tuple[str, int | None, float]]
    architecture: str
    build_s: float


def separation_model(system: System, scenarios: xr.Dataset) -> SeparationModel | None:
    """The separation's model of ``system`` (the module docstring), or ``None`` with fewer
    than three microgrids (no coalition of size 2 to n - 1)."""
    check_scenarios_match(system, scenarios)
    arch = shared_architecture(system)
    players = tuple(system.names)
    n = len(players)
    if n < 3:
        return None
    start = time.perf_counter()
    data = [scenario_data(scenarios, k) for k in range(scenarios.sizes["scenario"])]
    m = build_extensive_model(system, data, arch.name)
    m.member = pyo.Var(players, within=pyo.Binary)
    m.coalition_size = pyo.Constraint(expr=pyo.inequality(
        2, pyo.quicksum(m.member[p] for p in players), n - 1))
    flows: list[tuple[str, Any, float]] = []  # (member, variable, data-derived M)
    for k, d in enumerate(data):
        bounds = flow_bounds(system, d, arch)
        block = m.scenario[k]
        rows = [(name, i, t) for name in bounds for i in players for t in block.T]
        block.cut_off = pyo.Constraint(rows, rule=lambda b, name, i, t, bounds=bounds: (
            getattr(b, name)[i, t] <= bounds[name][i, t] * m.member[i]))
        limit = flow_bounds(replace(system, microgrids=tuple(
            replace(mg, import_limit_kw=None, export_limit_kw=None)
            for mg in system.microgrids)), d, arch, check=False)
        flows += [(i, getattr(block, name)[i, t], bounds[name][i, t])
                  for name, i, t in rows if bounds[name][i, t] < limit[name][i, t]]
    model_lp, columns, offset = to_highs_lp(m)
    position = {id(v): j for j, v in enumerate(columns)}
    z = np.array([position[id(m.member[p])] for p in players], dtype=np.int32)
    return SeparationModel(model_lp, columns, offset, m, z,
                           [(i, position.get(id(v)), bound) for i, v, bound in flows],
                           arch.name, time.perf_counter() - start)


def add_exclusion(h: highspy.Highs, z: np.ndarray, players: tuple[str, ...],
                  coalition: frozenset[str]) -> None:
    """Exclude ``coalition`` from the membership vectors of ``h`` (columns ``z``): the
    no-good cut ``sum_{i not in C} z_i - sum_{i in C} z_i >= 1 - |C|``."""
    sign = np.array([-1.0 if p in coalition else 1.0 for p in players])
    h.addRow(1.0 - len(coalition), lp.INF, len(players), z, sign)


def remove_added(h: highspy.Highs, rows: int, cols: int) -> None:
    """Delete the rows and columns of ``h`` from positions ``rows`` and ``cols`` on."""
    extra = np.arange(rows, h.getNumRow(), dtype=np.int32)
    h.deleteRows(extra.size, extra)
    extra = np.arange(cols, h.getNumCol(), dtype=np.int32)
    h.deleteCols(extra.size, extra)


def add_outside_span(h: highspy.Highs, z: np.ndarray, players: tuple[str, ...],
                     fixed: list[frozenset[str]]) -> bool:
    """Restrict the membership vectors of ``h`` (columns ``z``) to those that are not a
    linear combination of the vectors of ``fixed``; whether a restriction was added (none
    when ``fixed`` spans everything).

    With ``W`` an integer basis of the vectors orthogonal to ``fixed``
    (:func:`integer_null_space`), ``z`` is in the span iff ``W_k z = 0`` for every ``k``;
    outside it some ``|W_k z| >= 1`` (integers), a disjunction with two binaries per ``k``:
    ``W_k z >= 1 - M (1 - u_k)``, ``W_k z <= -1 + M (1 - w_k)``, ``sum_k u_k + w_k >= 1``.
    One restriction instead of a no-good cut per coalition of the span (a nucleolus stage
    whose fixed coalitions span many settled ones)."""
    basis = integer_null_space([[int(p in c) for p in players] for c in fixed])
    if not basis:
        return False
    n = len(players)
    first = h.getNumCol()
    count = 2 * len(basis)
    h.addCols(count, np.zeros(count), np.zeros(count), np.ones(count), 0,
              np.array([], dtype=np.int32), np.array([], dtype=np.int32), np.array([]))
    h.changeColsIntegrality(count, np.arange(first, first + count, dtype=np.int32),
                            np.full(count, highspy.HighsVarType.kInteger))
    for k, w in enumerate(basis):
        w = np.asarray(w, dtype=float)
        low, high = float(-w[w < 0].sum()), float(w[w > 0].sum())  # -min, max of W_k z
        u, v = first + 2 * k, first + 2 * k + 1
        h.addRow(-low, lp.INF, n + 1, np.r_[z, u].astype(np.int32),
                 np.r_[w, -(1.0 + low)])  # W_k z >= 1 - (1 + low)(1 - u)
        h.addRow(-lp.INF, high, n + 1, np.r_[z, v].astype(np.int32),
                 np.r_[w, 1.0 + high])  # W_k z <= -1 + (1 + high)(1 - v)
    h.addRow(1.0, lp.INF, count, np.arange(first, first + count, dtype=np.int32),
             np.ones(count))
    return True


class Separator:
    """The separation MILP of one system, compiled once and solved for many allocations.

    Parameters
    ----------
    system : System
        Coalitions share ``system.planning.shared_architecture``.
    scenarios : xr.Dataset
    no_storage : mapping
        ``c0_i`` of every microgrid (:func:`no_storage_costs`).
    threads : int, optional
        HiGHS threads.
    """

    def __init__(self, system: System, scenarios: xr.Dataset, no_storage: Mapping[str, float],
                 threads: int | None = None) -> None:
        self.players = tuple(system.names)
        self.no_storage = np.array([float(no_storage[p]) for p in self.players])
        self.h: highspy.Highs | None = None
        self.excluded: list[frozenset[str]] = []
        self.span: list[frozenset[str]] = []
        form = separation_model(system, scenarios)
        if form is None:
            return
        self.offset, self.z, self._flow_cols = form.offset, form.z, form.flows
        self.h = lp.new_highs(threads)
        self.h.passModel(form.lp)
        self.h.setOptionValue("mip_improving_solution_save", True)
        self.h.setOptionValue("mip_rel_gap", 0.0)
        for option, value in TUNING.items():
            self.h.setOptionValue(option, value)
        self.base_rows = self.h.getNumRow()
        self.base_cols = self.h.getNumCol()
        log.info("separation MILP of %d microgrids (%s): %d columns, %d rows, built in %.1f s",
                 len(self.players), form.architecture, form.lp.num_col_, form.lp.num_row_,
                 form.build_s)

    def exclude(self, coalitions: Iterable[frozenset[str]]) -> None:
        """Exclude these coalitions from every later separation (a no-good cut each,
        :func:`add_exclusion`)."""
        for c in coalitions:
            c = frozenset(c)
            if self.h is None or c in self.excluded:
                continue
            add_exclusion(self.h, self.z, self.players, c)
            self.excluded.append(c)

    def clear(self) -> None:
        """Remove every exclusion and the span restriction."""
        if self.h is not None and (self.excluded or self.span):
            remove_added(self.h, self.base_rows, self.base_cols)
        self.excluded, self.span = [], []

    def outside_span(self, fixed: Iterable[frozenset[str]]) -> None:
        """Search only the coalitions whose membership vector is not a linear combination
        of those of ``fixed`` (replaces every earlier restriction and exclusion;
        :func:`add_outside_span`)."""
        self.clear()
        fixed = [frozenset(c) for c in fixed]
        if self.h is not None and fixed and add_outside_span(self.h, self.z, self.players,
                                                             fixed):
            self.span = fixed

    def separate(self, allocation: Mapping[str, float], time_limit_s: float | None = None,
                 abs_gap: float = 1e-6, level: float | None = None,
                 fix: tuple[str, bool] | None = None) -> Separation:
        """The coalition of size 2 to n - 1 (not excluded) with the largest excess
        ``x(C) - v(C)`` for ``allocation``, with HiGHS's bound on that maximum.

        Parameters
        ----------
        allocation : mapping
            ``x_i`` of every microgrid (currency/yr).
        time_limit_s : float, optional
            HiGHS time limit; a stop keeps the incumbent and the bound (status
            ``time_limit``).
        abs_gap : float
            Absolute MIP gap (currency/yr): the solve stops when ``bound - excess`` is below
            it (the relative gap is not used: the objective is near 0 at a stable
            allocation).
        level : float, optional
            Only excesses above ``level`` matter: a cutoff (HiGHS's ``objective_bound``)
            prunes every node that cannot exceed it. The bound is then ``max(level, best
            excess)``, and no eligible coalition above ``level`` ends with status
            ``optimal``, no coalition and ``bound = level``.
        fix : (microgrid, bool), optional
            Search only the coalitions with (``True``) or without that microgrid: one half
            of the search, for another process to take the other
            (:meth:`Separation.merge`).
        """
        if self.h is None:
            return Separation(None, -math.inf, -math.inf, "none", 0.0)
        start = time.perf_counter()
        x = np.array([float(allocation[p]) for p in self.players])
        h = self.h
        h.changeColsCost(self.z.size, self.z, -(x - self.no_storage))
        h.setOptionValue("mip_abs_gap", float(abs_gap))
        h.setOptionValue("objective_bound", lp.INF if level is None else
                         float(self.no_storage.sum()) - self.offset - float(level))
        if fix is None:
            return self._solve(time_limit_s, level, start)
        j = int(self.z[self.players.index(fix[0])])
        h.changeColBounds(j, float(fix[1]), float(fix[1]))
        try:
            return self._solve(time_limit_s, level, start)
        finally:  # after reading the solution: a change of bounds clears it
            h.changeColBounds(j, 0.0, 1.0)

    def _solve(self, time_limit_s: float | None, level: float | None,
               start: float) -> Separation:
        h = self.h
        total = float(self.no_storage.sum())
        status = lp.run(h, time_limit_s)
        info = h.getInfo()
        solve_s = time.perf_counter() - start
        has_solution = info.primal_solution_status == highspy.kSolutionStatusFeasible
        if level is not None and status in (highspy.HighsModelStatus.kInfeasible,
                                            highspy.HighsModelStatus.kOptimal):
            # the cutoff: nothing (or nothing eligible) above ``level``, or the best above it
            bound = total - (info.mip_dual_bound + self.offset) if has_solution else -math.inf
            return self._found(h, "optimal", max(float(level), bound), solve_s, has_solution)
        if status == highspy.HighsModelStatus.kInfeasible:
            return Separation(None, -math.inf, -math.inf, "infeasible", solve_s)
        if status not in STATUS:
            raise RuntimeError(f"separation MILP ended with '{h.modelStatusToString(status)}'")
        bound = total - (info.mip_dual_bound + self.offset)
        if level is not None:  # a node cut off cannot exceed ``level``
            bound = max(float(level), bound)
        return self._found(h, STATUS[status], bound, solve_s, has_solution)

    def _found(self, h: highspy.Highs, status: str, bound: float, solve_s: float,
               has_solution: bool) -> Separation:
        """The separation with HiGHS's incumbent and saved solutions (none without one)."""
        if not has_solution:
            return Separation(None, -math.inf, bound, status, solve_s)
        total = float(self.no_storage.sum())
        values = np.asarray(h.getSolution().col_value)
        coalition = self._coalition(values)
        found: dict[frozenset[str], float] = {}
        for c, e in [(coalition, total - (h.getInfo().objective_function_value + self.offset)),
                     *((self._coalition(np.asarray(s.col_value)), total - (s.objective
                                                                           + self.offset))
                       for s in h.getSavedMipSolutions())]:
            found[c] = max(found.get(c, -math.inf), e)
        binding = tuple(sorted({i for i, j, m in self._flow_cols if j is not None
                                and i in coalition and values[j] >= m * (1 - 1e-6)}))
        if binding:
            log.warning("separation: the big-M flow bound binds for %s in coalition %s",
                        binding, sorted(coalition))
        return Separation(coalition, found[coalition], bound, status, solve_s,
                          tuple(sorted(found.items(), key=lambda item: -item[1])), binding)

    def _coalition(self, values: np.ndarray) -> frozenset[str]:
        return frozenset(p for p, j in zip(self.players, self.z) if values[j] > 0.5)

