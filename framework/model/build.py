"""The one model builder: first-stage storage sizing and the dispatch of one scenario.

Every solution method (extensive form, progressive hedging, C&CG, evaluation of a fixed
plan, coalition values) builds its models here. The equations are stated in
``docs/formulation.md`` with the same symbols; each ``define_*`` function below carries the
equation it adds. Indices: microgrid ``i``, step ``t``, storage ``k`` (a microgrid's own
battery in ``individual`` mode, the ``station`` in ``shared`` mode).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real

import pyomo.environ as pyo

from framework.model.data import ScenarioData, storage_members
from framework.system import System

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
    fixed = {k: 0.0 for k in m.K}
    if tech.modular:
        m.n_modules = pyo.Var(m.K, within=pyo.NonNegativeIntegers, bounds=(0, tech.max_modules))
        m.built = pyo.Var(m.K, within=pyo.Binary)
        m.module_energy = pyo.Constraint(m.K, rule=lambda b, k: b.cap_energy_kwh[k]
                                         == tech.module_energy_kwh * b.n_modules[k])
        m.module_power = pyo.Constraint(m.K, rule=lambda b, k: b.cap_power_kw[k]
                                        == tech.module_power_kw * b.n_modules[k])
        m.module_built = pyo.Constraint(m.K, rule=lambda b, k: b.n_modules[k]
                                        <= tech.max_modules * b.built[k])
        fixed = {k: tech.fixed_cost * m.built[k] for k in m.K}
    multiplier = system.shared.capex_multiplier if shared else 1.0
    m.capex_annual = pyo.Expression(expr=tech.annual_factor * multiplier * sum(
        (tech.capex_energy_per_kwh * m.cap_energy_kwh[k]
                         + tech.capex_power_per_kw * m.cap_power_kw[k] + fixed[k])
        for k in m.K))


def first_stage_vars(m: pyo.Block) -> list[pyo.Var]:
    """The first-stage variables in the order mpi-sppy's ``attach_root_node`` takes them."""
    out = [m.cap_energy_kwh, m.cap_power_kw]
    if hasattr(m, "n_modules"):
        out += [m.n_modules, m.built]
    return out


def define_dispatch(d: pyo.Block, fs: pyo.Block, system: System, data: ScenarioData,
                    members: Mapping[str, Sequence[str]], shared: bool) -> None:
    """Hourly dispatch of one scenario on block ``d`` for the capacities on block ``fs``.

    Variables (kW, >= 0, per microgrid ``i`` and step ``t``): ``grid_import <= import_limit``,
    ``grid_export <= export_limit``, ``pv_used <= pv_kw * pv_pu``,
    ``wind_used <= wind_kw * wind_pu``, ``shed <= load``, ``charge``, ``discharge``
    (``<= station_limit`` in shared mode); ``soc_kwh[k, t]`` per storage.

    The profiles of ``data`` are numbers, or (robust models) affine Pyomo expressions of
    uncertain parameters; a limit that is an expression becomes a constraint
    (:func:`define_data_limit`) instead of a variable bound.
    """
    mgs = members_union(members)
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
    station_limit = {i: (_limit(mg_of[i].station_limit_kw) if shared else None) for i in mgs}
    d.charge_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                          bounds=lambda b, i, t: (0, station_limit[i]))
    d.discharge_kw = pyo.Var(d.I, d.T, within=pyo.NonNegativeReals,
                             bounds=lambda b, i, t: (0, station_limit[i]))
    d.soc_kwh = pyo.Var(fs.K, d.T, within=pyo.NonNegativeReals)

    define_balance(d, load)
    define_storage(d, fs, system, data, members)
    define_daily_cost(d, system, data, pv_avail, wind_avail, shared)


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


def members_union(members: Mapping[str, Sequence[str]]) -> list[str]:
    """All microgrids served by the storages, in order of first appearance."""
    out: list[str] = []
    for served in members.values():
        out += [i for i in served if i not in out]
    return out


