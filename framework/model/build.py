"""The one model builder: first-stage storage sizing and the dispatch of one scenario.

Every solution method (extensive form, progressive hedging, C&CG, evaluation of a fixed
plan, coalition values, leasing) builds its models here, for every sharing architecture
(:mod:`framework.architecture`). The equations are stated in ``docs/formulation.md`` with
the same symbols; each ``define_*`` function below carries the equation it adds. Indices:
microgrid ``i``, step ``t``, storage ``k`` (a microgrid's own battery, or the ``station``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from numbers import Real

import pyomo.environ as pyo
from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

from framework.architecture import STATION, Architecture, architecture
from framework.errors import InputError
from framework.model.ageing import capex_expression, define_ageing, define_cell_discharge
from framework.model.data import ScenarioData, YearContext
from framework.model.demand import define_demand_charges, define_peak_rows
from framework.model.linked import define_linked_days
from framework.system import Storage, System

#: A storage's cell flow in step ``t`` as an expression of the dispatch block.
Cell = Callable[[pyo.Block, str, int], pyo.Expression]

FIRST_STAGE_VARS = ("cap_energy_kwh", "cap_power_kw")


def _limit(value: float | None) -> float | None:
    return None if value is None else float(value)


def define_first_stage(m: pyo.Block, system: System, members: Mapping[str, Sequence[str]],
                       shared: bool) -> None:
    """Storage capacities and their annual cost.

    ``capex_annual = (crf + om) * mult * sum_k (c_E * E_k + c_P * P_k [+ c_fix * b_k])``
    with ``mult`` the station's capex multiplier (1 for own batteries). Bounds:
    ``E_min <= E_k <= E_max``, ``P_k <= P_max``, ``rho_min * E_k <= P_k <= rho_max * E_k``.
    Modular sizing: ``E_k = n_k * e_mod``, ``P_k = n_k * p_mod``, ``n_k <= n_max * b_k``,
    ``n_k`` integer, ``b_k`` binary.
    """
    tech = system.storage
    m.K = pyo.Set(initialize=list(members), ordered=True)
    m.cap_energy_kwh = pyo.Var(m.K, within=pyo.NonNegativeReals,
                               bounds=(tech.energy_min_kwh, _limit(tech.energy_max_kwh)))
    m.cap_power_kw = pyo.Var(m.K, within=pyo.NonNegativeReals,
                             bounds=(0.0, _limit(tech.power_max_kw)))
    if tech.power_to_energy_min_per_h is not None:
        m.p_to_e_min = pyo.Constraint(m.K, rule=lambda b, k: b.cap_power_kw[k]
                                      >= tech.power_to_energy_min_per_h * b.cap_energy_kwh[k])
    if tech.power_to_energy_max_per_h is not None:
        m.p_to_e_max = pyo.Constraint(m.K, rule=lambda b, k: b.cap_power_kw[k]
                                      <= tech.power_to_energy_max_per_h * b.cap_energy_kwh[k])
    if tech.modular:
        m.n_modules = pyo.Var(m.K, within=pyo.NonNegativeIntegers, bounds=(0, tech.max_modules))
        m.built = pyo.Var(m.K, within=pyo.Binary)
        m.module_energy = pyo.Constraint(m.K, rule=lambda b, k: b.cap_energy_kwh[k]
                                         == tech.module_energy_kwh * b.n_modules[k])
        m.module_power = pyo.Constraint(m.K, rule=lambda b, k: b.cap_power_kw[k]
                                        == tech.module_power_kw * b.n_modules[k])
        m.module_built = pyo.Constraint(m.K, rule=lambda b, k: b.n_modules[k]
                                        <= tech.max_modules * b.built[k])
    multiplier = system.shared.capex_multiplier if shared else 1.0
    m.capex_annual = pyo.Expression(expr=capex_expression(
        m, tech, multiplier, lambda k: tech.crf * tech.capex_energy_per_kwh * m.cap_energy_kwh[k]))


YEAR_VARS = ("cell_discharge_kwh", "peak_import_kw", "coincident_peak_kw")
"""First-stage variables of what couples the days (:func:`define_year_coupling`), where the
system has them."""


def bounds_year_var(year: YearContext, s: int, v: pyo.Var) -> bool:
    """Whether scenario ``s``'s rows (:func:`define_scenario_coupling`) bound the
    first-stage variable ``v`` of what couples the days from below: its own day's cell
    discharge ``cell_discharge_kwh[k,s]``, the peaks of the billing periods it
    belongs to (``year.member_of[s]``); False for any other variable."""
    name, index = v.parent_component().local_name, v.index()
    if name == "cell_discharge_kwh":
        return index[1] == s
    if name == "peak_import_kw":
        return index[1] in year.member_of[s]
    if name == "coincident_peak_kw":
        return index in year.member_of[s]
    return False


def year_needs(m: pyo.Block) -> list[tuple[pyo.Var, float]]:
    """What the solved dispatch of a scenario model ``m`` (``m.dispatch``, its first stage
    on ``m``) needs of the first-stage variables of what couples the days: each variable
    its rows bound (:func:`define_scenario_coupling`) with the least value that keeps them,
    its value less the smallest slack of its rows (the day's cell discharge, the highest
    import of the billing periods' peaks)."""
    d, need = m.dispatch, {}
    var_of = {"cell_discharge": lambda k: m.cell_discharge_kwh[k, m._year_context.scenario],
              "peak_import": lambda i, b, t: m.peak_import_kw[i, b],
              "coincident_peak": lambda b, t: m.coincident_peak_kw[b]}
    for name, var in var_of.items():
        rows = d.component(name)
        for index, row in (rows.items() if rows is not None else ()):
            v = var(*index) if isinstance(index, tuple) else var(index)
            value = float(v.value) - float(row.slack())
            need[id(v)] = (v, max(value, need.get(id(v), (v, -math.inf))[1]))
    return list(need.values())


def first_stage_vars(m: pyo.Block) -> list[pyo.Var]:
    """The first-stage variables in the order mpi-sppy's ``attach_root_node`` takes them:
    the capacities (with modular sizing the module counts and ``built``), then those of
    what couples the days (:data:`YEAR_VARS`: each scenario's day of cell discharge with a
    cycle life, the billing periods' peaks with demand charges)."""
    out = [m.cap_energy_kwh, m.cap_power_kw]
    if hasattr(m, "n_modules"):
        out += [m.n_modules, m.built]
    return out + [getattr(m, name) for name in YEAR_VARS if hasattr(m, name)]


def define_year_coupling(m: pyo.Block, system: System, arch: Architecture,
                         names: Sequence[str], year: YearContext | None) -> None:
    """The first stage of what couples the days of the year, on the first-stage block
    ``m`` (after :func:`define_first_stage`): the cells' cycle-limited annuity
    (:func:`framework.model.ageing.define_ageing`, replacing ``capex_annual``) and the
    demand charges (:func:`framework.model.demand.define_demand_charges`,
    ``demand_charge_annual``); ``year`` may be None where the system has neither. Adds

        ``first_stage_cost = capex_annual + demand_charge_annual``

    Each scenario's rows are :func:`define_scenario_coupling`.
    """
    define_ageing(m, system, year, system.shared.capex_multiplier if arch.shared else 1.0)
    define_demand_charges(m, system, names, year)
    m.first_stage_cost = pyo.Expression(expr=m.capex_annual + m.demand_charge_annual)


def define_scenario_coupling(d: pyo.Block, fs: pyo.Block, system: System,
                             year: YearContext | None, s: int) -> None:
    """The rows of scenario ``s`` (dispatch block ``d``) under the year's first stage on
    ``fs`` (:func:`define_year_coupling`): its day's cell discharge
    (:func:`framework.model.ageing.define_cell_discharge`) and its imports under the peaks
    of its billing periods (:func:`framework.model.demand.define_peak_rows`)."""
    define_cell_discharge(d, fs, system, year, s, cell_out)
    define_peak_rows(d, fs, system, year, s)


def define_dispatch(d: pyo.Block, fs: pyo.Block, system: System, data: ScenarioData,
                    arch: Architecture, names: Sequence[str]) -> None:
    """Hourly dispatch of one scenario on block ``d`` for the capacities on block ``fs``.

    Variables (kW, >= 0, per microgrid ``i`` and step ``t``): ``grid_import <= import_limit``,
    ``grid_export <= export_limit``, ``pv_used <= pv_kw * pv_pu``,
    ``wind_used <= wind_kw * wind_pu``, ``shed <= load``; with storage ``charge``,
    ``discharge`` (metered at the microgrid's connection; ``<= station_limit`` to a shared
    station); with ``p2p`` exchange ``p2p_in``, ``p2p_out``. The storage of the architecture
    adds its state of charge (:func:`define_individual_storage`, :func:`define_accounts`,
    :func:`define_pooled_station`).

    The profiles of ``data`` are numbers, or (robust models) affine Pyomo expressions of
    uncertain parameters; a limit that is an expression becomes a constraint
    (:func:`define_data_limit`) instead of a variable bound.
    """
    mgs = list(names)
    mg_of = {mg.name: mg for mg in system.microgrids}
    T = range(data.steps)
    col = {i: data.column(i) for i in mgs}
    load = {(i, t): _datum(data.load_kw[t, col[i]]) for i in mgs for t in T}
    pv_avail = {(i, t): mg_of[i].pv_kw * _datum(data.pv_pu[t, col[i]]) for i in mgs for t in T}
    wind_avail = {(i, t): mg_of[i].wind_kw * _datum(data.wind_pu[t, col[i]])
                  for i in mgs for t in T}

    d.I = pyo.Set(initialize=mgs, ordered=True)
    d.T = pyo.Set(initialize=list(T), ordered=True)
    d.grid_import_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                               bounds=lambda b, i, t: (0, _limit(mg_of[i].import_limit_kw)))
    d.grid_export_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                               bounds=lambda b, i, t: (0, _limit(mg_of[i].export_limit_kw)))
    d.pv_used_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                           bounds=lambda b, i, t: (0, _number(pv_avail[i, t])))
    d.wind_used_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                             bounds=lambda b, i, t: (0, _number(wind_avail[i, t])))
    d.shed_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                        bounds=lambda b, i, t: (0, _number(load[i, t])))
    for name, limit in (("pv_used_kw", pv_avail), ("wind_used_kw", wind_avail),
                        ("shed_kw", load)):
        define_data_limit(d, name, limit)
    if arch.storage != "none":
        station_limit = {i: (_limit(mg_of[i].station_limit_kw) if arch.shared else None)
                         for i in mgs}
        d.charge_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                              bounds=lambda b, i, t: (0, station_limit[i]))
        d.discharge_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                                 bounds=lambda b, i, t: (0, station_limit[i]))
    if arch.p2p:
        define_p2p(d, system)

    define_balance(d, load)
    tech, dt = system.storage, data.step_h
    if arch.storage == "individual":
        define_individual_storage(d, fs, tech, dt)
    elif arch.pooled:
        define_pooled_station(d, fs, tech, dt)
    elif arch.shared:
        define_accounts(d, fs, tech, dt)
    if system.planning.forbid_simultaneous and arch.storage != "none":
        define_no_simultaneous(d, system, data, pv_avail, wind_avail, load)
    define_daily_cost(d, system, data, pv_avail, wind_avail, arch)


