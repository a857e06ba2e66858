"""What a study case computes: a plan (by a named method) with its evaluation, an
allocation, or a lease sweep; and the summary rows of its result.

Plans go through one dispatch table, :data:`PLANNERS`: a method name maps to a function
``f(system, scenarios, modes=[...], **options) -> xr.Dataset`` in the common result schema
(:mod:`framework.results`), imported when a study uses it.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from framework.errors import InputError
from framework.model import storage_members
from framework.study.config import Case
from framework.system import System

log = logging.getLogger(__name__)

PLANNERS: dict[str, tuple[str, str]] = {
    "ef": ("framework.solve.ef", "plan_ef"),
    "ph": ("framework.solve.ph", "plan_ph"),
    "ccg": ("framework.robust.storage", "plan_robust"),
}
"""Method name -> (module, function) of the planner."""

TASK_OPTIONS: dict[str, tuple[str, ...]] = {
    "allocate": ("rules", "method", "n_permutations", "seed", "confidence", "tolerance",
                 "rel_tolerance", "stratified", "time_limit_s", "generation_time_limit_s"),
    "lease": ("method", "energy_prices", "power_prices", "grid", "coarse", "starts", "full",
              "mip_rel_gap", "time_limit_s"),
}
LEASE_BASELINE_OPTIONS = ("energy_prices", "power_prices", "grid")
"""Options of the former partition sweep (``method = "baseline"``) alone."""
LEASE_METHODS = ("search", "exact", "both", "baseline")
COST_COLUMNS = ("energy", "renewables", "curtailment", "degradation", "fees", "shedding", "co2")
KPI_COLUMNS = ("self_sufficiency", "curtailment_share", "peak_import_kw", "co2_t_per_yr",
               "shed_kwh_per_yr", "exchanged_kwh_per_yr")
PER_MODE = ("termination", "objective", "bound", "gap", "iterations", "nominal_annual_cost",
            "stochastic_worst_case_cost", "stochastic_worst_case_bound",
            "solve_s", "oos_annual_cost", "oos_annual_cost_std", "oos_shed_kwh_per_yr",
            "oos_shed_day_share", "oos_self_sufficiency", "rp_cost", "ev_cost", "eev_cost",
            "ws_cost", "vss", "evpi", "mmw_gap", "mmw_gap_std", "mmw_ci_high",
            "chronological_annual_cost", "chronology_gap", "planning_gap", "warnings")


def planner_for(method: str, where: str = "method") -> Callable[..., xr.Dataset]:
    """The planning function of ``method``; an :class:`InputError` if it is unknown or its
    module is not available in this installation."""
    if method not in PLANNERS:
        raise InputError(f"{where}: expected one of {sorted(PLANNERS)}, got {method!r}")
    module_name, name = PLANNERS[method]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise InputError(f"{where}: method {method!r} is not available: {module_name} cannot "
                         f"be imported ({err})") from None
    function = getattr(module, name, None)
    if function is None:
        raise InputError(f"{where}: method {method!r} is not available: {module_name} has no "
                         f"{name}()")
    return function


def _check_options(function: Callable[..., Any], options: Mapping[str, Any],
                   fixed: tuple[str, ...], where: str) -> None:
    """Options must be keyword parameters of ``function`` (unless it takes ``**kwargs``)."""
    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [n for n, p in params.items() if n not in fixed and p.kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InputError(f"{where}: options: unknown key(s) {unknown}; valid keys: {valid}")


def check_case(case: Case) -> None:
    """Everything that can be checked before solving: the method is available, the options
    fit it, the system loads, the evaluation fits the scenario settings, the fixed
    capacities name storages of the case's architectures."""
    system = case.load_system()
    if case.task == "plan":
        if case.fixed_capacity is not None:
            if case.method != "ef" or case.options.keys() - {"time_limit_s", "mip_rel_gap"}:
                raise InputError(f"{case.where}: fixed_capacity is evaluated by method 'ef' "
                                 "with options time_limit_s, mip_rel_gap only")
            for mode in case.modes(system):
                fixed_plan(case, system, mode)
        else:
            planner = planner_for(case.method, f"{case.where}: method")
            if case.method == "ef":
                from framework.solve.ef import solve_ef

                _check_options(solve_ef, case.options,
                               ("system", "scenarios", "mode", "microgrids", "fixed_capacity"),
                               case.where)
            elif case.method == "ccg":
                from framework.robust.storage import plan_ccg

                _check_options(plan_ccg, case.options,
                               ("system", "scenarios", "mode", "microgrids", "comm"), case.where)
            else:
                _check_options(planner, case.options, ("system", "scenarios", "modes"),
                               case.where)
        if case.evaluate.out_of_sample == "held_out" and not case.scenarios.sample_days:
            raise InputError(f"{case.where}: evaluate.out_of_sample = 'held_out' needs "
                             "scenarios.sample_days > 0")
    else:
        _known_options(case, TASK_OPTIONS[case.task])
        if case.task == "lease":
            lease_options(case.options, case.where)
        if (case.evaluate != type(case.evaluate)() or case.fixed_capacity is not None
                or case.mode is not None):
            raise InputError(f"{case.where}: mode, evaluate and fixed_capacity apply to task "
                             f"'plan' only (task is {case.task!r}; it shares the station of "
                             "the system's [planning] choices)")