def define_balance(d: pyo.Block, load: Mapping[tuple[str, int], float]) -> None:
    """Power balance, every ``i, t``:
    ``pv_used + wind_used + grid_import - grid_export + discharge - charge + shed = load``.
    """
    d.balance = pyo.Constraint(d.I, d.T, rule=lambda b, i, t: (
        b.pv_used_kw[i, t] + b.wind_used_kw[i, t] + b.grid_import_kw[i, t]
        - b.grid_export_kw[i, t] + b.discharge_kw[i, t] - b.charge_kw[i, t] + b.shed_kw[i, t]
        == load[i, t]))


def define_storage(d: pyo.Block, fs: pyo.Block, system: System, data: ScenarioData,
                   members: Mapping[str, Sequence[str]]) -> None:
    """State of charge of every storage ``k`` over a cyclic day (``soc[k, -1] = soc[k, T-1]``):

    ``soc[k,t] - soc_min * E_k = (1 - sd)^dt * (soc[k,t-1] - soc_min * E_k)
    + dt * (eta_c * sum_{i in k} charge[i,t] - sum_{i in k} discharge[i,t] / eta_d)``:
    self-discharge acts on the energy above the floor ``soc_min * E_k``, so a storage left
    alone stays at its floor and every recourse problem is feasible (with shedding).
    ``soc_min * E_k <= soc[k,t] <= soc_max * E_k``,
    ``sum_{i in k} charge[i,t] <= P_k`` and ``sum_{i in k} discharge[i,t] <= P_k``.
    """
    tech = system.storage
    dt = data.step_h
    keep = (1.0 - tech.self_discharge_per_h) ** dt
    last = data.steps - 1

    def soc_rule(b: pyo.Block, k: str, t: int) -> pyo.Expression:
        prev = b.soc_kwh[k, last if t == 0 else t - 1]
        floor = tech.soc_min_frac * fs.cap_energy_kwh[k]
        return b.soc_kwh[k, t] == keep * prev + (1.0 - keep) * floor + dt * (
            tech.eta_charge * sum(b.charge_kw[i, t] for i in members[k])
            - sum(b.discharge_kw[i, t] for i in members[k]) / tech.eta_discharge)

    d.soc_balance = pyo.Constraint(fs.K, d.T, rule=soc_rule)
    d.soc_min = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t:
                               b.soc_kwh[k, t] >= tech.soc_min_frac * fs.cap_energy_kwh[k])
    d.soc_max = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t:
                               b.soc_kwh[k, t] <= tech.soc_max_frac * fs.cap_energy_kwh[k])
    d.charge_max = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t:
                                  sum(b.charge_kw[i, t] for i in members[k])
                                  <= fs.cap_power_kw[k])
    d.discharge_max = pyo.Constraint(fs.K, d.T, rule=lambda b, k, t:
                                     sum(b.discharge_kw[i, t] for i in members[k])
                                     <= fs.cap_power_kw[k])


COST_TERMS = ("energy", "shedding", "renewables", "curtailment", "degradation", "fees", "co2")