def _datum(value: object) -> object:
    """A profile entry: a number as ``float``, an expression (robust models) as it is."""
    return float(value) if isinstance(value, Real) else value


def _number(value: object) -> float | None:
    """A variable bound from a profile entry; ``None`` for an expression."""
    return float(value) if isinstance(value, Real) else None


def define_data_limit(d: pyo.Block, name: str, limit: Mapping[tuple[str, int], object]) -> None:
    """``<name>[i,t] <= limit[i,t]`` as constraint ``<name>_limit`` where the limit is an
    expression of uncertain parameters (robust models: ``load = nominal + dev * z``); numeric
    limits are variable bounds and add nothing here."""
    keys = [key for key, value in limit.items() if not isinstance(value, Real)]
    if keys:
        var = getattr(d, name)
        setattr(d, f"{name}_limit", pyo.Constraint(
            keys, rule=lambda b, i, t: var[i, t] <= limit[i, t]))


def define_p2p(d: pyo.Block, system: System) -> None:
    """Direct exchange between microgrids: ``0 <= p2p_in[i,t], p2p_out[i,t] <= p2p_limit[i]``
    and, every ``t``, ``sum_i p2p_out[i,t] = sum_i p2p_in[i,t]`` (what one sends, others
    receive in the same step). Not bounded by the grid import and export limits."""
    limit = {mg.name: _limit(mg.p2p_limit_kw) for mg in system.microgrids}
    d.p2p_in_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                          bounds=lambda b, i, t: (0, limit[i]))
    d.p2p_out_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                           bounds=lambda b, i, t: (0, limit[i]))
    d.p2p_balance = pyo.Constraint(d.T, rule=lambda b, t: sum(
        b.p2p_out_kw[i, t] for i in b.I) == sum(b.p2p_in_kw[i, t] for i in b.I))


