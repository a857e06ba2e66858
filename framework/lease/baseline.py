"""Baseline of the leasing game: a price sweep over partitions, without operator sizing.

This is the model that :mod:`framework.lease` replaces (kept as a baseline to compare with):
the operator chooses no capacity (the station is the sum of the partitions, no overbooking),
and the microgrids pay the wear at cost.

An operator builds an ``accounts`` station (``docs/formulation.md``, "Leasing on accounts")
and leases each microgrid ``i`` a partition: energy ``E_i`` (kWh of station capacity) and
power ``P_i`` (kW), at lease prices ``p_E`` (currency per kWh-year) and ``p_P`` (currency
per kW-year). The lease gives ``i`` an energy account limited to
``acc[i,t] <= e_i = (soc_max - soc_min) * E_i`` (usable energy above the floor) and
``charge[i,t], discharge[i,t] <= q_i = P_i``; what ``i`` stores stays its own. In this
sweep the operator builds the sum of the partitions, ``E = sum_i E_i``, ``P = sum_i P_i``
(no overbooking: a station that only covers the accounts' sums in every scenario and step
could be smaller, so the station cost below is an upper bound).

**Best response.** Microgrid ``i`` chooses its partition as the ``accounts`` plan of the
coalition ``{i}`` (one account in a station of its own, built by the one model builder) on
a system where the station costs what the lease costs (:func:`lease_system`):

* ``capex_energy_per_kwh = p_E``, ``capex_power_per_kw = p_P``, ``lifetime_yr = 1``,
  ``discount_rate = 0``, ``om_fraction_per_yr = 0``, station ``capex_multiplier = 1``: the
  annual factor ``crf + om`` is 1, so the model's ``capex_annual = p_E E_i + p_P P_i`` is
  the rent (the bill); ``energy_min_kwh`` is dropped (a bound on the station, not on each
  partition), and modular sizing is off (partitions are continuous);
* unchanged: the account's dynamics, the connection limit ``charge, discharge <=
  station_limit_kw[i]``, the network fee ``exchange_fee_per_kwh`` on the energy metered at
  ``i``'s connection (charge plus discharge) and the cells' wear
  ``degradation_cost_per_kwh`` on the same throughput (passed on to the lessee at cost).

Its annual cost under the lease is ``L_i = p_E E_i + p_P P_i + O_i`` (``O_i``: expected
annual operating cost, fee and wear included), its saving ``S_i = v_i - L_i`` against
building alone (``v_i``: its ``individual`` optimum with its own battery at the real prices,
no fee). The best responses are independent of each other: leases are accounts, so no
energy moves between microgrids. A pooled station or ``p2p`` exchange would make each
microgrid's best response depend on the others' (a game this sweep does not model), so
:func:`lease_sweep` refuses ``planning.station = "pooled"`` and ``planning.exchange = "p2p"``.
It also refuses ``storage.cycle_life``: the station's cells would cost what the discharge of
every partition makes them cost, which the sweep's station cost (calendar life) and its
coalition values (no discharge) do not hold; :func:`framework.lease.lease_game` prices it.

**Operator.** Station cost ``K = (crf + om) * mult * (c_E E + c_P P)`` (annualised capex with
the station's capex multiplier, plus O&M); rents ``R = sum_i (p_E E_i + p_P P_i)``;
profit ``R - K``; margin ``(R - K) / R``.

**Sweep.** Over a grid of ``(p_E, p_P)``, the chosen prices maximise the profit subject to
``S_i >= 0`` for every ``i`` (and profit ``>= 0``); ties go to the larger total saving.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from framework.errors import InputError
from framework.game.values import Task, rank_zero, solve_tasks
from framework.lease.model import (
    LEASE_ARCHITECTURE,
    STANDALONE_ARCHITECTURE,
    check_lease_planning,
)
from framework.model import check_scenarios_match
from framework.results import provenance
from framework.system import System

log = logging.getLogger(__name__)

def lease_system(system: System, energy_price: float, power_price: float) -> System:
    """The system on which a microgrid's best response to the lease prices is its
    ``accounts`` plan alone (see the module docstring for every change).

    Parameters
    ----------
    energy_price : float
        ``p_E``, currency per kWh of partition per year.
    power_price : float
        ``p_P``, currency per kW of partition per year.
    """
    if not (np.isfinite(energy_price) and np.isfinite(power_price)
            and energy_price >= 0 and power_price >= 0):
        raise InputError(f"lease prices: expected finite numbers >= 0, got energy "
                         f"{energy_price!r}, power {power_price!r}")
    storage = replace(
        system.storage, capex_energy_per_kwh=float(energy_price),
        capex_power_per_kw=float(power_price), lifetime_yr=1.0, discount_rate=0.0,
        om_fraction_per_yr=0.0, energy_min_kwh=None, module_energy_kwh=None,
        module_power_kw=None, fixed_cost=0.0)
    return replace(system, storage=storage, shared=replace(system.shared, capex_multiplier=1.0))


def operator_unit_costs(system: System) -> tuple[float, float]:
    """The operator's annual cost per kWh and per kW of station:
    ``(crf + om) * mult * c_E`` and ``(crf + om) * mult * c_P`` (currency/kWh/yr, /kW/yr)."""
    f = system.storage.annual_factor * system.shared.capex_multiplier
    return f * system.storage.capex_energy_per_kwh, f * system.storage.capex_power_per_kw


def default_prices(system: System, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A price grid over the window where a lease can pay for both sides: ``n`` values per
    axis from ``min(mult, 0.95)`` to ``1`` times a microgrid's own annual cost per kWh
    (``(crf + om) c_E``) and per kW (``(crf + om) c_P``). The operator breaks even at
    ``mult`` times it, a microgrid (without the exchange fee) at 1."""
    if n < 1:
        raise InputError(f"grid: expected at least 1 price per axis, got {n}")
    own = system.storage.annual_factor
    factors = np.linspace(min(system.shared.capex_multiplier, 0.95), 1.0, n)
    return (own * system.storage.capex_energy_per_kwh * factors,
            own * system.storage.capex_power_per_kw * factors)