def define_daily_cost(d: pyo.Block, system: System, data: ScenarioData,
                      pv_avail: Mapping[tuple[str, int], float],
                      wind_avail: Mapping[tuple[str, int], float], shared: bool) -> None:
    """Daily operating cost of the scenario, split into named terms (currency per day):

    ``sum_{i,t} dt * (price_buy[t] * grid_import - price_sell[t] * grid_export
    + voll * shed + price_pv * pv_used + price_wind * wind_used
    + curtailment_cost * (pv_avail + wind_avail - pv_used - wind_used)
    + degradation * (charge + discharge) + [shared] fee * (charge + discharge)
    + co2_price * co2[t] * grid_import)``.
    """
    tariff, tech, dt = system.tariff, system.storage, data.step_h
    T = data.steps
    buy = tariff.per_step("price_buy_per_kwh", T)
    sell = tariff.per_step("price_sell_per_kwh", T)
    co2 = tariff.per_step("grid_co2_kg_per_kwh", T)
    fee = system.shared.exchange_fee_per_kwh if shared else 0.0
    it = [(i, t) for i in d.I for t in d.T]
    imp, exp_, chg, dis = d.grid_import_kw, d.grid_export_kw, d.charge_kw, d.discharge_kw
    d.curtailed_kw = pyo.Expression(d.I, d.T, rule=lambda b, i, t: (
        pv_avail[i, t] + wind_avail[i, t] - b.pv_used_kw[i, t] - b.wind_used_kw[i, t]))
    d.co2_kg = pyo.Expression(expr=dt * pyo.quicksum(co2[t] * imp[i, t] for i, t in it))
    throughput = pyo.quicksum(chg[i, t] + dis[i, t] for i, t in it)
    terms = {
        "energy": pyo.quicksum(buy[t] * imp[i, t] - sell[t] * exp_[i, t] for i, t in it),
        "shedding": tariff.voll_per_kwh * pyo.quicksum(d.shed_kw[i, t] for i, t in it),
        "renewables": pyo.quicksum(tariff.price_pv_per_kwh * d.pv_used_kw[i, t]
                                   + tariff.price_wind_per_kwh * d.wind_used_kw[i, t]
                                   for i, t in it),
        "curtailment": tariff.curtailment_cost_per_kwh * pyo.quicksum(
            d.curtailed_kw[i, t] for i, t in it),
        "degradation": tech.degradation_cost_per_kwh * throughput,
        "fees": fee * throughput,
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
                          microgrids: Sequence[str] | None = None) -> pyo.ConcreteModel:
    """Build the extensive form: one first stage and the dispatch of every scenario.

    The first stage is on the model, scenario ``k``'s dispatch on ``m.scenario[k]``; the
    objective is ``capex_annual + days_per_year * sum_k pi_k * daily_cost_k``, the same as the
    probability-weighted sum of :func:`build_scenario_model`'s objectives.
    """
    names = list(microgrids) if microgrids is not None else system.names
    members = storage_members(mode, names)
    shared = mode == "shared"
    m = pyo.ConcreteModel(name=f"extensive form ({mode})")
    define_first_stage(m, system, members, shared)
    m.scenario = pyo.Block(range(len(scenarios)))
    for k, data in enumerate(scenarios):
        define_dispatch(m.scenario[k], m, system, data, members, shared)
    m.annual_cost = pyo.Expression(expr=m.capex_annual + system.planning.days_per_year
                                   * pyo.quicksum(data.probability * m.scenario[k].daily_cost
                                                  for k, data in enumerate(scenarios)))
    m.objective = pyo.Objective(expr=m.annual_cost, sense=pyo.minimize)
    return m


def build_scenario_model(system: System, data: ScenarioData, mode: str,
                         microgrids: Sequence[str] | None = None) -> pyo.ConcreteModel:
    """Build the two-stage model of one scenario: sizing plus that scenario's dispatch.

    Parameters
    ----------
    system : System
        Microgrids, tariff, storage technology and planning settings.
    data : ScenarioData
        Profiles and probability of the scenario.
    mode : {"individual", "shared"}
        Each microgrid its own storage, or one station for all.
    microgrids : sequence of str, optional
        Restrict to these microgrids (a coalition); default all of the system.

    Returns
    -------
    pyomo.ConcreteModel
        Sizing variables ``cap_energy_kwh[k]``, ``cap_power_kw[k]`` and ``capex_annual`` on
        the model, the dispatch on ``m.dispatch``, and the objective
        ``capex_annual + days_per_year * daily_cost`` (annual cost of this scenario);
        ``m._mpisppy_probability`` is the scenario's probability.
    """
    names = list(microgrids) if microgrids is not None else system.names
    members = storage_members(mode, names)
    m = pyo.ConcreteModel(name=data.name)
    shared = mode == "shared"
    define_first_stage(m, system, members, shared)
    m.dispatch = pyo.Block()
    define_dispatch(m.dispatch, m, system, data, members, shared)
    m.annual_cost = pyo.Expression(
        expr=m.capex_annual + system.planning.days_per_year * m.dispatch.daily_cost)
    m.objective = pyo.Objective(expr=m.annual_cost, sense=pyo.minimize)
    m._mpisppy_probability = data.probability
    return m