def define_balance(d: pyo.Block, load: Mapping[tuple[str, int], float]) -> None:
    """Power balance, every ``i, t``: ``pv_used + wind_used + grid_import - grid_export
    [+ discharge - charge] [+ p2p_in - p2p_out] + shed = load``."""
    storage, p2p = hasattr(d, "charge_kw"), hasattr(d, "p2p_in_kw")

    def rule(b: pyo.Block, i: str, t: int) -> pyo.Expression:
        supply = (b.pv_used_kw[i, t] + b.wind_used_kw[i, t] + b.grid_import_kw[i, t]
                  - b.grid_export_kw[i, t] + b.shed_kw[i, t])
        if storage:
            supply += b.discharge_kw[i, t] - b.charge_kw[i, t]
        if p2p:
            supply += b.p2p_in_kw[i, t] - b.p2p_out_kw[i, t]
        return supply == load[i, t]

    d.balance = pyo.Constraint(d.I, d.T, rule=rule)


def define_cells(d: pyo.Block, fs: pyo.Block, tech: Storage, dt: float, cell_in: Cell,
                 cell_out: Cell) -> None:
    """State of charge of the cells of every storage ``k`` over a cyclic day
    (``soc[k, -1] = soc_start_kwh[k]``, an expression that is ``soc[k, T-1]`` unless
    :func:`link_days` links the day to the one before, or
    :func:`framework.model.linked.define_linked_days` starts it at the floor), for the cells'
    flows ``cell_in``,
    ``cell_out``:

    ``soc[k,t] - soc_min * E_k = (1 - sd)^dt * (soc[k,t-1] - soc_min * E_k)
    + dt * (eta_c * cell_in[k,t] - cell_out[k,t] / eta_d)``:
    self-discharge acts on the energy above the floor ``soc_min * E_k``, so a storage left
    alone stays at its floor and every recourse problem is feasible (with shedding).
    ``soc_min * E_k <= soc[k,t] <= soc_max * E_k``, ``cell_in[k,t] <= P_k``,
    ``cell_out[k,t] <= P_k``.
    """
    keep = (1.0 - tech.self_discharge_per_h) ** dt
    last = len(d.T) - 1
    d.soc_kwh = pyo.Var(fs.K, d.T, within=pyo.NonNegativeReals)
    d.soc_start_kwh = pyo.Expression(fs.K, rule=lambda b, k: b.soc_kwh[k, last])

    def soc_rule(b: pyo.Block, k: str, t: int) -> pyo.Expression:
        prev = b.soc_start_kwh[k] if t == 0 else b.soc_kwh[k, t - 1]
        floor = tech.soc_min_frac * fs.cap_energy_kwh[k]
        return b.soc_kwh[k, t] == keep * prev + (1.0 - keep) * floor + dt * (
            tech.eta_charge * cell_in(b, k, t) - cell_out(b, k, t) / tech.eta_discharge)

    d.soc_balance = pyo.Constraint(fs.K, d.T, rule=soc_rule)
    d.soc_min = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t:
                               b.soc_kwh[k, t] >= tech.soc_min_frac * fs.cap_energy_kwh[k])
    d.soc_max = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t:
                               b.soc_kwh[k, t] <= tech.soc_max_frac * fs.cap_energy_kwh[k])
    d.charge_max = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t:
                                  cell_in(b, k, t) <= fs.cap_power_kw[k])
    d.discharge_max = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t:
                                     cell_out(b, k, t) <= fs.cap_power_kw[k])


