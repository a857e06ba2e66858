"""Dual-price allocation: each microgrid pays for what it uses at the grand coalition's
shadow prices (Owen's linear production games; Yang, Hu and Spanos, IEEE TSG 2021).

The grand coalition's extensive form (the one model builder, the system's shared
architecture) is solved once as an LP. Its rows fall in three kinds, told apart by the
columns they touch: rows of one microgrid ``i`` (its power balance, its account), rows of the
station alone (a pooled station's state of charge, ``P / E`` bounds), and the *coupling*
rows that link them (``accounts_max``, ``charge_max``, ``discharge_max`` of an accounts
station; ``bus_balance`` of a pooled one; ``p2p_balance``; with a cycle life, the rows of
an accounts station that sum the microgrids' discharges into its cells' discharge of the
year, ``cell_cycles`` or ``cell_discharge``), all of the form
``sum_i B_i y_i + B_0 y_0 <= 0`` (or ``= 0``). With their optimal duals ``mu``, the
Lagrangian separates:

    L(mu) = sum_i min_{y_i} (c_i + B_i' mu)' y_i + min_{y_0} (c_0 + B_0' mu)' y_0

and each microgrid's share is its piece at the optimum,
``x_i = c_i' y_i* + const_i + mu' B_i y_i*``: its own costs (grid energy, fees and wear at
its connection, ...) plus its use of the shared rows priced at ``mu`` (the *charges*). The
station's piece ``r_0 = (c_0 + B_0' mu)' y_0*`` is its profit at these prices, negated: 0
when its feasible set is a cone (no binding ``energy_min_kwh``, ``energy_max_kwh``,
``power_max_kw``; the cells' annual cost rows of a cycle life are homogeneous), and then
``x(N) = v(N)``. Every coalition ``C`` of two or more solves the same model restricted to
``C`` (same station, same coupling rows over its members), so by weak duality
``v(C) >= L_C(mu) = x(C)``: the allocation lies in the core of the game on coalitions of two
or more. A singleton is valued with its own battery (``individual``), not as a station of
one, so individual rationality is checked, not implied. See ``docs/allocation.md``,
"Dual-price allocation".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
import xarray as xr
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from framework.errors import InputError, SolveError
from framework.game.values import coalition_values, world
from framework.model import build_extensive_model, check_scenarios_match, scenario_data
from framework.solve import lp
from framework.solve.highs import standard_form_lp, to_highs_lp
from framework.system import System

log = logging.getLogger(__name__)

#: Coupling row families: what they price and the variable whose unit the price is quoted
#: in (a microgrid's coefficient on it in the row, times ``-mu``, is its price). With a
#: cycle life (:func:`framework.model.ageing.define_ageing`) the rows that sum the
#: microgrids' discharge into the station cells' discharge of the year price the cells'
#: wear (kind ``ageing``, per kWh discharged): ``cell_cycles`` where they hold the sum
#: itself, ``cell_discharge`` where a station variable holds (a scenario's share of) it.
COUPLING = {
    "accounts_max": ("capacity", "account_kwh"),
    "charge_max": ("capacity", "charge_kw"),
    "discharge_max": ("capacity", "discharge_kw"),
    "bus_balance": ("energy", "discharge_kw"),
    "p2p_balance": ("energy", "p2p_in_kw"),
    "cell_cycles": ("ageing", "discharge_kw"),
    "cell_discharge": ("ageing", "discharge_kw"),
}
#: A coupling row of another name whose microgrid columns are all this variable, over more
#: than one step (the discharge of a day or a year at the station's cells, not a per-step
#: row such as ``discharge_max``), prices the cells' wear too: kind ``ageing``.
AGEING_VARIABLE = "discharge_kw"
STATION_OWNER = -1


@dataclass(frozen=True)
class Condition:
    """One condition of the core guarantee and whether it held.

    Attributes
    ----------
    name : str
    holds : bool or None
        ``None`` when it was not checked (the standalone values were not solved).
    detail : str
        What was checked, in words.
    """

    name: str
    holds: bool | None
    detail: str


@dataclass(frozen=True)
class DualAllocation:
    """The dual-price allocation of the grand coalition and its prices.

    Attributes
    ----------
    players : tuple of str
    architecture : str
        What the grand coalition shares (``system.planning.shared_architecture``).
    allocation : dict
        ``x_i = own_cost_i + sum_f charges[f][i]`` (currency/yr).
    own_cost : dict
        Microgrid ``i``'s own cost terms at the optimum: grid energy, shedding, renewables,
        curtailment, CO2, and the fee and wear on its own station flows (currency/yr).
    charges : dict
        ``{family: {i: charge}}``: ``i``'s use of each family of coupling rows priced at
        its duals (currency/yr; negative is a credit, e.g. energy delivered to the bus;
        an ``ageing`` family: the station cells' wear its discharge causes).
    grand_cost : float
        ``v(N)`` (currency/yr).
    efficiency_gap : float
        ``x(N) - v(N)`` (``-station_residual`` up to the solver's tolerance).
    station_residual : float
        The station's cost minus what the prices pay it, ``(c_0 + B_0' mu)' y_0*``: 0 when
        it breaks even (no capacity bound binds).
    cap_energy_kwh, cap_power_kw : float
        The grand coalition's station.
    prices : dict
        ``{family: array (scenario, step)}``: the price of one unit of the family's priced
        variable (``COUPLING``) in that step, per kWh (flows: currency/kWh; accounts:
        currency per kWh held for one hour), ``-mu_r a_r / (days_per_year pi_s dt)``
        (an ``ageing`` family: summed over its rows).
    annual_prices : dict
        ``{family: sum_r -mu_r a_r}`` (currency/yr per kWh or kW): for ``accounts_max`` the
        price of one kWh of usable station capacity per year, for ``charge_max`` plus
        ``discharge_max`` of one kW of station power (each the station's annualised
        capex per unit when it builds some). An ``ageing`` family (``cell_cycles`` or
        ``cell_discharge``): the price of one kWh discharged from the station's cells
        (currency/kWh), averaged over the year's discharge; ``c_E b_j / (N delta)`` times
        the multiplier, in every step, when chord ``j`` binds.
    standalone_cost : dict or None
        ``v({i})`` with an own battery, when solved.
    individually_rational : dict or None
        ``x_i <= v({i})`` per microgrid (within the tolerance), when solved.
    conditions : tuple of Condition
        What the core guarantee rests on, each checked.
    in_core : bool
        The guarantee holds: ``x(N) = v(N)`` and ``x(C) <= v(C)`` for every ``|C| >= 2``.
    solve_s : float
        Wall time of building and solving the grand coalition (s).
    kinds : dict
        ``{family: kind}``: ``capacity``, ``energy`` or ``ageing`` (:meth:`charge`).
    """

    players: tuple[str, ...]
    architecture: str
    allocation: dict[str, float]
    own_cost: dict[str, float]
    charges: dict[str, dict[str, float]]
    grand_cost: float
    efficiency_gap: float
    station_residual: float
    cap_energy_kwh: float
    cap_power_kw: float
    prices: dict[str, np.ndarray]
    annual_prices: dict[str, float]
    standalone_cost: dict[str, float] | None
    individually_rational: dict[str, bool] | None
    conditions: tuple[Condition, ...]
    in_core: bool
    solve_s: float
    kinds: dict[str, str] = field(default_factory=dict)

    def charge(self, kind: str) -> dict[str, float]:
        """Each microgrid's ``capacity`` charge (station energy and power), ``energy``
        charge (bus and p2p exchange; negative: a credit) or ``ageing`` charge (the station
        cells' wear from its discharge, with a cycle life), summed over the families."""
        return {p: sum(v[p] for f, v in self.charges.items() if self.kind(f) == kind)
                for p in self.players}

    def kind(self, family: str) -> str:
        """What a family of coupling rows prices: ``capacity``, ``energy`` or ``ageing``."""
        return self.kinds[family] if family in self.kinds else COUPLING[family][0]


def check_linear(system: System) -> None:
    """Refuse what the prices cannot split: a MILP (the duals, and the guarantee, need an
    LP) and the community's coincident peak (a coupling row with no price family). A cycle
    life is priced (the cells' wear, kind ``ageing``)."""
    if system.planning.forbid_simultaneous:
        raise InputError("dual allocation: planning.forbid_simultaneous adds binary "
                         "variables; the prices need an LP, set it to false")
    if system.storage.modular:
        raise InputError("dual allocation: modular sizing (storage.module_energy_kwh) makes "
                         "the first stage integer; the prices need an LP, unset it")
    if system.tariff.coincident_demand_charge_per_kw:
        raise InputError("dual allocation: tariff.coincident_demand_charge_per_kw prices the "
                         "community's peak, a resource of no one microgrid; set it to 0 for "
                         "the dual rule (each microgrid's own demand charge is fine)")


def owners(columns: Sequence[Any], model: pyo.Block, players: Sequence[str]) -> np.ndarray:
    """Per column its owner: the microgrid's position, or ``STATION_OWNER`` for the
    variables indexed by the storages (capacities, a pooled station's cells, the cells'
    annual cost with a cycle life) unless the storage is a microgrid's own battery."""
    index = {p: j for j, p in enumerate(players)}
    out = np.empty(len(columns), dtype=int)
    for k, var in enumerate(columns):
        first = next(iter(var.parent_component().index_set().subsets()))
        key = var.index()
        key = key[0] if isinstance(key, tuple) else key
        if first is model.K:
            out[k] = index.get(key, STATION_OWNER)
        elif key in index:
            out[k] = index[key]
        else:
            raise RuntimeError(f"dual allocation: column {var.name} is neither the "
                               f"station's nor a microgrid's")
    return out


def _step(var: Any) -> tuple[int, int]:
    """A dispatch column's ``(scenario, step)``: its block's index and its last index."""
    key = var.index()
    return var.parent_block().index(), key[-1] if isinstance(key, tuple) else key


def _family(name: str, columns: Sequence[Any], owners: np.ndarray) -> tuple[str, str] | None:
    """A coupling row's ``(kind, priced variable)``: by its family's name (``COUPLING``), or
    ``("ageing", discharge_kw)`` for a row whose microgrid columns are all the microgrids'
    discharge over more than one step (the cells' discharge of the year, or a station
    variable's defining row for it); ``None`` when it is neither."""
    if name in COUPLING:
        return COUPLING[name]
    mine = [c for c, o in zip(columns, owners) if o != STATION_OWNER]
    if ({c.parent_component().local_name for c in mine} == {AGEING_VARIABLE}
            and len({_step(c) for c in mine}) > 1):
        return "ageing", AGEING_VARIABLE
    return None


def _ageing_prices(rows: Sequence[int], y: np.ndarray, a: sp.csr_array, priced: np.ndarray,
                   columns: Sequence[Any], z: np.ndarray, shape: tuple[int, int],
                   weight: np.ndarray) -> tuple[np.ndarray, float]:
    """The price of one kWh of the priced flow in each ``(scenario, step)``,
    ``sum_r -mu_r a_rc / (days_per_year pi_s dt)`` over the rows ``r`` of an ``ageing``
    family (every microgrid's flow in a step has the same ``a_rc``), and its mean over the
    year's flow (``weight[s] = days_per_year pi_s dt``; over the steps, by probability, when
    nothing flows)."""
    cols = np.unique(np.concatenate([a.indices[a.indptr[r]:a.indptr[r + 1]] for r in rows]))
    cols = cols[priced[cols]]
    step = dict(zip(cols.tolist(), (_step(columns[c]) for c in cols)))
    prices = np.zeros(shape)
    for r in rows:
        span = slice(a.indptr[r], a.indptr[r + 1])
        keep = priced[a.indices[span]]
        where = {step[c]: v for c, v in zip(a.indices[span][keep].tolist(),
                                             a.data[span][keep].tolist())}
        for (s, t), v in where.items():
            prices[s, t] += -y[r] * v / weight[s]
    flow = np.zeros(shape)
    for c in cols.tolist():
        s, t = step[c]
        flow[s, t] += z[c] * weight[s]
    if flow.sum() > 1e-9:
        return prices, float((prices * flow).sum() / flow.sum())
    return prices, float((prices.mean(axis=1) * weight).sum() / weight.sum())


def microgrid_constants(system: System, data: list, arch: str, players: Sequence[str],
               offset: float) -> np.ndarray:
    """Each microgrid's constant in the objective (curtailment of what is available): the
    constant of its own model (the grand model restricted to it); zeros when there is none."""
    if offset == 0.0:
        return np.zeros(len(players))
    out = np.array([to_highs_lp(build_extensive_model(system, data, arch, [p]))[2]
                    for p in players])
    if not np.isclose(out.sum(), offset, rtol=1e-9, atol=1e-9):
        raise RuntimeError(f"dual allocation: the microgrids' constants add up to "
                           f"{out.sum()}, the grand model's to {offset}")
    return out


def _solve_grand(system: System, scenarios: xr.Dataset, players: tuple[str, ...],
                 time_limit_s: float | None) -> dict[str, Any]:
    """Build and solve the grand coalition, and price each microgrid's use (rank 0)."""
    start = time.perf_counter()
    arch = system.planning.shared_architecture
    data = [scenario_data(scenarios, k) for k in range(scenarios.sizes["scenario"])]
    model = build_extensive_model(system, data, arch)
    form = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=pyo.minimize)
    cost = np.asarray(form.c.todense(), dtype=float).ravel()
    h = lp.new_highs()
    h.passModel(standard_form_lp(form, cost))
    status = lp.run(h, time_limit_s)
    if (status != highspy.HighsModelStatus.kOptimal
            or h.getInfo().dual_solution_status != highspy.kSolutionStatusFeasible):
        raise SolveError(f"dual allocation: HiGHS ended with '{h.modelStatusToString(status)}'"
                         f" on the grand coalition; the prices need an optimal LP")
    sol = h.getSolution()
    z, y = np.asarray(sol.col_value), np.asarray(sol.row_dual)
    owner = owners(form.columns, model, players)
    n = len(players)
    # owner matrix: column -> microgrid (0..n-1) or station (n)
    slot = np.where(owner == STATION_OWNER, n, owner)
    own = sp.csr_array((np.ones(len(slot)), (np.arange(len(slot)), slot)), shape=(len(slot),
                                                                                 n + 1))
    a = sp.csr_array(form.A)
    touches = ((abs(a) @ own) > 0).sum(axis=1)
    coupling = np.flatnonzero(touches > 1)
    names = np.array([v.parent_component().local_name for v in form.columns])
    family = [form.rows[r].constraint.parent_component().local_name for r in coupling]
    found: dict[str, tuple[str, str] | None] = {}
    for r, f in zip(coupling, family):
        if f not in found:
            cols = a.indices[a.indptr[r]:a.indptr[r + 1]]
            found[f] = _family(f, [form.columns[c] for c in cols], owner[cols])
    unknown = sorted(f for f, k in found.items() if k is None)
    if unknown:
        raise RuntimeError(f"dual allocation: coupling rows {unknown} have no price family")
    kinds = {f: k for f, k in found.items() if k is not None}
    if np.any(np.asarray(form.rhs, dtype=float)[coupling] != 0.0):
        raise RuntimeError("dual allocation: a coupling row has a non-zero right-hand side")
    families = list(dict.fromkeys(family))
    which = sp.csr_array((np.ones(len(coupling)), ([families.index(f) for f in family],
                                                   np.arange(len(coupling)))),
                         shape=(len(families), len(coupling)))
    # mu_r a_rj z_j summed by family and owner; a charge is minus that (HiGHS: d = c - A'y)
    use = which @ (sp.diags_array(y[coupling]) @ a[coupling] @ sp.diags_array(z)) @ own
    charge = -np.asarray(use.todense())
    own_cost = np.asarray(own.T @ (cost * z)) + np.r_[microgrid_constants(
        system, data, arch, players, float(form.c_offset[0])), 0.0]
    residual = own_cost[n] + charge[:, n].sum()
    days, dt = system.planning.days_per_year, float(scenarios.attrs["step_h"])
    prob = np.asarray(scenarios["probability"].values, dtype=float)
    shape = (len(data), data[0].steps)
    prices = {f: np.full(shape, np.nan) for f in families}
    annual = dict.fromkeys(families, 0.0)
    for f in families:
        if kinds[f][0] == "ageing":
            prices[f], annual[f] = _ageing_prices(
                [r for r, g in zip(coupling, family) if g == f], y, a,
                (names == kinds[f][1]) & (owner != STATION_OWNER), form.columns, z, shape,
                days * prob * dt)
    for r, f in zip(coupling, family):
        if kinds[f][0] == "ageing":
            continue
        cols = a.indices[a.indptr[r]:a.indptr[r + 1]]
        priced = cols[names[cols] == kinds[f][1]]
        con = form.rows[r].constraint
        k, t = con.parent_block().index(), con.index()
        t = t[-1] if isinstance(t, tuple) else t
        unit = -y[r] * a[r, priced[0]]
        prices[f][k, t] = unit / (days * prob[k] * dt)
        annual[f] += float(unit)
    capacity = {name: float(z[names == name].sum()) for name in ("cap_energy_kwh",
                                                                   "cap_power_kw")}
    return {"architecture": arch, "own_cost": own_cost[:n], "charge": charge[:, :n],
            "families": families, "kinds": {f: kinds[f][0] for f in families},
            "grand": float(cost @ z + form.c_offset[0]),
            "residual": float(residual), "prices": prices, "annual": annual,
            "capacity": capacity, "solve_s": time.perf_counter() - start}


def dual_allocation(system: System, scenarios: xr.Dataset, *, standalone: bool = True,
                    cache_dir: str | Path | None = None, comm: Any = None,
                    time_limit_s: float | None = None, rel_tol: float = 1e-6
                    ) -> DualAllocation:
    """Split the grand coalition's cost by the dual prices of its shared rows.

    Parameters
    ----------
    system : System
        Coalitions of two or more share ``system.planning.shared_architecture``. Needs an
        LP: ``planning.forbid_simultaneous`` or modular sizing is an :class:`InputError`.
    scenarios : xr.Dataset
    standalone : bool
        Also solve each microgrid alone with its own battery (``individual``, through
        :func:`framework.game.values.coalition_values`: cached, spread over MPI ranks) and
        check individual rationality against it.
    cache_dir : path, optional
        Cache of those standalone values.
    comm : mpi4py communicator, optional
        Rank 0 solves the grand coalition and broadcasts; the standalone solves are spread.
    time_limit_s : float, optional
        HiGHS time limit per solve.
    rel_tol : float
        Tolerance of the checks, relative to ``max(1, |v(N)|)``.

    Returns
    -------
    DualAllocation
        The same on every rank.
    """
    check_scenarios_match(system, scenarios)
    check_linear(system)
    players = tuple(system.names)
    if len(players) < 2:
        raise InputError(f"dual allocation: needs at least two microgrids, got {list(players)}")
    comm = world() if comm is None else comm
    grand = None
    error = None
    if comm.Get_rank() == 0:
        try:
            grand = _solve_grand(system, scenarios, players, time_limit_s)
        except SolveError as err:
            error = str(err)
    if comm.Get_size() > 1:
        grand, error = comm.bcast((grand, error), root=0)
    if error is not None:
        raise SolveError(error)
    n = len(players)
    charges = {f: {p: float(grand["charge"][j, i]) for i, p in enumerate(players)}
               for j, f in enumerate(grand["families"])}
    own = {p: float(grand["own_cost"][i]) for i, p in enumerate(players)}
    alloc = {p: own[p] + sum(c[p] for c in charges.values()) for p in players}
    tol = rel_tol * max(1.0, abs(grand["grand"]))
    gap = sum(alloc.values()) - grand["grand"]
    balanced = abs(grand["residual"]) <= tol and abs(gap) <= tol
    conditions = [
        Condition("linear program", True, "no integer variables: forbid_simultaneous off, "
                  "no modular sizing"),
        Condition("coalitions restrict the grand model", True,
                  f"every coalition of two or more shares one {grand['architecture']} "
                  f"station, the grand model over its members; the {len(charges)} coupling "
                  f"row families ({', '.join(charges)}) have right-hand side 0"),
        Condition("station breaks even at the prices", balanced,
                  f"station residual {grand['residual']:.6g}, efficiency gap {gap:.6g} "
                  f"currency/yr (tolerance {tol:.3g}); a binding energy_min_kwh, "
                  f"energy_max_kwh or power_max_kw breaks it"),
    ]
    alone = rational = None
    if standalone:
        values = coalition_values(system, scenarios, [(p,) for p in players],
                                  cache_dir=cache_dir, comm=comm, time_limit_s=time_limit_s)
        alone = {p: values.values[frozenset([p])].annual_cost for p in players}
        rational = {p: alloc[p] <= alone[p] + tol for p in players}
        failing = [p for p in players if not rational[p]]
        conditions.append(Condition(
            "individually rational against own batteries", not failing,
            "x_i <= v({i}) for every microgrid" if not failing else
            f"x_i > v({{i}}) for {failing}: an own battery is cheaper for them than their "
            f"share (not implied by duality: a singleton is valued with its own battery)"))
    else:
        conditions.append(Condition("individually rational against own batteries", None,
                                    "not checked (standalone=False)"))
    if comm.Get_rank() == 0:
        log.info("dual allocation of %d microgrids (%s): v(N) = %.6g, efficiency gap %.3g, "
                 "in %.2f s", n, grand["architecture"], grand["grand"], gap, grand["solve_s"])
    return DualAllocation(
        players=players, architecture=grand["architecture"], allocation=alloc, own_cost=own,
        charges=charges, grand_cost=grand["grand"], efficiency_gap=float(gap),
        station_residual=grand["residual"], cap_energy_kwh=grand["capacity"]["cap_energy_kwh"],
        cap_power_kw=grand["capacity"]["cap_power_kw"], prices=grand["prices"],
        annual_prices=grand["annual"], standalone_cost=alone, individually_rational=rational,
        conditions=tuple(conditions), in_core=balanced, solve_s=grand["solve_s"],
        kinds=dict(grand["kinds"]))