def _known_options(case: Case, valid: tuple[str, ...]) -> None:
    unknown = sorted(set(case.options) - set(valid))
    if unknown:
        raise InputError(f"{case.where}: options: unknown key(s) {unknown}; valid keys: "
                         f"{list(valid)}")


def case_scenarios(system: System, case: Case) -> tuple[xr.Dataset, xr.Dataset | None,
                                                       xr.Dataset | None]:
    """The planning scenarios, every day of the history (when an evaluation needs it) and
    the held-out days (for ``sample_days``)."""
    from framework.evaluate import sample_days
    from scenarios_gen.pipeline import scenarios_for

    s = case.scenarios
    needs_days = (s.sample_days > 0 or case.evaluate.out_of_sample != "none"
                  or case.evaluate.mmw is not None or case.evaluate.chronological)
    days = scenarios_for(system, all_days=True) if needs_days or s.all_days else None
    if s.all_days:
        return days, days, None
    if s.sample_days:
        sample, held_out = sample_days(days, s.sample_days, s.seed)
        return sample, days, held_out
    planning = scenarios_for(system, n_clusters=s.clusters, method=s.method,
                             extreme_days=s.extreme_days, seed=s.seed)
    return planning, days, None


def fixed_plan(case: Case, system: System, mode: str) -> dict[str, dict[str, float]]:
    """``fixed_capacity`` of the case for every storage of the architecture ``mode`` (none
    for ``none`` and ``p2p``); a table naming a storage that no architecture of the case
    has is an error."""
    storages = storage_members(mode, system.names)
    known = {k for m in case.modes(system) for k in storage_members(m, system.names)}
    out: dict[str, dict[str, float]] = {"cap_energy_kwh": {}, "cap_power_kw": {}}
    for key, name in (("energy_kwh", "cap_energy_kwh"), ("power_kw", "cap_power_kw")):
        value = case.fixed_capacity[key]
        unknown = sorted(set(value) - known) if isinstance(value, Mapping) else []
        if unknown:
            raise InputError(f"{case.where}: fixed_capacity.{key}: no storage {unknown} in "
                             f"architectures {case.modes(system)} (storages: {sorted(known)})")
        for k in storages:
            v = value.get(k) if isinstance(value, Mapping) else value
            if v is None:
                raise InputError(f"{case.where}: fixed_capacity.{key}: no value for storage "
                                 f"{k!r}")
            out[name][k] = float(v)
    return out