def define_individual_storage(d: pyo.Block, fs: pyo.Block, tech: Storage, dt: float) -> None:
    """A battery per microgrid (``k = i``): its cells see the microgrid's own flows,
    ``cell_in[i,t] = charge[i,t]``, ``cell_out[i,t] = discharge[i,t]``
    (:func:`define_cells`)."""
    define_cells(d, fs, tech, dt, lambda b, k, t: b.charge_kw[k, t],
                 lambda b, k, t: b.discharge_kw[k, t])


def define_accounts(d: pyo.Block, fs: pyo.Block, tech: Storage, dt: float) -> None:
    """A shared station of energy accounts (storage sharing without energy sharing).

    Per microgrid an account ``acc[i,t] >= 0`` of usable energy above the floor, cyclic
    (``acc[i,-1] = account_start_kwh[i]``, ``acc[i,T-1]`` unless :func:`link_days` links
    the day to the one before):
    ``acc[i,t] = (1 - sd)^dt * acc[i,t-1] + dt * (eta_c * charge[i,t]
    - discharge[i,t] / eta_d)``; together ``sum_i acc[i,t] <= (soc_max - soc_min) * E``;
    ``sum_i charge[i,t] <= P``, ``sum_i discharge[i,t] <= P``. The station's state of charge
    is ``soc[t] = soc_min * E + sum_i acc[i,t]``.

    Per-account limits (a lease, :mod:`framework.lease`), where the first-stage block has
    ``account_energy_kwh[i]`` and ``account_power_kw[i]``:
    ``acc[i,t] <= (soc_max - soc_min) * e_i``, ``charge[i,t] <= q_i``,
    ``discharge[i,t] <= q_i``.
    """
    keep = (1.0 - tech.self_discharge_per_h) ** dt
    last = len(d.T) - 1
    usable = tech.soc_max_frac - tech.soc_min_frac
    d.account_kwh = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals)
    d.account_start_kwh = pyo.Expression(d.I, rule=lambda b, i: b.account_kwh[i, last])
    d.account_balance = pyo.Constraint(d.I, d.T, rule=lambda b, i, t: (
        b.account_kwh[i, t] == keep * (b.account_start_kwh[i] if t == 0
                                       else b.account_kwh[i, t - 1])
        + dt * (tech.eta_charge * b.charge_kw[i, t] - b.discharge_kw[i, t] / tech.eta_discharge)))
    d.accounts_max = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t: sum(
        b.account_kwh[i, t] for i in b.I) <= usable * fs.cap_energy_kwh[k])
    d.charge_max = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t: sum(
        b.charge_kw[i, t] for i in b.I) <= fs.cap_power_kw[k])
    d.discharge_max = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t: sum(
        b.discharge_kw[i, t] for i in b.I) <= fs.cap_power_kw[k])
    d.soc_kwh = pyo.Expression(fs.K, d.T, rule=lambda b, k, t: tech.soc_min_frac
                               * fs.cap_energy_kwh[k] + sum(b.account_kwh[i, t] for i in b.I))
    if hasattr(fs, "account_energy_kwh"):
        d.account_max = pyo.Constraint(d.I, d.T, rule=lambda b, i, t: (
            b.account_kwh[i, t] <= usable * fs.account_energy_kwh[i]))
        d.account_charge_max = pyo.Constraint(d.I, d.T, rule=lambda b, i, t: (
            b.charge_kw[i, t] <= fs.account_power_kw[i]))
        d.account_discharge_max = pyo.Constraint(d.I, d.T, rule=lambda b, i, t: (
            b.discharge_kw[i, t] <= fs.account_power_kw[i]))


