"""Results as ``xr.Dataset``: assembly from solved models, provenance, NetCDF I/O.

One schema for every method. Dimensions: ``mode`` (the sharing architecture, for example
``individual``, ``accounts``, ``pooled``, ``individual+p2p``; see
:mod:`framework.architecture`), ``storage`` (each microgrid's own battery, named after it,
and the ``station``; a storage absent in a mode has capacity 0 there), ``scenario``,
``step``, ``microgrid``, ``cost_term``. A flow that an architecture does not have (storage
flows without storage, ``p2p_*`` without exchange) is 0.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import xarray as xr

from framework import git_commit
from framework.architecture import architecture
from framework.diagnostics import add_diagnostics, cell_flows
from framework.errors import InputError
from framework.io import write_netcdf
from framework.kpi import add_kpis
from framework.model import COST_TERMS, scenario_data
from framework.model.data import billing_periods
from framework.system import System, system_to_dict

DISPATCH_VARS = ("grid_import_kw", "grid_export_kw", "pv_used_kw", "wind_used_kw", "shed_kw",
                 "charge_kw", "discharge_kw", "p2p_in_kw", "p2p_out_kw")
INPUT_VARS = ("probability", "load_kw", "pv_pu", "wind_pu", "pv_kw", "wind_kw")
UNITS = {"cap_energy_kwh": "kWh", "cap_power_kw": "kW", "soc_kwh": "kWh", "curtailed_kw": "kW",
         "cell_charge_kw": "kW", "cell_discharge_kw": "kW", "account_kwh": "kWh",
         "daily_cost": "currency/day", "capex_annual": "currency/yr",
         "demand_charge_annual": "currency/yr", "billing_peak_kw": "kW",
         "billing_coincident_peak_kw": "kW", "implied_life_yr": "yr",
         "annual_cost": "currency/yr", "co2_kg": "kg/day", "probability": "1"}
UNITS.update({v: "kW" for v in DISPATCH_VARS})


def _indexed(component: Any, first: Sequence[Any], second: Sequence[Any]) -> np.ndarray:
    values = component.extract_values() if isinstance(component, pyo.Var) else {
        idx: pyo.value(component[idx]) for idx in component}
    return np.array([[values[a, b] for b in second] for a in first], dtype=float)


def mode_result(system: System, scenarios: xr.Dataset, mode: str, first_stage: pyo.Block,
                dispatch: Sequence[pyo.Block]) -> xr.Dataset:
    """Collect the solution of one mode into a dataset with a ``mode`` dimension of length 1.

    Parameters
    ----------
    first_stage : pyomo Block
        Holds ``K``, ``cap_energy_kwh``, ``cap_power_kw`` and ``capex_annual``.
    dispatch : sequence of pyomo Block
        The solved dispatch block of every scenario, in the order of ``scenarios.scenario``.
    """
    storages = list(first_stage.K)
    mgs = list(dispatch[0].I)
    steps = list(dispatch[0].T)
    dims = ("scenario", "step", "microgrid")
    data: dict[str, Any] = {}
    for name in (*DISPATCH_VARS, "curtailed_kw", "account_kwh"):
        if hasattr(dispatch[0], name):
            data[name] = (dims, np.stack([_indexed(getattr(d, name), mgs, steps).T
                                          for d in dispatch]))
        elif name != "account_kwh":
            data[name] = (dims, np.zeros((len(dispatch), len(steps), len(mgs))))
    # curtailment is available minus used energy; clip the solver's feasibility noise
    data["curtailed_kw"] = (dims, np.maximum(data["curtailed_kw"][1], 0.0))
    data["soc_kwh"] = (("scenario", "step", "storage"), np.stack(
        [_indexed(d.soc_kwh, storages, steps).T if storages else np.zeros((len(steps), 0))
         for d in dispatch]))
    data["daily_cost"] = (("scenario", "cost_term"), np.array(
        [[pyo.value(d.cost[term]) for term in COST_TERMS] for d in dispatch]))
    data["co2_kg"] = (("scenario",), np.array([pyo.value(d.co2_kg) for d in dispatch]))
    data["cap_energy_kwh"] = (("storage",), np.array(
        [pyo.value(first_stage.cap_energy_kwh[k]) for k in storages]))
    data["cap_power_kw"] = (("storage",), np.array(
        [pyo.value(first_stage.cap_power_kw[k]) for k in storages]))
    data["capex_annual"] = ((), float(pyo.value(first_stage.capex_annual)))
    data["demand_charge_annual"] = ((), float(pyo.value(first_stage.demand_charge_annual))
                                    if hasattr(first_stage, "demand_charge_annual") else 0.0)
    sel = scenarios.sel(microgrid=mgs)
    ds = xr.Dataset(
        data,
        coords={"scenario": scenarios["scenario"].values, "step": steps, "microgrid": mgs,
                "storage": storages, "cost_term": list(COST_TERMS)},
    )
    for name in INPUT_VARS[:4]:
        ds[name] = sel[name].transpose(*[d for d in dims if d in sel[name].dims])
    ds["pv_kw"] = ("microgrid", [_mg(system, i).pv_kw for i in mgs])
    ds["wind_kw"] = ("microgrid", [_mg(system, i).wind_kw for i in mgs])
    cells = [np.stack([_indexed(getattr(d, name), storages, steps).T for d in dispatch])
             if hasattr(dispatch[0], name) else None
             for name in ("cell_charge_kw", "cell_discharge_kw")]
    ds["cell_charge_kw"], ds["cell_discharge_kw"] = cell_flows(ds, mode, *cells)
    if system.has_demand_charges:
        ds = add_billing_peaks(ds, system, scenarios)
    ds = add_diagnostics(add_kpis(ds, system), system, mode)
    for name, unit in UNITS.items():
        if name in ds:
            ds[name].attrs["units"] = unit
    solved = [name for name in ds.data_vars if name not in INPUT_VARS]
    return xr.merge([ds[solved].expand_dims(mode=[mode]), ds[list(INPUT_VARS)]],
                    compat="no_conflicts", combine_attrs="override")


def add_billing_peaks(ds: xr.Dataset, system: System, scenarios: xr.Dataset) -> xr.Dataset:
    """Add the peaks that demand charges price (:mod:`framework.model.demand`): per billing
    period ``billing_peak_kw(billing_period, microgrid)``, the highest ``grid_import_kw`` of
    the scenarios in the period, and ``billing_coincident_peak_kw(billing_period)``, the
    highest sum over the microgrids."""
    data = [scenario_data(scenarios, k) for k in range(scenarios.sizes["scenario"])]
    periods, member_of, _ = billing_periods(system, data)
    imports = ds["grid_import_kw"].max("step")
    total = ds["grid_import_kw"].sum("microgrid").max("step")
    rows = [[s for s, of in enumerate(member_of) if b in of] for b in periods]
    ds["billing_peak_kw"] = xr.concat([imports.isel(scenario=r).max("scenario") for r in rows],
                                      dim="billing_period").assign_coords(billing_period=periods)
    ds["billing_coincident_peak_kw"] = xr.concat(
        [total.isel(scenario=r).max("scenario") for r in rows],
        dim="billing_period").assign_coords(billing_period=periods)
    return ds


def _mg(system: System, name: str) -> Any:
    return next(mg for mg in system.microgrids if mg.name == name)


def combine_modes(results: Sequence[xr.Dataset]) -> xr.Dataset:
    """Put the results of several modes side by side along ``mode``.

    A storage that does not exist in a mode has capacity 0 there and no state of charge
    (NaN).
    """
    out = xr.concat(results, dim="mode", data_vars="minimal", coords="minimal",
                    compat="override", join="outer",
                    fill_value={"cap_energy_kwh": 0.0, "cap_power_kw": 0.0,
                                "equivalent_full_cycles_per_yr": 0.0})
    out.attrs = dict(results[0].attrs)
    modes = [str(m) for m in out["mode"].values]
    stations = [m for m in modes if architecture(m).shared]
    own = [m for m in modes if architecture(m).storage == "individual"]
    if len(own) == 1 and len(stations) == 1:
        saving = float(out["annual_cost"].sel(mode=own[0])
                       - out["annual_cost"].sel(mode=stations[0]))
        out.attrs["saving_of_sharing_per_yr"] = saving
        out.attrs["saving_of_sharing_versus"] = stations[0]
        out.attrs["saving_of_sharing_base"] = own[0]
        out.attrs["saving_of_sharing_from"] = saving_source(stations[0], own[0])
    return out


def saving_source(mode: str, versus: str = "individual") -> str:
    """What the saving of architecture ``mode`` against ``versus`` (own batteries, with or
    without p2p exchange) is made of: storage sharing alone when both move energy alike
    (or neither does), storage sharing and energy exchange when only ``mode`` moves it."""
    arch, base = architecture(mode), architecture(versus)
    if arch.moves_energy and not base.moves_energy:
        return "storage sharing and energy exchange" if arch.shared else "energy exchange"
    if arch.shared:
        return "storage sharing" + (" (both exchange energy)" if base.moves_energy else "")
    return "none"


def versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    out = {"python": platform.python_version()}
    for pkg in ("sesplan", "pyomo", "highspy", "mpi-sppy", "numpy", "xarray", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def provenance(system: System, scenarios: xr.Dataset, method: str, **extra: Any
               ) -> dict[str, Any]:
    """Attributes stored in every result: config, method, versions, commit, seed, time, and
    the solver settings that differ from HiGHS's defaults
    (:func:`framework.solve.settings.describe`)."""
    from framework.solve.settings import describe

    attrs = {
        "method": method,
        "system": system.name,
        "config": json.dumps(system_to_dict(system), sort_keys=True),
        "versions": json.dumps(versions(), sort_keys=True),
        "git_commit": git_commit(),
        "seed": int(scenarios.attrs.get("seed", 0)),
        "scenario_method": str(scenarios.attrs.get("method", "unknown")),
        "scenario_source": str(scenarios.attrs.get("source", "unknown")),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "solver_settings": json.dumps(describe(), sort_keys=True),
    }
    attrs.update({k: (json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v)
                  for k, v in extra.items()})
    return attrs


def write_result(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a result atomically as NetCDF."""
    return write_netcdf(ds, path)


