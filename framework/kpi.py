"""Key performance indicators computed from a solved dispatch (no solver here).

All annual figures weight each scenario by its probability and scale by ``days_per_year``.
"""

from __future__ import annotations

import xarray as xr

from framework.system import System


def annual(x: xr.DataArray, ds: xr.Dataset, system: System) -> xr.DataArray:
    """``days_per_year * sum_s pi_s * x_s`` (``x`` per scenario and day)."""
    return system.planning.days_per_year * (ds["probability"] * x).sum("scenario")


def add_kpis(ds: xr.Dataset, system: System) -> xr.Dataset:
    """Add annual costs and KPIs to the result of one mode.

    Added: ``annual_operating_cost`` (cost_term), ``annual_cost`` (``capex_annual`` plus
    the operating terms plus ``demand_charge_annual`` where the result has it), ``self_sufficiency`` (1 - grid import / load, total) and per microgrid
    ``self_sufficiency_mg``, ``curtailment_share`` (curtailed / available renewable energy),
    ``peak_import_kw`` (highest total import of any scenario and step), ``co2_t_per_yr``,
    ``shed_kwh_per_yr``.
    """
    dt = float(system.history.step_h)
    energy = {name: ds[name].sum("step") * dt for name in (
        "grid_import_kw", "load_kw", "curtailed_kw", "shed_kw")}
    ds["annual_operating_cost"] = annual(ds["daily_cost"], ds, system)
    ds["annual_cost"] = ds["capex_annual"] + ds["annual_operating_cost"].sum("cost_term")
    if "demand_charge_annual" in ds:
        ds["annual_cost"] = ds["annual_cost"] + ds["demand_charge_annual"]

    load = annual(energy["load_kw"], ds, system)
    imported = annual(energy["grid_import_kw"], ds, system)
    ds["self_sufficiency_mg"] = 1.0 - imported / load.where(load > 0)
    ds["self_sufficiency"] = 1.0 - imported.sum() / load.sum()
    available = (ds["pv_kw"] * ds["pv_pu"] + ds["wind_kw"] * ds["wind_pu"]).sum(
        ("step", "microgrid")) * dt
    annual_available = float(annual(available, ds, system))
    curtailed = float(annual(energy["curtailed_kw"].sum("microgrid"), ds, system))
    ds["curtailment_share"] = xr.DataArray(
        curtailed / annual_available if annual_available > 0 else 0.0)
    ds["peak_import_kw"] = ds["grid_import_kw"].sum("microgrid").max()
    ds["co2_t_per_yr"] = annual(ds["co2_kg"], ds, system) / 1000.0
    ds["shed_kwh_per_yr"] = annual(energy["shed_kw"].sum("microgrid"), ds, system)
    units = {"annual_operating_cost": "currency/yr", "annual_cost": "currency/yr",
             "self_sufficiency": "1", "self_sufficiency_mg": "1", "curtailment_share": "1",
             "peak_import_kw": "kW", "co2_t_per_yr": "t/yr", "shed_kwh_per_yr": "kWh/yr"}
    for name, unit in units.items():
        ds[name].attrs["units"] = unit
    return ds