def define_pooled_station(d: pyo.Block, fs: pyo.Block, tech: Storage, dt: float) -> None:
    """A pooled station: one state of charge whose cells see the net flow at the bus.

    Cell flows ``cell_charge[k,t]``, ``cell_discharge[k,t] >= 0`` with the bus balance
    ``cell_charge[k,t] - cell_discharge[k,t] = sum_i (charge[i,t] - discharge[i,t])``, so
    flows of different microgrids in the same step net out without losses or wear; the
    cells as in :func:`define_cells`.
    """
    d.cell_charge_kw = pyo.Var(fs.K, d.T, within=pyo.NonNegativeReals)
    d.cell_discharge_kw = pyo.Var(fs.K, d.T, within=pyo.NonNegativeReals)
    d.bus_balance = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t: (
        b.cell_charge_kw[k, t] - b.cell_discharge_kw[k, t]
        == sum(b.charge_kw[i, t] - b.discharge_kw[i, t] for i in b.I)))
    define_cells(d, fs, tech, dt, lambda b, k, t: b.cell_charge_kw[k, t],
                 lambda b, k, t: b.cell_discharge_kw[k, t])


def simultaneous_bound_kw(system: System, data: ScenarioData,
                          pv_avail: Mapping[tuple[str, int], object],
                          wind_avail: Mapping[tuple[str, int], object],
                          load: Mapping[tuple[str, int], object]) -> float:
    """A bound ``M`` on any storage flow (kW): ``storage.power_max_kw`` if set, else what the
    microgrids can supply or take at most, ``max(sum_i (pv + wind + import_limit),
    sum_i (load + export_limit))`` over the steps (every import and export limit set)."""
    if system.storage.power_max_kw is not None:
        return float(system.storage.power_max_kw)
    limits = [(mg.import_limit_kw, mg.export_limit_kw) for mg in system.microgrids]
    if any(a is None or b is None for a, b in limits):
        raise InputError("planning.forbid_simultaneous: needs storage.power_max_kw or "
                         "import_limit_kw and export_limit_kw of every microgrid (they bound "
                         "the storage flows exactly)")
    mg_of = {mg.name: mg for mg in system.microgrids}
    steps = range(data.steps)
    names = {i for i, _ in load}
    supply = max(sum(_upper(pv_avail[i, t]) + _upper(wind_avail[i, t])
                     + mg_of[i].import_limit_kw for i in names) for t in steps)
    sink = max(sum(_upper(load[i, t]) + mg_of[i].export_limit_kw for i in names) for t in steps)
    return max(supply, sink, 1.0)


def _upper(value: object) -> float:
    """An upper bound of a profile entry (an expression's bound over its parameters' range)."""
    if isinstance(value, Real):
        return float(value)
    _, upper = compute_bounds_on_expr(value)
    if upper is None:
        raise InputError(f"planning.forbid_simultaneous: no finite bound on {value}")
    return float(upper)