def read_result(path: str | Path) -> xr.Dataset:
    """Read a result file into memory; an error names the file if it is not a result."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: result file not found")
    try:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
    except (OSError, ValueError):
        raise InputError(f"{path}: not a NetCDF result file (expected the output of 'sesplan "
                         "plan')") from None
    for name in ("cap_energy_kwh", "annual_cost"):
        if name not in ds:
            raise InputError(f"{path}: not a sesplan result (no variable {name!r})")
    return ds


#: Terminations of the methods that certify a result: the extensive form solved to
#: optimality, C&CG's bounds within its gap, PH's bounds within its gap.
CERTIFIED = ("optimal", "converged")


def certification(r: xr.Dataset) -> tuple[bool, str]:
    """Whether the result of one architecture is certified, and if not, why: a method that
    stopped at a limit, or without a finite cost or bound, is not."""
    if "termination" not in r:
        return True, ""
    termination = str(r["termination"].item())
    objective = float(r["objective"]) if "objective" in r else float(r["annual_cost"])
    why = []
    if termination not in CERTIFIED:
        why.append(f"ended with {termination!r}")
    if not np.isfinite(objective):
        why.append("no finite cost (no feasible plan was proven)")
    gap = next((float(r[k]) for k in ("gap", "rel_gap") if k in r), None)
    if why and gap is not None and np.isfinite(gap):
        why.append(f"certified gap {gap:.3%}")
    return not why, ", ".join(why)


def _diagnostics(r: xr.Dataset, built: list[str]) -> dict[str, Any]:
    """The diagnostics of one architecture's result (:mod:`framework.diagnostics`)."""
    out: dict[str, Any] = {}
    for name in ("exchanged_kwh_per_yr", "exchange_station_kwh_per_yr",
                 "exchange_p2p_kwh_per_yr"):
        if name in r:
            out[name] = float(r[name])
    for name in ("equivalent_full_cycles_per_yr", "implied_life_yr",
                 "simultaneous_hours_per_yr", "simultaneous_kwh_per_yr"):
        if name in r:
            out[name] = {k: float(r[name].sel(storage=k)) for k in built}
    if "relay" in r:
        out["relay"] = [k for k in built if bool(r["relay"].sel(storage=k))]
    out["warnings"] = [w for w in str(r["warnings"].values).split("\n") if w] \
        if "warnings" in r else []
    return out