def _prices(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InputError(f"{name}: expected one or more finite prices >= 0, got {list(arr)}")
    return np.unique(arr)


def lease_sweep(system: System, scenarios: xr.Dataset,
                energy_prices: Sequence[float] | None = None,
                power_prices: Sequence[float] | None = None, *, grid: int = 6,
                cache_dir: str | Path | None = None, comm: Any = None,
                time_limit_s: float | None = None) -> xr.Dataset:
    """Best responses, bills, savings and operator profit over a grid of lease prices.

    Parameters
    ----------
    energy_prices, power_prices : sequence of float, optional
        ``p_E`` (currency/kWh/yr) and ``p_P`` (currency/kW/yr); default
        :func:`default_prices` with ``grid`` values per axis.
    cache_dir, comm, time_limit_s
        As for :func:`framework.game.values.solve_tasks` (every best response and every
        standalone plan is one cached task, spread over the MPI ranks).

    Raises
    ------
    InputError
        If the system's planning chooses a pooled station or ``p2p`` exchange
        (:func:`check_lease_planning`), or the storage has a cycle life.

    Returns
    -------
    xr.Dataset
        Dimensions ``energy_price``, ``power_price``, ``microgrid``. Per microgrid and
        price pair: ``lease_energy_kwh`` ``E_i``, ``account_limit_kwh``
        ``e_i = (soc_max - soc_min) E_i``, ``lease_power_kw`` ``P_i``, ``bill``
        (rent), ``operating_cost`` ``O_i``, ``lease_cost`` ``L_i``, ``saving`` ``S_i``; per
        microgrid ``standalone_cost`` ``v_i``; per price pair ``station_energy_kwh``,
        ``station_power_kw``, ``rent``, ``station_cost``, ``profit``, ``margin``,
        ``all_gain`` (every ``S_i >= 0``), ``feasible`` (``all_gain`` and profit ``>= 0``).
        ``attrs``: ``architecture`` (``accounts``: what is leased),
        ``standalone_architecture`` (``individual``), the chosen prices and their profit,
        rents and station (``chosen_*``; NaN and ``feasible = 0`` when no price pair is
        feasible), the operator's unit costs. All money in currency/yr.
    """
    check_lease_planning(system)
    if system.storage.cycle_life is not None:
        raise InputError("lease sweep (baseline): storage.cycle_life makes the station's cells "
                         "cost what the partitions discharge, which the sweep does not model; "
                         "use the leasing game (--method search, exact or both) or leave "
                         "cycle_life unset")
    check_scenarios_match(system, scenarios)
    default_e, default_p = default_prices(system, grid)
    pe = _prices(default_e if energy_prices is None else energy_prices, "energy_prices")
    pp = _prices(default_p if power_prices is None else power_prices, "power_prices")
    players = system.names
    tasks = [Task(system, (i,), STANDALONE_ARCHITECTURE) for i in players]
    tasks += [Task(lease_system(system, e, p), (i,), LEASE_ARCHITECTURE)
              for e in pe for p in pp for i in players]
    values, stats = solve_tasks(tasks, scenarios, cache_dir=cache_dir, comm=comm,
                                time_limit_s=time_limit_s, label="lease plan")
    n = len(players)
    alone = np.array([v.annual_cost for v in values[:n]])
    shape = (len(pe), len(pp), n)
    response = values[n:]
    energy = np.array([v.cap_energy_kwh for v in response]).reshape(shape)
    power = np.array([v.cap_power_kw for v in response]).reshape(shape)
    bill = np.array([v.capex_annual for v in response]).reshape(shape)
    lease_cost = np.array([v.annual_cost for v in response]).reshape(shape)
    saving = alone[None, None, :] - lease_cost
    unit_e, unit_p = operator_unit_costs(system)
    station_e, station_p = energy.sum(-1), power.sum(-1)
    station_cost = unit_e * station_e + unit_p * station_p
    rent = bill.sum(-1)
    profit = rent - station_cost
    tol = 1e-6 * max(1.0, float(np.max(np.abs(alone))))
    all_gain = np.all(saving >= -tol, axis=-1)
    feasible = all_gain & (profit >= -tol)
    dims3 = ("energy_price", "power_price", "microgrid")
    dims2 = ("energy_price", "power_price")
    ds = xr.Dataset(
        {"lease_energy_kwh": (dims3, energy),
         "account_limit_kwh": (dims3, energy * (system.storage.soc_max_frac
                                                - system.storage.soc_min_frac)),
         "lease_power_kw": (dims3, power),
         "bill": (dims3, bill), "operating_cost": (dims3, lease_cost - bill),
         "lease_cost": (dims3, lease_cost), "saving": (dims3, saving),
         "standalone_cost": ("microgrid", alone),
         "station_energy_kwh": (dims2, station_e), "station_power_kw": (dims2, station_p),
         "rent": (dims2, rent), "station_cost": (dims2, station_cost),
         "profit": (dims2, profit),
         "margin": (dims2, np.where(rent > tol, profit / np.where(rent > tol, rent, 1.0),
                                    np.nan)),
         "all_gain": (dims2, all_gain.astype(int)), "feasible": (dims2, feasible.astype(int))},
        coords={"energy_price": pe, "power_price": pp, "microgrid": players})
    units = {"lease_energy_kwh": "kWh", "account_limit_kwh": "kWh", "lease_power_kw": "kW",
             "station_energy_kwh": "kWh", "station_power_kw": "kW", "margin": "1",
             "energy_price": "currency/kWh/yr", "power_price": "currency/kW/yr"}
    for name in ds.variables:
        ds[name].attrs["units"] = units.get(str(name), "currency/yr")
    for name in ("all_gain", "feasible", "microgrid"):
        ds[name].attrs.pop("units")
    chosen = _choose(ds)
    ds.attrs = provenance(system, scenarios, "lease", architecture=LEASE_ARCHITECTURE,
                          standalone_architecture=STANDALONE_ARCHITECTURE,
                          cache_dir=str(cache_dir or ""),
                          cache_hits=stats.cache_hits, solved=stats.solved, ranks=stats.ranks,
                          solves_wall_s=stats.wall_s, operator_energy_cost_per_kwh_yr=unit_e,
                          operator_power_cost_per_kw_yr=unit_p, **chosen)
    if rank_zero(comm):
        log.info("lease: %d of %d price pairs feasible; chosen %s", int(feasible.sum()),
                 feasible.size, {k: round(v, 4) for k, v in chosen.items()})
    return ds


def _choose(ds: xr.Dataset) -> dict[str, float]:
    """The feasible price pair with the largest profit (ties: the larger total saving)."""
    keys = ("energy_price", "power_price", "profit", "rent", "station_cost",
            "station_energy_kwh", "station_power_kw", "total_saving")
    feasible = ds["feasible"].values.astype(bool)
    if not feasible.any():
        return {"chosen_feasible": 0, **{f"chosen_{k}": float("nan") for k in keys}}
    total = ds["saving"].sum("microgrid").values
    order = np.lexsort((-total.ravel(), -ds["profit"].values.ravel()))
    best = next(k for k in order if feasible.ravel()[k])
    a, b = np.unravel_index(best, feasible.shape)
    at = ds.isel(energy_price=a, power_price=b)
    return {"chosen_feasible": 1, "chosen_energy_price": float(at["energy_price"]),
            "chosen_power_price": float(at["power_price"]), "chosen_profit": float(at["profit"]),
            "chosen_rent": float(at["rent"]), "chosen_station_cost": float(at["station_cost"]),
            "chosen_station_energy_kwh": float(at["station_energy_kwh"]),
            "chosen_station_power_kw": float(at["station_power_kw"]),
            "chosen_total_saving": float(total[a, b])}


def lease_summary(ds: xr.Dataset) -> dict[str, Any]:
    """The chosen prices with each microgrid's partition, bill and saving (for ``--json``)."""
    out: dict[str, Any] = {"method": ds.attrs.get("method"),
                           "architecture": str(ds.attrs["architecture"]),
                           "feasible": bool(ds.attrs["chosen_feasible"]),
                           "n_price_pairs": int(ds["feasible"].size),
                           "n_feasible": int(ds["feasible"].sum()),
                           "operator_unit_cost": {
                               "energy_per_kwh_yr": float(
                                   ds.attrs["operator_energy_cost_per_kwh_yr"]),
                               "power_per_kw_yr": float(ds.attrs["operator_power_cost_per_kw_yr"])},
                           "standalone_cost": {str(i): float(v) for i, v in zip(
                               ds["microgrid"].values, ds["standalone_cost"].values)}}
    if not out["feasible"]:
        return out
    at = ds.sel(energy_price=ds.attrs["chosen_energy_price"],
                power_price=ds.attrs["chosen_power_price"])
    rent = float(at["rent"])
    out["chosen"] = {
        "energy_price": float(at["energy_price"]), "power_price": float(at["power_price"]),
        "profit": float(at["profit"]), "rent": rent, "station_cost": float(at["station_cost"]),
        "margin": float(at["margin"]), "station_energy_kwh": float(at["station_energy_kwh"]),
        "station_power_kw": float(at["station_power_kw"]),
        "microgrids": {str(i): {name: float(at[name].sel(microgrid=i)) for name in (
            "lease_energy_kwh", "account_limit_kwh", "lease_power_kw", "bill",
            "operating_cost", "lease_cost", "saving")} for i in ds["microgrid"].values}}
    return out


def lease_table(ds: xr.Dataset) -> str:
    """Plain text: what is leased, operator profit over the price grid (``*``: feasible),
    then the chosen prices with each microgrid's partition, bill and saving."""
    pp = ds["power_price"].values
    lines = [(f"each microgrid leases an energy account of an {ds.attrs['architecture']} "
              f"station (alone: an own battery); the operator builds the sum of the "
              f"partitions"),
             ("operator profit (currency/yr); rows: energy price per kWh-yr, columns: power "
              "price per kW-yr; * every microgrid gains"),
             f"{'':>10}" + "".join(f"{p:>14.2f}" for p in pp)]
    for e in ds["energy_price"].values:
        row = ds.sel(energy_price=e)
        lines.append(f"{e:>10.2f}" + "".join(
            f"{float(row['profit'].sel(power_price=p)):>13,.0f}"
            f"{'*' if int(row['feasible'].sel(power_price=p)) else ' '}" for p in pp))
    summary = lease_summary(ds)
    if not summary["feasible"]:
        lines.append("no price pair lets the operator break even while every microgrid gains")
        return "\n".join(lines)
    c = summary["chosen"]
    lines.append(f"chosen: {c['energy_price']:.2f} per kWh-yr, {c['power_price']:.2f} per "
                 f"kW-yr; station {c['station_energy_kwh']:,.1f} kWh / "
                 f"{c['station_power_kw']:,.1f} kW; rent {c['rent']:,.0f}, station cost "
                 f"{c['station_cost']:,.0f}, profit {c['profit']:,.0f} "
                 f"(margin {c['margin']:.1%})")
    lines.append(f"{'microgrid':<14}{'kWh':>10}{'kW':>10}{'bill':>12}{'lease cost':>14}"
                 f"{'alone':>14}{'saving':>12}")
    for i, m in c["microgrids"].items():
        lines.append(f"{i:<14}{m['lease_energy_kwh']:>10,.1f}{m['lease_power_kw']:>10,.1f}"
                     f"{m['bill']:>12,.0f}{m['lease_cost']:>14,.0f}"
                     f"{summary['standalone_cost'][i]:>14,.0f}{m['saving']:>12,.0f}")
    return "\n".join(lines)