def define_no_simultaneous(d: pyo.Block, system: System, data: ScenarioData,
                           pv_avail: Mapping[tuple[str, int], object],
                           wind_avail: Mapping[tuple[str, int], object],
                           load: Mapping[tuple[str, int], object]) -> None:
    """No storage (or account) charges and discharges in the same step, exactly: a binary
    ``u[j,t]`` per pair of flows (a battery's or an account's ``charge``/``discharge``, a
    pooled station's cell flows) with ``in[j,t] <= M * u[j,t]``,
    ``out[j,t] <= M * (1 - u[j,t])`` and ``M`` from :func:`simultaneous_bound_kw`."""
    big_m = simultaneous_bound_kw(system, data, pv_avail, wind_avail, load)
    if hasattr(d, "cell_charge_kw"):
        index, flow_in, flow_out = d.cell_charge_kw.index_set(), d.cell_charge_kw, \
            d.cell_discharge_kw
    else:
        index, flow_in, flow_out = d.charge_kw.index_set(), d.charge_kw, d.discharge_kw
    d.charging = pyo.Var(index, within=pyo.Binary)
    d.only_charge = pyo.Constraint(index, rule=lambda b, j, t:
                                   flow_in[j, t] <= big_m * b.charging[j, t])
    d.only_discharge = pyo.Constraint(index, rule=lambda b, j, t:
                                      flow_out[j, t] <= big_m * (1 - b.charging[j, t]))


COST_TERMS = ("energy", "shedding", "renewables", "curtailment", "degradation", "fees", "co2")


def cell_throughput(d: pyo.Block) -> pyo.Expression:
    """``sum_{k,t} (cell_in + cell_out)`` (kW summed over steps): a pooled station's cell
    flows, else every microgrid's own charge and discharge (batteries and accounts)."""
    if hasattr(d, "cell_charge_kw"):
        return pyo.quicksum(d.cell_charge_kw[k] + d.cell_discharge_kw[k]
                            for k in d.cell_charge_kw)
    if hasattr(d, "charge_kw"):
        return pyo.quicksum(d.charge_kw[j] + d.discharge_kw[j] for j in d.charge_kw)
    return 0.0


def cell_out(d: pyo.Block, k: str, t: int) -> pyo.Expression:
    """The flow out of storage ``k``'s cells in step ``t``: a pooled station's cell
    discharge, an accounts station's ``sum_i discharge[i,t]``, a battery's own discharge."""
    if hasattr(d, "cell_discharge_kw"):
        return d.cell_discharge_kw[k, t]
    if k == STATION:
        return pyo.quicksum(d.discharge_kw[i, t] for i in d.I)
    return d.discharge_kw[k, t]


def link_days(blocks: Sequence[pyo.Block]) -> None:
    """Chronological days: the state of charge (and every account) of day ``d`` starts
    where day ``d - 1`` ended, ``soc[d, k, -1] = soc[d - 1, k, T-1]``, and the first day
    starts where the last ends (a cyclic year), instead of every day being cyclic."""
    for day, block in enumerate(blocks):
        before = blocks[day - 1]
        last = before.T.last()
        if hasattr(block, "soc_start_kwh"):
            for k in block.soc_start_kwh:
                block.soc_start_kwh[k].set_value(before.soc_kwh[k, last])
        if hasattr(block, "account_start_kwh"):
            for i in block.account_start_kwh:
                block.account_start_kwh[i].set_value(before.account_kwh[i, last])


def metered_vars(d: pyo.Block, arch: Architecture) -> list[pyo.Var]:
    """The flows metered at the microgrids' connections that pay the exchange fee: station
    ``charge``/``discharge`` (shared storage) and ``p2p_in``/``p2p_out``, every ``i, t``."""
    out: list[pyo.Var] = []
    if arch.shared:
        out += [*d.charge_kw.values(), *d.discharge_kw.values()]
    if arch.p2p:
        out += [*d.p2p_in_kw.values(), *d.p2p_out_kw.values()]
    return out


def metered_flow(d: pyo.Block, arch: Architecture) -> pyo.Expression:
    """``sum_{i,t} [station: charge + discharge] [p2p: p2p_in + p2p_out]`` (kW summed over
    steps, :func:`metered_vars`): the energy metered at the microgrids' connections."""
    flows = metered_vars(d, arch)
    return pyo.quicksum(flows) if flows else 0.0