def summary(ds: xr.Dataset) -> dict[str, Any]:
    """Objective, capacities, KPIs and diagnostics per architecture, as plain Python values
    (for ``--json``); with the saving of sharing, what it is made of."""
    out: dict[str, Any] = {"method": ds.attrs.get("method"), "modes": {}}
    for mode in ds["mode"].values:
        r = ds.sel(mode=mode)
        built = [str(k) for k in r["storage"].values if float(r["cap_energy_kwh"].sel(storage=k))
                 > 1e-6 or float(r["cap_power_kw"].sel(storage=k)) > 1e-6]
        certified, why = certification(r)
        out["modes"][str(mode)] = {
            "certified": certified,
            **({} if certified else {"not_certified_because": why}),
            "annual_cost": float(r["annual_cost"]),
            "annual_cost_split": {"capex": float(r["capex_annual"]), **{
                str(t): float(r["annual_operating_cost"].sel(cost_term=t))
                for t in r["cost_term"].values},
                **({"demand_charges": float(r["demand_charge_annual"])}
                   if "demand_charge_annual" in r else {})},
            "cap_energy_kwh": {k: float(r["cap_energy_kwh"].sel(storage=k)) for k in built},
            "cap_power_kw": {k: float(r["cap_power_kw"].sel(storage=k)) for k in built},
            "total_energy_kwh": float(r["cap_energy_kwh"].sum()),
            "total_power_kw": float(r["cap_power_kw"].sum()),
            "kpis": {name: float(r[name]) for name in (
                "self_sufficiency", "curtailment_share", "peak_import_kw", "co2_t_per_yr",
                "shed_kwh_per_yr")},
            "diagnostics": _diagnostics(r, built),
        }
    if "saving_of_sharing_per_yr" in ds.attrs:
        out["saving_of_sharing_per_yr"] = float(ds.attrs["saving_of_sharing_per_yr"])
        out["saving_of_sharing_versus"] = str(ds.attrs.get("saving_of_sharing_versus", ""))
        out["saving_of_sharing_from"] = str(ds.attrs.get("saving_of_sharing_from", ""))
        out["saving_of_sharing_certified"] = all(
            out["modes"][str(m)]["certified"] for m in (
                ds.attrs.get("saving_of_sharing_base", "individual"),
                ds.attrs.get("saving_of_sharing_versus")) if str(m) in out["modes"])
    out["certified"] = all(m["certified"] for m in out["modes"].values())
    return out