def run_plan(case: Case, system: System) -> xr.Dataset:
    """Plan (or evaluate fixed capacities), then the evaluations the case asks for."""
    from framework.evaluate import optimality_gap_ci, out_of_sample, vss_evpi
    from framework.results import combine_modes
    from framework.solve.ef import solve_ef

    scenarios, days, held_out = case_scenarios(system, case)
    modes = case.modes(system)
    if case.fixed_capacity is not None:
        ds = combine_modes([solve_ef(system, scenarios, mode,
                                     fixed_capacity=fixed_plan(case, system, mode),
                                     **case.options) for mode in modes])
    else:
        planner = planner_for(case.method, f"{case.where}: method")
        ds = planner(system, scenarios, modes=modes, **case.options)
    attrs = dict(ds.attrs)
    parts = [ds]
    ev = case.evaluate
    if ev.out_of_sample != "none":
        oos = out_of_sample(system, ds, held_out if ev.out_of_sample == "held_out" else days)
        attrs.update(oos.attrs)
        parts.append(oos)
    if ev.vss_evpi:
        stochastic = case.method == "ef" and case.fixed_capacity is None
        parts.append(vss_evpi(system, scenarios, modes,
                              recourse_problem=ds if stochastic else None))
    if ev.mmw is not None:
        mmw = optimality_gap_ci(system, ds, days, batch_size=ev.mmw.batch_size,
                                batches=ev.mmw.batches, seed=ev.mmw.seed,
                                confidence=ev.mmw.confidence)
        attrs.update(mmw.attrs)
        parts.append(mmw)
    if ev.chronological:
        from framework.chronological import CHRONOLOGY, evaluate_chronological

        chrono = evaluate_chronological(system, days, ds, modes)
        parts.append(chrono[list(CHRONOLOGY)])
    out = xr.merge(parts, combine_attrs="drop_conflicts", join="outer")
    out.attrs = attrs
    return out


def run_case(case: Case) -> xr.Dataset:
    """Compute one case; the result dataset of its task."""
    system = case.load_system()
    if case.task == "plan":
        return run_plan(case, system)
    scenarios, _, _ = case_scenarios(system, case)
    if case.task == "allocate":
        from framework.game import RULES, allocate

        options = dict(case.options)
        rules = options.pop("rules", list(RULES))
        return allocate(system, scenarios, rules, **options)
    return run_lease(system, scenarios, dict(case.options), case.where)