def define_daily_cost(d: pyo.Block, system: System, data: ScenarioData,
                      pv_avail: Mapping[tuple[str, int], float],
                      wind_avail: Mapping[tuple[str, int], float], arch: Architecture) -> None:
    """Daily operating cost of the scenario, split into named terms (currency per day):

    ``sum_{i,t} dt * (price_buy[i,t] * grid_import - price_sell[i,t] * grid_export
    + voll * shed + price_pv * pv_used + price_wind * wind_used
    + curtailment_cost * (pv_avail + wind_avail - pv_used - wind_used)
    + co2_price * co2[t] * grid_import)
    + dt * degradation * cell_throughput + dt * fee * metered_flow``
    (:func:`cell_throughput`: wear on the cells; :func:`metered_flow`: the fee at each
    microgrid's connection to the station and on p2p flows; own batteries pay no fee).
    ``price_buy[i,t]``, ``price_sell[i,t]``: the microgrid's own prices, else the tariff's
    (:meth:`framework.system.System.prices`).
    """
    tariff, tech, dt = system.tariff, system.storage, data.step_h
    T = data.steps
    prices = {i: system.prices(i, T) for i in d.I}
    co2 = tariff.per_step("grid_co2_kg_per_kwh", T)
    it = [(i, t) for i in d.I for t in d.T]
    imp, exp_ = d.grid_import_kw, d.grid_export_kw
    d.curtailed_kw = pyo.Expression(d.I, d.T, rule=lambda b, i, t: (
        pv_avail[i, t] + wind_avail[i, t] - b.pv_used_kw[i, t] - b.wind_used_kw[i, t]))
    d.co2_kg = pyo.Expression(expr=dt * pyo.quicksum(co2[t] * imp[i, t] for i, t in it))
    fee = system.shared.exchange_fee_per_kwh
    terms = {
        "energy": pyo.quicksum(prices[i][0][t] * imp[i, t] - prices[i][1][t] * exp_[i, t]
                               for i, t in it),
        "shedding": tariff.voll_per_kwh * pyo.quicksum(d.shed_kw[i, t] for i, t in it),
        "renewables": pyo.quicksum(tariff.price_pv_per_kwh * d.pv_used_kw[i, t]
                                   + tariff.price_wind_per_kwh * d.wind_used_kw[i, t]
                                   for i, t in it),
        "curtailment": tariff.curtailment_cost_per_kwh * pyo.quicksum(
            d.curtailed_kw[i, t] for i, t in it),
        "degradation": tech.degradation_cost_per_kwh * cell_throughput(d),
        "fees": fee * metered_flow(d, arch) if fee else 0.0,
        "co2": tariff.co2_price_per_kg * pyo.quicksum(co2[t] * imp[i, t] for i, t in it),
    }
    d.cost = pyo.Expression(list(COST_TERMS), rule=lambda b, term: dt * terms[term])
    d.daily_cost = pyo.Expression(expr=sum(d.cost[term] for term in COST_TERMS))


def fix_capacity(m: pyo.Block, system: System,
                 capacity: Mapping[str, Mapping[str, float]]) -> None:
    """Fix the capacities of every storage on ``m`` (and, if modular, the module counts).

    ``capacity`` is ``{"cap_energy_kwh": {k: E}, "cap_power_kw": {k: P}}``.
    """
    tech = system.storage
    for k in m.K:
        energy = float(capacity["cap_energy_kwh"][k])
        m.cap_energy_kwh[k].fix(energy)
        m.cap_power_kw[k].fix(float(capacity["cap_power_kw"][k]))
        if tech.modular:
            n = round(energy / tech.module_energy_kwh)
            m.n_modules[k].fix(n)
            m.built[k].fix(int(n > 0))


def build_extensive_model(system: System, scenarios: Sequence[ScenarioData], mode: str,
                          microgrids: Sequence[str] | None = None, *,
                          chronological: bool = False,
                          linked: Sequence[int] | None = None) -> pyo.ConcreteModel:
    """Build the extensive form: one first stage and the dispatch of every scenario.

    The first stage is on the model, scenario ``k``'s dispatch on ``m.scenario[k]``; the
    objective is ``capex_annual + demand_charge_annual + days_per_year * sum_k pi_k *
    daily_cost_k``, the probability-weighted sum of :func:`build_scenario_model`'s objectives
    (given the year, :class:`~framework.model.data.YearContext`). With a cycle life the
    cells' annuity follows the year's cycles (:func:`framework.model.ageing.define_ageing`);
    demand charges price the billing periods' peaks
    (:func:`framework.model.demand.define_demand_charges`); both through
    :func:`define_year_coupling` and every scenario's :func:`define_scenario_coupling`, as in
    the model of one scenario.
    ``chronological``: the scenarios are consecutive days, the storage carried from one to
    the next (:func:`link_days`) instead of every day being cyclic. ``linked``: the
    scenarios are representative days linked through this sequence (the position of each
    historical day's scenario, in order, :func:`framework.model.data.day_sequence`), the
    storage carried between days by Kotzur's superposition
    (:func:`framework.model.linked.define_linked_days`).
    """
    if chronological and linked is not None:
        raise InputError("linked days: the days are either chronological or representative "
                         "days linked through their sequence, not both")
    arch = architecture(mode)
    names = list(microgrids) if microgrids is not None else system.names
    m = pyo.ConcreteModel(name=f"extensive form ({arch.name})")
    define_first_stage(m, system, arch.storages(names), arch.shared)
    m.scenario = pyo.Block(range(len(scenarios)))
    for k, data in enumerate(scenarios):
        define_dispatch(m.scenario[k], m, system, data, arch, names)
    blocks = [m.scenario[k] for k in range(len(scenarios))]
    if chronological:
        link_days(blocks)
    if linked is not None:
        define_linked_days(m, blocks, linked, system.storage, scenarios[0].step_h)
    year = YearContext.of(system, scenarios)
    define_year_coupling(m, system, arch, names, year)
    for k, block in enumerate(blocks):
        define_scenario_coupling(block, m, system, year, k)
    m.annual_cost = pyo.Expression(expr=m.first_stage_cost
                                   + system.planning.days_per_year
                                   * pyo.quicksum(data.probability * m.scenario[k].daily_cost
                                                  for k, data in enumerate(scenarios)))
    m.objective = pyo.Objective(expr=m.annual_cost, sense=pyo.minimize)
    return m


