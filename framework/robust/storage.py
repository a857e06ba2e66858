"""Robust storage planning: the planning model with data-driven budget sets, by C&CG.

Every architecture with storage (``individual``, ``accounts``, ``pooled``, each also with
``+p2p``; :mod:`framework.architecture`) is planned the same way; without storage
(``none``, ``p2p``) there is no first stage and :func:`storage_problem` says so.
For scenario ``s``, microgrid ``i`` and step ``t`` one uncertain ``z[i,t] in [0, 1]`` moves
the day towards a worse one (``docs/robust.md``):

    load_kw = load_nominal + load_dev_kw * z          load_dev_kw = max(load_q(Q) - load, 0)
    pv_pu   = pv_nominal   - pv_dev_pu * z            pv_dev_pu   = max(pv - pv_q(1-Q), 0)
    wind_pu = wind_nominal - wind_dev_pu * z          wind_dev_pu = max(wind - wind_q(1-Q), 0)

with the quantiles ``Q`` (default 0.9) and ``1 - Q`` of the days the clustering put in
cluster ``s`` (the scenario file's spread), and the budget ``sum_t z[i,t] <= Gamma`` per
microgrid and scenario. The objective is

    min_x capex_annual(x) + days_per_year * sum_s pi_s max_{z in U_s} min_y daily_cost_s(x, z, y)

or, with ``single_worst_case``, ``capex_annual(x) + days_per_year * max_s max_{z in U_s} ...``
(one worst day over all scenarios: classical robust). Each scenario's model comes from the
one builder (:func:`framework.model.build_scenario_model`) with the profiles written as
expressions of ``z``, and is compiled into a block of the general engine (every component of
the dispatch, p2p flows, a pooled station's cell flows and the accounts included).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pyomo.environ as pyo
import xarray as xr

from framework.architecture import Architecture
from framework.errors import InputError
from framework.evaluate import plan_capacity
from framework.model import (
    ScenarioData,
    YearContext,
    build_scenario_model,
    check_scenarios_match,
    first_stage_vars,
    scenario_data,
)
from framework.model.build import YEAR_VARS
from framework.model.stochastic import require_storage
from framework.results import combine_modes, provenance
from framework.robust.config import CCGConfig
from framework.robust.loop import robust_value, solve_ccg, worst_case
from framework.robust.problem import RobustBlock, RobustProblem, compile_pyomo
from framework.robust.results import CCGResult
from framework.robust.sets import BudgetSet
from framework.solve.ef import solve_ef
from framework.solve.highs import SolveError, highs_version
from framework.system import System

QUANTITIES = ("load_kw", "pv_pu", "wind_pu")
HISTORY = ("iteration", "master_objective", "lower_bound", "upper_bound", "gap", "cuts",
           "exact_blocks", "master_s", "separation_s")


def deviations(scenarios: xr.Dataset, quantile: float = 0.9) -> xr.Dataset:
    """Deviations towards a worse day from the spread of each cluster.

    ``load_dev_kw = max(load_kw_quantile(Q) - load_kw, 0)``,
    ``pv_dev_pu = max(pv_pu - pv_pu_quantile(1 - Q), 0)``, and the same for wind, all
    ``(scenario, step, microgrid)``.

    Raises
    ------
    InputError
        If ``Q`` is not in [0.5, 1], or the scenario set lacks a ``*_quantile`` variable or
        the quantile ``Q`` or ``1 - Q`` (the message names the available ones).
    """
    if not (isinstance(quantile, (int, float)) and 0.5 <= quantile <= 1):
        raise InputError(f"quantile: expected a number in [0.5, 1], got {quantile!r}")
    missing = [f"{q}_quantile" for q in QUANTITIES if f"{q}_quantile" not in scenarios]
    if missing or "quantile" not in scenarios.coords:
        raise InputError(f"scenarios: no cluster spread ({', '.join(missing) or 'quantile'} "
                         "missing); generate the scenarios with quantiles")
    available = [float(q) for q in scenarios["quantile"].values]

    def at(name: str, q: float) -> xr.DataArray:
        hits = [a for a in available if abs(a - q) < 1e-9]
        if not hits:
            raise InputError(f"quantile {q:g} is not in the scenario set (available: "
                             f"{available}); choose --quantile Q with Q and 1 - Q among them, "
                             "or generate the scenarios with those quantiles")
        return scenarios[f"{name}_quantile"].sel(quantile=hits[0], drop=True)

    dims = ("scenario", "step", "microgrid")
    out = xr.Dataset({
        "load_dev_kw": (at("load_kw", quantile) - scenarios["load_kw"]).clip(min=0),
        "pv_dev_pu": (scenarios["pv_pu"] - at("pv_pu", 1 - quantile)).clip(min=0),
        "wind_dev_pu": (scenarios["wind_pu"] - at("wind_pu", 1 - quantile)).clip(min=0),
    })
    return out.transpose(*dims)


@dataclasses.dataclass(frozen=True)
class StorageLayout:
    """How the engine's vectors map back to the planning model.

    Attributes
    ----------
    microgrids : tuple of str
        The microgrids of ``z``: ``u = z[i, t]`` flattened microgrid-major.
    steps : int
    first_stage : tuple of (str, str)
        ``(variable, storage)`` of each first-stage position.
    deviations : xr.Dataset
        Of :func:`deviations`.
    """

    microgrids: tuple[str, ...]
    steps: int
    first_stage: tuple[tuple[str, str], ...]
    deviations: xr.Dataset

    def capacity(self, x: np.ndarray) -> dict[str, dict[str, float]]:
        """``{"cap_energy_kwh": {k: E}, "cap_power_kw": {k: P}}`` of a first stage ``x``."""
        out: dict[str, dict[str, float]] = {"cap_energy_kwh": {}, "cap_power_kw": {}}
        for (name, k), value in zip(self.first_stage, x):
            if name in out:
                out[name][k] = max(float(value), 0.0)
        return out

    def vector(self, capacity: dict[str, dict[str, float]], system: System) -> np.ndarray:
        """The first stage ``x`` of a capacity dict (module counts rounded if modular); NaN
        at the positions of what couples the days (:data:`framework.model.build.YEAR_VARS`:
        the days' discharge at the cells, the billing peaks), which a plan of capacities
        leaves open."""
        tech = system.storage
        values = []
        for name, k in self.first_stage:
            if name in YEAR_VARS:
                values.append(np.nan)
                continue
            energy = float(capacity["cap_energy_kwh"][k])
            modules = round(energy / tech.module_energy_kwh) if tech.modular else 0
            if name == "cap_energy_kwh":
                values.append(energy)
            elif name == "cap_power_kw":
                values.append(float(capacity["cap_power_kw"][k]))
            elif name == "n_modules":
                values.append(float(modules))
            else:
                values.append(float(modules > 0))
        return np.array(values)


@dataclasses.dataclass(frozen=True)
class DualBounds:
    """Bounds on the sensitivity of one scenario's recourse dual to each ``z[i,t]``, as a
    function of the first stage (``docs/robust.md``, "Dual bounds of the storage model").

    ``loose`` holds for every first stage. The entries of microgrid ``i`` (the slice
    ``coordinates``) may take the per-step ``tight`` bound while the power of its storage
    (first-stage position ``power``) stays below ``spare``: its import limit minus its
    worst-case load; its import limit then never binds.
    """

    loose: tuple[np.ndarray, np.ndarray]
    tight: np.ndarray | None
    limits: tuple[tuple[slice, int, float], ...]

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low, high = self.loose
        if self.tight is None:
            return low, high
        high = high.copy()
        for coordinates, power, spare in self.limits:
            if x[power] < spare:
                high[coordinates] = self.tight[coordinates]
        return low, high


def _dual_bounds(system: System, names: Sequence[str], dev: xr.Dataset, data: ScenarioData,
                 arch: Architecture, positions: Sequence[tuple[str, str]]) -> DualBounds:
    """Bounds on the sensitivity of the recourse dual to each ``z[i,t]`` (``docs/robust.md``).

    ``z[i,t]`` moves the net load of ``i`` at ``t`` by at most
    ``dev = load_dev + pv_kw * pv_dev + wind_kw * wind_dev`` kW per unit, so
    ``|dQ/dz| <= days * dt * V * dev`` with ``V`` the most a kWh at one place and step can be
    worth. For every first stage (``loose``): the dearest grid price (import or export),
    bought or stored through both efficiencies,
    ``p = max_{i,t} max(buy[i,t] + co2_price * co2_t, sell[i,t]) / (eta_c * eta_d)`` (every
    microgrid's own prices), plus the per-kWh degradation twice (into and out of the cells),
    the exchange fee at every meter a kWh may pass (two at a station, two more with p2p), and the renewable prices; the value of
    lost load takes the place of ``p`` when some microgrid's import limit is below its
    worst-case load. Per step (``tight``), for the entries of a microgrid ``i`` whose import
    limit cannot bind (it exceeds ``i``'s worst-case load plus the power of the storage
    ``i`` charges plus what it can send to others: its ``p2p_limit_kw`` with p2p, its
    ``station_limit_kw`` at a pooled bus, where its charge is not bounded by the station's
    power; :class:`DualBounds`), when importing never pays less than exporting: a kWh of
    load at ``(i, t)`` costs at most its import at ``i``'s own price
    ``buy[i,t] + co2_price * co2_t`` (:meth:`~framework.system.System.prices`), a kWh of lost
    renewable energy at most that plus the curtailment cost less its own price. The lower
    bound is 0 when the cost cannot fall as the net load rises (no curtailment cost, no
    negative price). The separation checks the bounds after every solve and widens them
    if they cut off a better worst case.
    """
    tar, tech = system.tariff, system.storage
    steps = data.steps
    co2 = tar.co2_price_per_kg * np.array(tar.per_step("grid_co2_kg_per_kwh", steps))
    own = {i: system.prices(i, steps) for i in names}
    buy_of = {i: np.array(own[i][0]) + co2 for i in names}
    buy, sell = (np.concatenate([buy_of[i] for i in names]),
                 np.concatenate([np.array(own[i][1]) for i in names]))
    mg_of = {mg.name: mg for mg in system.microgrids}
    worst_load = {i: data.load_kw[:, data.column(i)] + dev["load_dev_kw"].sel(microgrid=i).values
                  for i in names}
    spare = {i: np.inf if mg_of[i].import_limit_kw is None
             else mg_of[i].import_limit_kw - worst_load[i].max() for i in names}
    price = max(np.abs(buy).max(), np.abs(sell).max())
    if min(spare.values()) < 0:
        price = max(price, tar.voll_per_kwh)
    meters = 2 * arch.shared + 2 * arch.p2p
    value = (price / (tech.eta_charge * tech.eta_discharge)
             + 2 * tech.degradation_cost_per_kwh + meters * system.shared.exchange_fee_per_kwh
             + tar.price_pv_per_kwh + tar.price_wind_per_kwh + tar.curtailment_cost_per_kwh)
    scale = system.planning.days_per_year * data.step_h
    parts = {i: (dev["load_dev_kw"].sel(microgrid=i).values,
                 mg_of[i].pv_kw * dev["pv_dev_pu"].sel(microgrid=i).values,
                 mg_of[i].wind_kw * dev["wind_dev_pu"].sel(microgrid=i).values) for i in names}
    high = scale * value * np.concatenate([sum(parts[i]) for i in names])
    monotone = tar.curtailment_cost_per_kwh == 0 and buy.min() >= 0
    low = np.zeros_like(high) if monotone else -high
    per_step = scale * np.concatenate([
        load * b + pv * np.maximum(b + tar.curtailment_cost_per_kwh - tar.price_pv_per_kwh, 0)
        + wind * np.maximum(b + tar.curtailment_cost_per_kwh - tar.price_wind_per_kwh, 0)
        for (load, pv, wind), b in ((parts[i], buy_of[i]) for i in names)])

    def sent(i: str) -> float:
        """The most ``i`` can send to other microgrids in one step (kW)."""
        out = 0.0
        for on, limit in ((arch.p2p, mg_of[i].p2p_limit_kw),
                          (arch.pooled, mg_of[i].station_limit_kw)):
            if on:
                out += np.inf if limit is None else float(limit)
        return out

    def threshold(i: str) -> float:
        """The storage power below which ``i``'s import limit cannot bind (inf without one)."""
        return np.inf if np.isinf(spare[i]) else spare[i] - sent(i)

    storage_of = {i: k for k, group in arch.storages(names).items() for i in group}
    power = {k: p for p, (name, k) in enumerate(positions) if name == "cap_power_kw"}
    limits = tuple((slice(j * steps, (j + 1) * steps), power[storage_of[i]], threshold(i))
                   for j, i in enumerate(names))
    tight = np.minimum(per_step, high) if np.all(buy >= sell) else None
    return DualBounds((low, high), tight, limits)


def _scenario_model(system: System, data: ScenarioData, dev: xr.Dataset, mode: str,
                    names: Sequence[str], year: YearContext
                    ) -> tuple[pyo.ConcreteModel, pyo.Var]:
    """The model of one scenario by the one builder, with ``z[i, t]`` (on block
    ``m.uncertain``) in its profiles: ``nominal + deviation * z`` (``-`` for renewables);
    ``year`` (seen from this scenario) puts what couples the days (a cycle life, demand
    charges) in the first stage."""
    z_block = pyo.Block(concrete=True)
    z_block.z = pyo.Var(list(names), range(data.steps))
    profiles = {q: getattr(data, q).astype(object) for q in QUANTITIES}
    for i in names:
        c = data.column(i)
        for name, sign, dev_name in (("load_kw", 1.0, "load_dev_kw"), ("pv_pu", -1.0, "pv_dev_pu"),
                                     ("wind_pu", -1.0, "wind_dev_pu")):
            amount = dev[dev_name].sel(microgrid=i).values
            for t in np.flatnonzero(amount > 0):
                profiles[name][t, c] = (float(getattr(data, name)[t, c])
                                        + sign * float(amount[t]) * z_block.z[i, int(t)])
    model = build_scenario_model(system, dataclasses.replace(data, **profiles), mode,
                                 microgrids=names, year=year)
    model.uncertain = z_block
    return model, z_block.z


def storage_problem(system: System, scenarios: xr.Dataset, mode: str, gamma: float, *,
                    quantile: float = 0.9, single_worst_case: bool = False,
                    microgrids: Sequence[str] | None = None
                    ) -> tuple[RobustProblem, StorageLayout]:
    """The robust planning problem of one architecture as a :class:`RobustProblem`: one block
    per scenario (weight ``pi_s``, or 1 with ``single_worst_case``) with the budget set
    ``sum_t z[i,t] <= gamma`` per microgrid, and how its vectors map to the model.

    Raises
    ------
    InputError
        The architecture has no storage (no first stage: use the extensive form), the
        recourse has binaries (``planning.forbid_simultaneous``), or a bad ``gamma``.
    """
    arch = require_storage(mode, "C&CG")
    if system.planning.forbid_simultaneous:
        raise InputError("planning.forbid_simultaneous: its binaries make the recourse a "
                         "MILP, and C&CG needs a linear recourse; plan without it")
    check_scenarios_match(system, scenarios)
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not np.isfinite(
            gamma) or gamma < 0:
        raise InputError(f"gamma: the budget must be a finite number >= 0, got {gamma!r}")
    dev = deviations(scenarios, quantile)
    names = tuple(microgrids) if microgrids is not None else tuple(system.names)
    steps = scenarios.sizes["step"]
    budget = BudgetSet(len(names) * steps, float(gamma),
                       groups=tuple(tuple(range(j * steps, (j + 1) * steps))
                                    for j in range(len(names))))
    blocks, first, positions = [], None, ()
    days = [scenario_data(scenarios, k) for k in range(scenarios.sizes["scenario"])]
    year = YearContext.of(system, days)
    for k, data in enumerate(days):
        model, z = _scenario_model(system, data, dev.isel(scenario=k), mode, names,
                                   year.at(k))
        fs_vars = first_stage_vars(model)
        fs, recourse = compile_pyomo(model, fs_vars, [z], allow_unused=True)  # z of a zero
        # deviation (PV at night) has no effect but keeps the set's per-day budget shape
        if first is None:
            first = fs
            positions = tuple((v.parent_component().local_name, str(v.index()))
                              for comp in fs_vars for v in comp.values())
        blocks.append(RobustBlock(
            data.name, recourse, budget, 1.0 if single_worst_case else data.probability,
            _dual_bounds(system, names, dev.isel(scenario=k), data, arch, positions)))
    problem = RobustProblem(first, tuple(blocks), "max" if single_worst_case else "sum")
    return problem, StorageLayout(names, steps, positions, dev)


def worst_profiles(scenarios: xr.Dataset, layout: StorageLayout,
                   z: Sequence[np.ndarray]) -> xr.Dataset:
    """The scenario set with every scenario's profiles at its worst case ``z`` (one vector
    per scenario, microgrid-major); adds ``worst_z (scenario, step, microgrid)``."""
    out = scenarios.copy(deep=True)
    zz = xr.zeros_like(scenarios["load_kw"])
    names = list(layout.microgrids)
    values = np.stack([np.asarray(v).reshape(len(names), layout.steps).T for v in z])
    zz.loc[{"microgrid": names}] = values
    dev = layout.deviations
    out["load_kw"] = (scenarios["load_kw"] + dev["load_dev_kw"] * zz).transpose(
        *scenarios["load_kw"].dims)
    out["pv_pu"] = (scenarios["pv_pu"] - dev["pv_dev_pu"] * zz).clip(min=0).transpose(
        *scenarios["pv_pu"].dims)
    out["wind_pu"] = (scenarios["wind_pu"] - dev["wind_dev_pu"] * zz).clip(min=0).transpose(
        *scenarios["wind_pu"].dims)
    out["worst_z"] = zz.transpose("scenario", "step", "microgrid")
    return out


def ccg_config(config: CCGConfig | Mapping[str, Any] | None) -> CCGConfig | None:
    """A :class:`CCGConfig` from itself or from a mapping of its fields (an
    :class:`InputError` names unknown ones)."""
    if config is None or isinstance(config, CCGConfig):
        return config
    fields = [f.name for f in dataclasses.fields(CCGConfig)]
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise InputError(f"config: unknown key(s) {unknown}; valid keys: {fields}")
    return CCGConfig(**config)


def plan_ccg(system: System, scenarios: xr.Dataset, mode: str, *, gamma: float,
             quantile: float = 0.9, single_worst_case: bool = False,
             microgrids: Sequence[str] | None = None,
             config: CCGConfig | Mapping[str, Any] | None = None,
             comm: Any = None, compare_stochastic: bool = False) -> xr.Dataset:
    """Robust capacities of one architecture by C&CG, as a result in the common schema.

    Parameters
    ----------
    system, scenarios, mode, microgrids
        As for :func:`framework.solve.ef.solve_ef` (``mode``: an architecture with storage;
        ``none`` and ``p2p`` are an :class:`InputError`); the scenario set must hold the
        cluster spread (``*_quantile``).
    gamma : float
        Budget ``Gamma >= 0``: steps per microgrid and scenario that may deviate
        (``Gamma = 0``: the stochastic model; ``Gamma >= steps``: every step).
    quantile : float
        ``Q`` of the deviations (``Q`` and ``1 - Q`` must be in the scenario set).
    single_worst_case : bool
        One worst day over all scenarios instead of the expected worst case.
    config : CCGConfig or mapping, optional
        Gap, limits and separation settings; a mapping gives the fields of a
        :class:`CCGConfig` (as a study file does: ``config = { time_limit_s = 300 }``).
    comm : mpi4py communicator, optional
        Worst cases of the scenarios over MPI ranks (default ``COMM_WORLD`` under
        ``mpiexec``); every rank returns the result.
    compare_stochastic : bool
        Also the stochastic plan (extensive form, same scenarios) at its own worst cases of
        the same set (:func:`robust_cost` with ``config``'s separation gap and time limit):
        ``stochastic_worst_case_cost`` and ``stochastic_worst_case_bound`` (``mode``), the
        price-of-robustness comparison, and its time ``compare_s``.

    Returns
    -------
    xr.Dataset
        The schema of :func:`framework.results.mode_result` with the dispatch and costs of
        every scenario at its worst case (``annual_cost`` = the robust objective unless
        ``single_worst_case``), plus ``objective`` (robust objective), ``bound`` (lower
        bound), ``gap``, ``termination``, ``nominal_annual_cost`` (the plan on the nominal
        days), ``worst_load_kw``, ``worst_pv_pu``, ``worst_wind_pu``, ``worst_z``,
        ``worst_case_cost`` and ``worst_case_bound`` (``mode, scenario``: the annual recourse
        cost ``days * daily_cost`` at the worst case found, and its certified upper bound,
        ``inf`` where only the ascent searched), the iteration history
        ``ccg_<field> (mode, iteration)``, and with ``compare_stochastic`` the two
        variables above.
    """
    config = ccg_config(config)
    start = time.perf_counter()
    problem, layout = storage_problem(system, scenarios, mode, gamma, quantile=quantile,
                                      single_worst_case=single_worst_case,
                                      microgrids=microgrids)
    build_s = time.perf_counter() - start
    result = solve_ccg(problem, config, comm)
    if not np.all(np.isfinite(result.x)):
        raise SolveError(f"C&CG ended '{result.status.value}' without a first stage")
    start = time.perf_counter()
    capacity = layout.capacity(result.x)
    worst = worst_profiles(scenarios, layout, [w.u for w in result.worst_cases])
    names = list(layout.microgrids)
    ds = solve_ef(system, worst.drop_vars("worst_z"), mode, microgrids=names,
                  fixed_capacity=capacity)
    nominal = solve_ef(system, scenarios, mode, microgrids=names, fixed_capacity=capacity)
    ds = _assemble(ds, scenarios, worst, nominal, result, mode, build_s,
                   time.perf_counter() - start, system,
                   {"gamma": float(gamma), "quantile": float(quantile),
                    "single_worst_case": int(single_worst_case)})
    if compare_stochastic:
        start = time.perf_counter()
        stochastic = plan_capacity(solve_ef(system, scenarios, mode, microgrids=names), mode,
                                   names)
        compared = _robust_cost(problem, layout.vector(stochastic, system),
                                config or CCGConfig())
        for name, value in (("stochastic_worst_case_cost", compared.found),
                            ("stochastic_worst_case_bound", compared.bound)):
            ds[name] = ("mode", [value])
            ds[name].attrs["units"] = "currency/yr"
        ds["compare_s"] = ("mode", [time.perf_counter() - start])
    return ds


def _assemble(ds: xr.Dataset, scenarios: xr.Dataset, worst: xr.Dataset, nominal: xr.Dataset,
              result: CCGResult, mode: str, build_s: float, results_s: float,
              system: System, settings: dict[str, Any]) -> xr.Dataset:
    names = [str(m) for m in ds["microgrid"].values]
    sel = {"microgrid": names}
    for q in QUANTITIES:
        ds[q] = scenarios[q].sel(sel).transpose(*ds[q].dims)
        ds[f"worst_{q}"] = worst[q].sel(sel).transpose(*ds[q].dims).expand_dims(mode=[mode])
    ds["worst_z"] = worst["worst_z"].sel(sel).expand_dims(mode=[mode])
    for name, field in (("worst_case_cost", "value"), ("worst_case_bound", "bound")):
        ds[name] = (("mode", "scenario"), [[getattr(w, field) for w in result.worst_cases]])
        ds[name].attrs["units"] = "currency/yr"
    history = result.history()
    ds = ds.assign(
        objective=("mode", [result.objective]), bound=("mode", [result.lower_bound]),
        gap=("mode", [result.gap]), termination=("mode", [result.status.value]),
        iterations=("mode", [len(result.iterations)]),
        nominal_annual_cost=("mode", [float(nominal["annual_cost"].sel(mode=mode))]),
        build_s=("mode", [build_s]), compile_s=("mode", [result.setup_s]),
        solve_s=("mode", [result.total_s]), master_s=("mode", [result.master_s]),
        separation_s=("mode", [result.separation_s]), results_s=("mode", [results_s]),
        **{f"ccg_{name}": (("mode", "iteration"), history[name][None, :])
           for name in HISTORY if name != "iteration"})
    ds = ds.assign_coords(iteration=history["iteration"])
    ds.attrs = provenance(system, scenarios, "ccg", solver=highs_version(),
                          ccg_status=result.status.value, **settings)
    return ds


def ccg_summary(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Termination, bounds, gap and iterations per mode of a C&CG result (for ``--json``),
    with the days that hold the certified gap: ``gap_by_day`` maps each scenario to its
    share of ``sum_s pi_s (worst_case_bound - worst_case_cost)`` (largest first; empty when
    that sum is 0, and ``inf`` shares where a day has no certified bound)."""
    out = {}
    for mode in ds["mode"].values:
        r = ds.sel(mode=mode)
        weights = 1.0 if int(ds.attrs.get("single_worst_case", 0)) else r["probability"]
        held = {str(k): float(v) for k, v in (
            weights * (r["worst_case_bound"] - r["worst_case_cost"])).to_series().items()}
        total = sum(held.values())
        if not np.isfinite(total):
            shares = {k: np.inf if not np.isfinite(v) else 0.0 for k, v in held.items()}
        else:
            shares = {k: v / total for k, v in held.items()} if total > 0 else {}
        shares = dict(sorted(shares.items(), key=lambda kv: -kv[1]))
        out[str(mode)] = {"termination": str(r["termination"].item()),
                          "iterations": int(r["iterations"]),
                          "objective": float(r["objective"]), "lower_bound": float(r["bound"]),
                          "gap": float(r["gap"]), "solve_s": float(r["solve_s"]),
                          "gap_by_day": shares}
    return out


def ccg_report(ds: xr.Dataset) -> str:
    """One line per mode: termination, bounds and gap of a C&CG result, and the days that
    hold at least 10 % of an open gap."""
    lines = []
    for mode, row in ccg_summary(ds).items():
        line = (f"C&CG {mode}: {row['termination']} after {row['iterations']} iterations "
                f"({row['solve_s']:.1f} s), robust objective {row['objective']:,.2f}, lower "
                f"bound {row['lower_bound']:,.2f}, certified gap {row['gap']:.3%}")
        days = [f"scenario {day} ({share:.0%})" if np.isfinite(share)
                else f"scenario {day} (no bound)"
                for day, share in row["gap_by_day"].items() if share >= 0.1]
        if row["termination"] != "optimal" and days:
            line += "; the gap is held by " + ", ".join(days)
        lines.append(line)
    return "\n".join(lines)


def plan_robust(system: System, scenarios: xr.Dataset,
                modes: Sequence[str] = ("individual", "accounts"), **kwargs: Any) -> xr.Dataset:
    """:func:`plan_ccg` for each architecture, side by side (see
    :func:`framework.results.combine_modes`)."""
    return combine_modes([plan_ccg(system, scenarios, mode, **kwargs) for mode in modes])


class RobustCost(NamedTuple):
    """The robust objective of given capacities (currency/yr): ``found`` at the worst cases
    the separations found (a lower bound of the true value), ``bound`` its certified upper
    bound (the separation MILPs' dual bounds); they agree when every separation was solved
    to its gap."""

    found: float
    bound: float


def robust_cost(system: System, scenarios: xr.Dataset, mode: str,
                capacity: dict[str, dict[str, float]], *, gamma: float, quantile: float = 0.9,
                single_worst_case: bool = False, microgrids: Sequence[str] | None = None,
                config: CCGConfig | None = None) -> RobustCost:
    """The robust objective of given capacities: ``capex + days * sum_s pi_s max_z cost_s``
    (or the single worst case), each worst case searched exactly (to ``config``'s gap and
    time limit; by default to a relative gap of 1e-9 without a limit). With a cycle life or
    demand charges the days' discharge and the billing peaks are decided for these
    capacities (C&CG over them alone, :func:`_robust_cost`)."""
    problem, layout = storage_problem(system, scenarios, mode, gamma, quantile=quantile,
                                      single_worst_case=single_worst_case,
                                      microgrids=microgrids)
    return _robust_cost(problem, layout.vector(capacity, system), config)


def _robust_cost(problem: RobustProblem, x: np.ndarray, config: CCGConfig | None) -> RobustCost:
    """The robust objective of the first stage ``x``. Where ``x`` is NaN (what couples the
    days, left open by a plan of capacities: :meth:`StorageLayout.vector`) those positions
    are decided as well: C&CG with the other positions fixed, its lower and upper bound
    (to a relative gap of 1e-9 by default)."""
    x = np.asarray(x, dtype=float)
    open_ = np.isnan(x)
    if not open_.any():
        bound, cases = worst_case(problem, x, config)
        return RobustCost(robust_value(problem, x, [w.value for w in cases]), bound)
    first = problem.first_stage
    fixed = dataclasses.replace(first, lower=np.where(open_, first.lower, x),
                                upper=np.where(open_, first.upper, x))
    result = solve_ccg(dataclasses.replace(problem, first_stage=fixed),
                       config or CCGConfig(rel_gap=1e-9))
    return RobustCost(result.lower_bound, result.objective)