def lease_options(options: Mapping[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """The lease case's method (``search``, ``exact``, ``both``: the leader-follower game;
    ``baseline``: the former partition sweep; default ``search``) and the options it takes;
    another method's options are an :class:`InputError`."""
    options = dict(options)
    method = options.pop("method", "search")
    if method not in LEASE_METHODS:
        raise InputError(f"{where}: options: method: expected one of {list(LEASE_METHODS)}, "
                         f"got {method!r}")
    if method == "baseline":
        wrong = sorted(set(options) - {*LEASE_BASELINE_OPTIONS, "time_limit_s"})
        if wrong:
            raise InputError(f"{where}: options: {wrong[0]!r} is not an option of the "
                             f"baseline sweep (method = \"baseline\"), which takes "
                             f"{', '.join(LEASE_BASELINE_OPTIONS)}, time_limit_s")
    else:
        wrong = sorted(set(options) & set(LEASE_BASELINE_OPTIONS))
        if wrong:
            raise InputError(f"{where}: options: {wrong[0]!r} is an option of the baseline "
                             f"sweep only; the game (method = {method!r}) searches the "
                             "prices itself")
    return method, options


def run_lease(system: System, scenarios: xr.Dataset, options: Mapping[str, Any],
              where: str = "lease case") -> xr.Dataset:
    """The lease case: the leader-follower game (:func:`framework.lease.lease_game`) or,
    with ``method = "baseline"``, the former partition sweep
    (:func:`framework.lease.lease_sweep`); see :func:`lease_options`."""
    from framework.lease import lease_game, lease_sweep

    method, kwargs = lease_options(options, where)
    if method == "baseline":
        return lease_sweep(system, scenarios, **kwargs)
    return lease_game(system, scenarios, method=method, **kwargs)


def _float(x: Any) -> float:
    return float(np.asarray(x).squeeze())


def plan_rows(ds: xr.Dataset) -> list[dict[str, Any]]:
    """One summary row per architecture (``mode``) of a plan result; the saving of sharing
    (:func:`framework.results.combine_modes`) with the station it is measured against and
    what it is made of."""
    rows = []
    for mode in ds["mode"].values:
        r = ds.sel(mode=mode)
        energy = r["cap_energy_kwh"].values
        row: dict[str, Any] = {
            "mode": str(mode), "annual_cost": _float(r["annual_cost"]),
            "capex": _float(r["capex_annual"]),
            **{term: _float(r["annual_operating_cost"].sel(cost_term=term))
               for term in COST_COLUMNS if term in r["cost_term"].values},
            "energy_kwh": float(energy.sum()), "power_kw": float(r["cap_power_kw"].sum()),
            "storages": int((energy > 1e-6).sum()),
            "cycles_per_yr": (float((r["equivalent_full_cycles_per_yr"].values * energy).sum()
                                    / energy.sum()) if energy.sum() > 1e-9 else 0.0),
            **{k: _float(r[k]) for k in KPI_COLUMNS},
            "n_scenarios": int(ds.sizes["scenario"]),
        }
        if "saving_of_sharing_per_yr" in ds.attrs:
            saving = float(ds.attrs["saving_of_sharing_per_yr"])
            row["saving_of_sharing_per_yr"] = saving
            row["saving_share"] = saving / _float(ds["annual_cost"].sel(mode="individual"))
            row["saving_of_sharing_versus"] = str(ds.attrs["saving_of_sharing_versus"])
            row["saving_of_sharing_from"] = str(ds.attrs["saving_of_sharing_from"])
        for name in PER_MODE:
            if name in r:
                value = r[name].values
                row[name] = str(value) if value.dtype.kind in "OUS" else float(value)
        if "oos_annual_cost_quantile" in r:
            for q, v in zip(r["cost_quantile"].values, r["oos_annual_cost_quantile"].values):
                row[f"oos_annual_cost_q{round(100 * float(q)):02d}"] = float(v)
        rows.append(row)
    return rows


def allocation_rows(ds: xr.Dataset) -> list[dict[str, Any]]:
    """One summary row per allocation rule (``mode``: the architecture the coalitions
    share)."""
    rows = []
    shared = {k: str(ds.attrs[a]) for k, a in (("mode", "architecture"),
                                                ("saving_of_sharing_from",
                                                 "saving_of_sharing_from")) if a in ds.attrs}
    for rule in ds["rule"].values:
        r = ds.sel(rule=rule)
        rows.append({
            "rule": str(rule), **shared, "saving_of_sharing_per_yr": float(ds.attrs[
                "saving_of_sharing_per_yr"]),
            "allocation_method": str(ds.attrs.get("allocation_method", "enumeration")),
            "in_core": int(r["in_core"]), "individually_rational": int(
                r["individually_rational"]), "max_excess": float(r["max_excess"]),
            **{f"saving_{p}": float(v) for p, v in zip(ds["microgrid"].values,
                                                        r["saving"].values)},
            **{f"cost_share_{p}": float(v) for p, v in zip(ds["microgrid"].values,
                                                            r["allocation"].values)}})
    return rows


def lease_rows(ds: xr.Dataset) -> list[dict[str, Any]]:
    """One summary row: the chosen lease prices (the game's equilibrium, or the baseline
    sweep's choice)."""
    if "game_method" in ds.attrs:
        row = {"lease_method": str(ds.attrs["game_method"]),
               "lease_participants": int(ds["participates"].sum())}
        for key in ("energy_price", "power_price", "profit", "margin", "station_energy_kwh",
                    "station_power_kw", "station_life_yr", "efficiency_loss"):
            row[f"lease_{key}"] = float(ds[key])
        return [row]
    row: dict[str, Any] = {"n_price_pairs": int(ds["feasible"].size),
                           "n_feasible": int(ds["feasible"].sum())}
    for key in ("energy_price", "power_price", "profit", "rent", "station_energy_kwh",
                "station_power_kw", "total_saving"):
        row[f"lease_{key}"] = float(ds.attrs[f"chosen_{key}"])
    return [row]


def result_rows(task: str, ds: xr.Dataset) -> list[dict[str, Any]]:
    """The summary rows of a case result of ``task``."""
    return {"plan": plan_rows, "allocate": allocation_rows, "lease": lease_rows}[task](ds)