def build_scenario_model(system: System, data: ScenarioData, mode: str,
                         microgrids: Sequence[str] | None = None,
                         year: YearContext | None = None) -> pyo.ConcreteModel:
    """Build the two-stage model of one scenario: sizing plus that scenario's dispatch.

    Parameters
    ----------
    system : System
        Microgrids, tariff, storage technology and planning settings.
    data : ScenarioData
        Profiles and probability of the scenario.
    mode : str
        The sharing architecture (:data:`framework.architecture.ARCHITECTURES`), for example
        ``individual``, ``accounts``, ``pooled`` or ``individual+p2p``.
    microgrids : sequence of str, optional
        Restrict to these microgrids (a coalition); default all of the system.
    year : YearContext, optional
        The year of the scenario set seen from this scenario (``YearContext.of(system,
        every scenario).at(s)``, ``data`` being scenario ``s``): needed with a cycle life or
        demand charges, which couple the days. Their first stage
        (:func:`define_year_coupling`: every scenario's day of cell discharge, the
        billing periods' peaks) is then on the model, nonanticipative
        (:func:`first_stage_vars`), with this scenario's rows
        (:func:`define_scenario_coupling`); the probability-weighted sum of the scenarios'
        objectives is the extensive form's (:func:`build_extensive_model`).

    Returns
    -------
    pyomo.ConcreteModel
        Sizing variables ``cap_energy_kwh[k]``, ``cap_power_kw[k]``, ``capex_annual``,
        ``demand_charge_annual`` and ``first_stage_cost`` (their sum) on the model, the
        dispatch on ``m.dispatch``, and the objective ``first_stage_cost + days_per_year *
        daily_cost`` (annual cost of this scenario); ``m._mpisppy_probability`` is the
        scenario's probability and ``m._year_context`` the ``year`` given.

    Raises
    ------
    InputError
        With a cycle life or demand charges and no ``year`` (:func:`refuse_year_coupling`).
    """
    if year is None:
        refuse_year_coupling(system)
    elif year.scenario is None or abs(year.probabilities[year.scenario]
                                      - data.probability) > 1e-12:
        raise ValueError(f"{data.name}: the year context names scenario {year.scenario}, "
                         f"not one of probability {data.probability}")
    arch = architecture(mode)
    names = list(microgrids) if microgrids is not None else system.names
    m = pyo.ConcreteModel(name=data.name)
    define_first_stage(m, system, arch.storages(names), arch.shared)
    m.dispatch = pyo.Block()
    define_dispatch(m.dispatch, m, system, data, arch, names)
    define_year_coupling(m, system, arch, names, year)
    if year is not None:
        define_scenario_coupling(m.dispatch, m, system, year, year.scenario)
    m.annual_cost = pyo.Expression(
        expr=m.first_stage_cost + system.planning.days_per_year * m.dispatch.daily_cost)
    m.objective = pyo.Objective(expr=m.annual_cost, sense=pyo.minimize)
    m._mpisppy_probability = data.probability
    m._year_context = year
    return m


def refuse_year_coupling(system: System) -> None:
    """An :class:`InputError` when the system prices what couples the days of a year: a
    cycle life (the cells' life follows the year's cycles) or demand charges (the peak of a
    billing period spans its days), and the model of one day is built without its year.
    Every method builds it with its year: the extensive form, progressive hedging
    (:func:`framework.model.stochastic.scenario_creator`), C&CG
    (:func:`framework.robust.storage.storage_problem`) and the MMW gap (an extensive form per
    batch of drawn days); this guards a model of one day built without it."""
    methods = ("a model of one day needs its year (build_scenario_model(..., "
               "year=YearContext.of(system, every scenario).at(s))), as the extensive form, "
               "progressive hedging, C&CG and the MMW gap build it")
    if system.storage.cycle_life is not None:
        raise InputError("storage.cycle_life: the cells' life follows the cycles of the whole "
                         f"year, which couples the days; {methods}")
    if system.has_demand_charges:
        raise InputError("tariff.demand_charge_per_kw: the peak of a billing period spans its "
                         f"days, which couples them; {methods}")
