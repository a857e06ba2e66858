"""Diagnostics of a solved dispatch: where energy went and which outcomes are degenerate.

Computed from the result of one architecture (no solver here): the energy exchanged between
microgrids (through a pooled station's bus and directly), the storages' cell flows and
equivalent full cycles, simultaneous charge and discharge, and warnings for a station that
only relays energy and for shed load. Annual figures weight each scenario by its
probability and scale by ``days_per_year``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from framework.architecture import STATION, architecture
from framework.kpi import annual
from framework.model.ageing import implied_life_yr
from framework.system import System

#: A station whose usable energy covers less than this many hours of its peak flow at the
#: microgrids' connections while it moves energy is flagged as a relay.
RELAY_HOURS = 1.0
#: Flows below this (kW) count as zero in the diagnostics (the solver's tolerance).
FLOW_TOL_KW = 1e-6


def cell_flows(ds: xr.Dataset, mode: str, cell_charge: np.ndarray | None = None,
               cell_discharge: np.ndarray | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """The flows into and out of each storage's cells (kW; scenario, step, storage).

    A battery's cells see its microgrid's charge and discharge, an accounts station's the
    sums over the microgrids, a pooled station's its own cell variables (passed as arrays of
    shape (scenario, step, storage)).
    """
    arch = architecture(mode)
    dims = ("scenario", "step", "storage")
    if arch.pooled:
        coords = {"storage": ds["storage"].values}
        return (xr.DataArray(cell_charge, dims=dims, coords=coords),
                xr.DataArray(cell_discharge, dims=dims, coords=coords))
    flows = []
    for name in ("charge_kw", "discharge_kw"):
        if arch.storage == "individual":
            flows.append(ds[name].rename(microgrid="storage").sel(storage=ds["storage"]))
        elif arch.shared:
            flows.append(ds[name].sum("microgrid").expand_dims(storage=[STATION], axis=-1))
        else:
            flows.append(xr.DataArray(np.zeros((ds.sizes["scenario"], ds.sizes["step"], 0)),
                                      dims=dims, coords={"storage": []}))
    return flows[0].transpose(*dims), flows[1].transpose(*dims)


def add_diagnostics(ds: xr.Dataset, system: System, mode: str) -> xr.Dataset:
    """Add the diagnostics of one architecture's result (before the ``mode`` dimension).

    Added: ``exchange_station_kwh_per_yr`` (energy that passes a pooled station's bus from
    one microgrid to another in the same step, ``sum_t min(sum_i charge, sum_i discharge)``),
    ``exchange_p2p_kwh_per_yr`` (``sum p2p_in``), ``exchanged_kwh_per_yr`` (both);
    per storage ``equivalent_full_cycles_per_yr`` (cell discharge / usable energy),
    ``implied_life_yr`` (:func:`framework.model.ageing.implied_life_yr` of the annual cell
    discharge: the calendar life, or shorter where the cycle life wears the cells first),
    ``simultaneous_hours_per_yr`` and ``simultaneous_kwh_per_yr`` (steps in which one
    battery, one account or a pooled station's cells charge and discharge at once, and the
    energy ``min(in, out)`` that does both), ``relay`` (a pooled station whose bus passes
    energy between microgrids while its usable energy is below ``RELAY_HOURS`` of its peak
    connection flow); and ``warnings``, one line per degenerate outcome.
    """
    arch = architecture(mode)
    dt = float(system.history.step_h)
    cell_in, cell_out = ds["cell_charge_kw"], ds["cell_discharge_kw"]
    if arch.pooled:
        passing = np.minimum(ds["charge_kw"].sum("microgrid"), ds["discharge_kw"].sum("microgrid"))
    else:
        passing = xr.zeros_like(ds["grid_import_kw"].sum("microgrid"))
    ds["exchange_station_kwh_per_yr"] = annual(passing.sum("step") * dt, ds, system)
    ds["exchange_p2p_kwh_per_yr"] = annual(ds["p2p_in_kw"].sum(("step", "microgrid")) * dt,
                                            ds, system)
    ds["exchanged_kwh_per_yr"] = ds["exchange_station_kwh_per_yr"] + ds["exchange_p2p_kwh_per_yr"]

    usable = ds["cap_energy_kwh"] * (system.storage.soc_max_frac - system.storage.soc_min_frac)
    annual_out = annual(cell_out.sum("step") * dt, ds, system)
    ds["equivalent_full_cycles_per_yr"] = xr.where(usable > 1e-9, annual_out
                                                   / usable.where(usable > 1e-9), 0.0)
    ds["implied_life_yr"] = xr.apply_ufunc(
        np.vectorize(lambda e, d: implied_life_yr(system.storage, e, d), otypes=[float]),
        ds["cap_energy_kwh"], annual_out)
    if arch.shared and not arch.pooled:  # per account, then summed into the station
        per_account = np.minimum(ds["charge_kw"], ds["discharge_kw"])
        both = per_account.sum("microgrid").expand_dims(storage=[STATION], axis=-1)
        hours = (per_account > FLOW_TOL_KW).any("microgrid").expand_dims(storage=[STATION],
                                                                         axis=-1)
    else:
        both = np.minimum(cell_in, cell_out)
        hours = both > FLOW_TOL_KW
    ds["simultaneous_kwh_per_yr"] = annual(both.sum("step") * dt, ds, system)
    ds["simultaneous_hours_per_yr"] = annual(hours.sum("step") * dt, ds, system)
    peak = ds["discharge_kw"].sum("microgrid").max() if arch.pooled else xr.DataArray(0.0)
    passes = ds["exchange_station_kwh_per_yr"] > FLOW_TOL_KW
    ds["relay"] = (usable < RELAY_HOURS * peak) & passes & bool(arch.pooled)
    ds["warnings"] = xr.DataArray("\n".join(_warnings(ds, system)))
    units = {"exchange_station_kwh_per_yr": "kWh/yr", "exchange_p2p_kwh_per_yr": "kWh/yr",
             "exchanged_kwh_per_yr": "kWh/yr", "equivalent_full_cycles_per_yr": "1/yr",
             "implied_life_yr": "yr",
             "simultaneous_kwh_per_yr": "kWh/yr", "simultaneous_hours_per_yr": "h/yr"}
    for name, unit in units.items():
        ds[name].attrs["units"] = unit
    return ds


def _warnings(ds: xr.Dataset, system: System) -> list[str]:
    """One line per degenerate outcome of a result (see :func:`add_diagnostics`)."""
    out = []
    for k in ds["storage"].values:
        if bool(ds["relay"].sel(storage=k)):
            energy = max(float(ds["cap_energy_kwh"].sel(storage=k)), 0.0) + 0.0
            power = max(float(ds["cap_power_kw"].sel(storage=k)), 0.0) + 0.0
            peak = float(ds["discharge_kw"].sum("microgrid").max())
            passing = float(ds["exchange_station_kwh_per_yr"])
            built = ("nothing built" if energy < FLOW_TOL_KW and power < FLOW_TOL_KW
                     else f"{energy:,.1f} kWh / {power:,.1f} kW")
            out.append(f"{k} is a relay ({built}, peak flow {peak:,.1f} kW at the microgrids' "
                       f"connections, {passing:,.1f} kWh/yr passing its bus): it moves energy "
                       "between microgrids (energy exchange) rather than storing it")
        hours = float(ds["simultaneous_hours_per_yr"].sel(storage=k))
        if hours > 0:
            out.append(f"{k} charges and discharges at once in {hours:,.0f} h/yr "
                       f"({float(ds['simultaneous_kwh_per_yr'].sel(storage=k)):,.0f} kWh/yr); "
                       "planning.forbid_simultaneous = true forbids it")
    load = float(annual(ds["load_kw"].sum(("step", "microgrid")), ds, system)) \
        * float(system.history.step_h)
    shed = float(ds["shed_kwh_per_yr"])
    if shed > 0.5 * load > 0:
        out.append(f"most load is shed ({shed / load:.0%}): the grid connection, renewables "
                   "and storage cannot serve it (check the import limits and the profiles)")
    elif shed > 1e-6:
        out.append(f"load is shed: {shed:,.1f} kWh/yr ({shed / load:.2%} of the load)")
    return out
