"""The leasing game end to end: solve, assemble the dataset, summarise and print.

:func:`lease_game` builds the game, finds the equilibrium with the exact MILP, the search or
both (the exact one is reported, the search beside it), evaluates the price plane for the
figure and returns one dataset; :func:`lease_game_summary` is its ``--json`` and
:func:`lease_game_table` its printed table.
"""

from __future__ import annotations

import itertools
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from framework.errors import InputError
from framework.game.values import rank_zero, world
from framework.lease.exact import ExactResult, solve_exact
from framework.lease.model import (
    LEASE_ARCHITECTURE,
    STANDALONE_ARCHITECTURE,
    LeaseGame,
    Outcome,
    PriceBox,
    build_game,
)
from framework.lease.search import SearchResult, coarse_levels, evaluate_points, search_prices
from framework.results import provenance
from framework.system import System

log = logging.getLogger(__name__)

METHODS = ("exact", "search", "both")
PER_MICROGRID = ("lease_energy_kwh", "lease_power_kw", "rent", "fee_paid", "operating_cost",
                 "saving")


def lease_game(system: System, scenarios: xr.Dataset, *, method: str = "search",
               box: PriceBox | None = None, coarse: int = 9, starts: int = 3,
               full: bool = False, time_limit_s: float | None = None,
               mip_rel_gap: float = 1e-6, cache_dir: str | Path | None = None,
               comm: Any = None) -> xr.Dataset:
    """The equilibrium of the leasing game (``docs/lease.md``) as a dataset.

    Parameters
    ----------
    method : {"exact", "search", "both"}
        The single-level MILP (:func:`framework.lease.exact.solve_exact`), the search over
        the price lattice (:func:`framework.lease.search.search_prices`), or both (the
        search first, its outcome the MILP's first incumbent; the exact equilibrium is
        reported, the search's beside it).
    box : PriceBox, optional
        The prices the operator may post; default
        :func:`framework.lease.model.default_price_box`.
    coarse, starts, full
        Of the search (and ``coarse`` for the price plane of the figure).
    time_limit_s, mip_rel_gap
        Of the MILP.
    cache_dir, comm
        Of the outside options' solves and the search's MPI ranks.

    Returns
    -------
    xr.Dataset
        Per microgrid (``microgrid``) the equilibrium lease, bill, cost and saving; the
        station against the sum of the leases; profit, margin, cooperative optimum and the
        split of the value; the price plane (``plane_energy_price``, ``plane_power_price``).
        See ``docs/lease.md`` for every variable.
    """
    if method not in METHODS:
        raise InputError(f"method: expected one of {METHODS}, got {method!r}")
    game = build_game(system, scenarios, box, cache_dir=cache_dir, comm=comm,
                      time_limit_s=time_limit_s)
    searched = search_prices(game, coarse=coarse, starts=starts, full=full, comm=comm) \
        if method in ("search", "both") else None
    exact = solve_exact(game, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                        start=searched.outcome if searched is not None else None) \
        if method in ("exact", "both") and rank_zero(comm) else None
    chosen = exact.outcome if exact is not None else (
        searched.outcome if searched is not None else None)
    plane = price_plane(game, chosen, coarse, searched, comm)
    if not rank_zero(comm):
        return xr.Dataset()
    return _dataset(game, chosen, plane, method, exact, searched)


def price_plane(game: LeaseGame, chosen: Outcome | None, coarse: int,
                searched: SearchResult | None, comm: Any = None) -> dict[tuple[int, int], Outcome]:
    """Outcomes over the coarse energy x power lattice at the equilibrium's fee level (the
    search's points are reused)."""
    box, comm = game.box, world() if comm is None else comm
    fee = 0
    if chosen is not None and box.step(2):
        fee = round((chosen.prices[2] - box.bounds(2)[0]) / box.step(2))
    fee = comm.bcast(fee, root=0) if comm.Get_size() > 1 else fee
    grid = [coarse_levels(box.size(a), coarse) for a in (0, 1)]
    wanted = [(a, b, fee) for a, b in itertools.product(*grid)]
    known = searched.points if searched is not None else {}
    missing = [k for k in wanted if k not in known]
    found = {**known, **evaluate_points(game, missing, comm)} if missing else known
    return {(a, b): found[(a, b, fee)] for a, b, _ in wanted}


def _dataset(game: LeaseGame, chosen: Outcome, plane: dict[tuple[int, int], Outcome],
             method: str, exact: ExactResult | None, searched: SearchResult | None
             ) -> xr.Dataset:
    leases = bool(chosen.participates.any()) and chosen.profit > 0
    if not leases:
        chosen = Outcome(chosen.prices, np.zeros(game.n, bool), *([np.zeros(game.n)] * 6),
                         0.0, 0.0, 0.0, 0.0, 0.0)
    sum_e, sum_p = float(chosen.lease_energy_kwh.sum()), float(chosen.lease_power_kw.sum())
    lease_cost = chosen.rent + chosen.fee_paid + chosen.operating_cost
    market = float(np.where(chosen.participates, lease_cost - chosen.rent - chosen.fee_paid,
                            game.standalone).sum() + chosen.station_cost + chosen.wear)
    usable = game.system.storage.soc_max_frac - game.system.storage.soc_min_frac
    data: dict[str, Any] = {
        "participates": ("microgrid", chosen.participates.astype(int)),
        **{name: ("microgrid", getattr(chosen, name)) for name in PER_MICROGRID},
        "account_limit_kwh": ("microgrid", usable * chosen.lease_energy_kwh),
        "lease_cost": ("microgrid", np.where(chosen.participates, lease_cost, game.standalone)),
        "standalone_cost": ("microgrid", game.standalone),
        "no_storage_cost": ("microgrid", game.no_storage),
        "energy_price": ((), chosen.prices[0]), "power_price": ((), chosen.prices[1]),
        "fee_per_kwh": ((), chosen.prices[2]),
        "station_energy_kwh": ((), chosen.station_energy_kwh),
        "station_power_kw": ((), chosen.station_power_kw),
        "sum_lease_energy_kwh": ((), sum_e), "sum_lease_power_kw": ((), sum_p),
        "station_discharge_kwh_per_yr": ((), chosen.station_discharge_kwh_per_yr),
        "station_cycles_per_yr": ((), _ratio(chosen.station_discharge_kwh_per_yr,
                                             usable * chosen.station_energy_kwh)),
        "station_life_yr": ((), chosen.station_life_yr),
        "overbooking_ratio": ((), _ratio(sum_e, chosen.station_energy_kwh)),
        "power_overbooking_ratio": ((), _ratio(sum_p, chosen.station_power_kw)),
        "income": ((), chosen.income), "station_cost": ((), chosen.station_cost),
        "wear": ((), chosen.wear), "profit": ((), chosen.profit),
        "margin": ((), chosen.margin),
        "cooperative_cost": ((), game.cooperative), "market_cost": ((), market),
        "efficiency_loss": ((), market - game.cooperative),
        "cooperative_value": ((), float(game.standalone.sum()) - game.cooperative),
    }
    box = game.box
    pe, pp = sorted({a for a, _ in plane}), sorted({b for _, b in plane})
    data["plane_profit"] = (("plane_energy_price", "plane_power_price"), np.array(
        [[plane[a, b].profit if plane[a, b].servable else np.nan for b in pp] for a in pe]))
    data["plane_saving"] = (("plane_energy_price", "plane_power_price", "microgrid"), np.array(
        [[plane[a, b].saving for b in pp] for a in pe]))
    data["plane_participants"] = (("plane_energy_price", "plane_power_price"), np.array(
        [[int(plane[a, b].participates.sum()) for b in pp] for a in pe]))
    ds = xr.Dataset(data, coords={
        "microgrid": game.names,
        "plane_energy_price": box.values(0)[pe], "plane_power_price": box.values(1)[pp]})
    for name in ds.variables:
        ds[name].attrs["units"] = _unit(str(name))
    extra: dict[str, Any] = {
        "architecture": LEASE_ARCHITECTURE, "standalone_architecture": STANDALONE_ARCHITECTURE,
        "game_method": method, "leases": int(leases), "lattice": list(box.shape),
        "energy_price_bounds": list(box.energy), "power_price_bounds": list(box.power),
        "fee_bounds": list(box.fee), "build_s": game.build_s,
        "calendar_life_yr": float(game.system.storage.lifetime_yr)}
    if exact is not None:
        extra.update(exact_termination=exact.termination, exact_profit_bound=exact.profit_bound,
                     exact_gap=exact.gap, exact_wall_s=exact.wall_s, exact_columns=exact.columns,
                     exact_rows=exact.rows, exact_binaries=exact.binaries)
    if searched is not None:
        o = searched.outcome
        extra.update(search_points=len(searched.points), search_boundary=searched.boundary,
                     search_wall_s=searched.wall_s,
                     search_ranks=searched.ranks, search_profit=o.profit,
                     search_energy_price=o.prices[0], search_power_price=o.prices[1],
                     search_fee_per_kwh=o.prices[2])
    ds.attrs = provenance(game.system, game.scenarios, "lease_game", **extra)
    log.info("lease game: %s", "no one leases" if not leases else
             f"profit {chosen.profit:.6g}, overbooking {_ratio(sum_e, chosen.station_energy_kwh):.3g}")
    return ds


def _ratio(total: float, station: float) -> float:
    return total / station if station > 1e-9 else float("nan")


def _unit(name: str) -> str:
    if name.endswith("energy_kwh") or name == "account_limit_kwh":
        return "kWh"
    return {"lease_power_kw": "kW", "station_power_kw": "kW", "sum_lease_power_kw": "kW",
            "station_discharge_kwh_per_yr": "kWh/yr", "station_cycles_per_yr": "1/yr",
            "station_life_yr": "yr",
            "energy_price": "currency/kWh/yr", "plane_energy_price": "currency/kWh/yr",
            "power_price": "currency/kW/yr", "plane_power_price": "currency/kW/yr",
            "fee_per_kwh": "currency/kWh", "overbooking_ratio": "1",
            "power_overbooking_ratio": "1", "margin": "1", "participates": "1",
            "plane_participants": "1", "microgrid": "1"}.get(name, "currency/yr")


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _optional(ds: xr.Dataset, name: str) -> float | None:
    """``ds[name]`` as a number, ``None`` where NaN or absent (a result written before it)."""
    return _number(ds[name]) if name in ds else None


def lease_game_summary(ds: xr.Dataset) -> dict[str, Any]:
    """The equilibrium for ``--json`` (money in currency/yr; NaN as ``null``)."""
    a = ds.attrs
    out: dict[str, Any] = {
        "method": a["game_method"], "leases": bool(a["leases"]),
        "energy_price_per_kwh_yr": _number(ds["energy_price"]),
        "power_price_per_kw_yr": _number(ds["power_price"]),
        "fee_per_kwh": _number(ds["fee_per_kwh"]),
        "operator_profit_per_yr": _number(ds["profit"]), "margin": _number(ds["margin"]),
        "income_per_yr": _number(ds["income"]),
        "station_cost_per_yr": _number(ds["station_cost"]), "wear_per_yr": _number(ds["wear"]),
        "station_energy_kwh": _number(ds["station_energy_kwh"]),
        "station_power_kw": _number(ds["station_power_kw"]),
        "sum_lease_energy_kwh": _number(ds["sum_lease_energy_kwh"]),
        "sum_lease_power_kw": _number(ds["sum_lease_power_kw"]),
        "overbooking_ratio": _number(ds["overbooking_ratio"]),
        "power_overbooking_ratio": _number(ds["power_overbooking_ratio"]),
        "station_cycles_per_yr": _optional(ds, "station_cycles_per_yr"),
        "station_life_yr": _optional(ds, "station_life_yr"),
        "cooperative_cost_per_yr": _number(ds["cooperative_cost"]),
        "market_cost_per_yr": _number(ds["market_cost"]),
        "efficiency_loss_per_yr": _number(ds["efficiency_loss"]),
        "value_split": {
            "cooperative_value_per_yr": _number(ds["cooperative_value"]),
            "operator_per_yr": _number(ds["profit"]),
            "microgrids_per_yr": _number(ds["saving"].sum()),
            "lost_per_yr": _number(ds["efficiency_loss"])},
        "microgrids": {str(i): {
            "participates": bool(ds["participates"].sel(microgrid=i)),
            "lease_energy_kwh": _number(ds["lease_energy_kwh"].sel(microgrid=i)),
            "lease_power_kw": _number(ds["lease_power_kw"].sel(microgrid=i)),
            "rent_per_yr": _number(ds["rent"].sel(microgrid=i)),
            "fee_per_yr": _number(ds["fee_paid"].sel(microgrid=i)),
            "lease_cost_per_yr": _number(ds["lease_cost"].sel(microgrid=i)),
            "standalone_cost_per_yr": _number(ds["standalone_cost"].sel(microgrid=i)),
            "saving_per_yr": _number(ds["saving"].sel(microgrid=i))}
            for i in ds["microgrid"].values},
    }
    if "exact_termination" in a:
        out["exact"] = {"termination": a["exact_termination"],
                        "profit_bound_per_yr": a["exact_profit_bound"], "gap": a["exact_gap"],
                        "wall_s": a["exact_wall_s"]}
    if "search_points" in a:
        out["search"] = {"points": int(a["search_points"]),
                         "boundary_points": int(a.get("search_boundary", 0)),
                         "wall_s": a["search_wall_s"],
                         "ranks": int(a["search_ranks"]), "profit_per_yr": a["search_profit"],
                         "prices": [float(a[f"search_{k}"]) for k in (
                             "energy_price", "power_price", "fee_per_kwh")]}
    return out


def lease_game_table(ds: xr.Dataset) -> str:
    """Plain text: the equilibrium prices, each microgrid's lease and saving, the station
    against the sum of the leases, profit and margin, the cooperative optimum."""
    s = lease_game_summary(ds)
    lines = [(f"leasing game ({s['method']}): an operator prices and sizes an accounts "
             f"station; each microgrid leases or builds its own battery")]
    if "exact" in s:
        e = s["exact"]
        lines.append(f"exact MILP: {e['termination']}, profit bound "
                     f"{e['profit_bound_per_yr']:,.1f}, gap {e['gap']:.2e}, {e['wall_s']:.1f} s")
    if "search" in s:
        r = s["search"]
        lines.append(f"search: {r['points']} price points ({r['boundary_points']} on the "
                     f"participation boundary) on {r['ranks']} rank(s) in {r['wall_s']:.1f} s, "
                     f"best profit {r['profit_per_yr']:,.1f}")
    if not s["leases"]:
        lines.append("no one leases: at no price of the box does the operator profit from "
                     "leases the microgrids accept (each builds its own battery)")
    else:
        lines.append(f"prices: {s['energy_price_per_kwh_yr']:.3f} per kWh-yr, "
                     f"{s['power_price_per_kw_yr']:.3f} per kW-yr, fee "
                     f"{s['fee_per_kwh']:.4f} per kWh")
        lines.append(f"station {s['station_energy_kwh']:,.1f} kWh / "
                     f"{s['station_power_kw']:,.1f} kW for leases of "
                     f"{s['sum_lease_energy_kwh']:,.1f} kWh / {s['sum_lease_power_kw']:,.1f} kW "
                     f"(overbooking {s['overbooking_ratio']:.3f} energy, "
                     f"{s['power_overbooking_ratio']:.3f} power)")
        lines.append(f"operator: income {s['income_per_yr']:,.1f}, station "
                     f"{s['station_cost_per_yr']:,.1f}, wear {s['wear_per_yr']:,.1f}, profit "
                     f"{s['operator_profit_per_yr']:,.1f} (margin {s['margin']:.2%})")
        life, calendar = s["station_life_yr"], ds.attrs.get("calendar_life_yr")
        if life is not None and calendar is not None and life < float(calendar) - 1e-9:
            lines.append(f"station cells last {life:.1f} yr of {float(calendar):.1f} "
                         f"({s['station_cycles_per_yr']:,.1f} equivalent full cycles a year: "
                         f"the cycle life)")
    lines.append(f"{'microgrid':<14}{'leases':>8}{'kWh':>10}{'kW':>9}{'rent':>11}"
                 f"{'lease cost':>13}{'alone':>13}{'saving':>10}")
    for name, m in s["microgrids"].items():
        lines.append(f"{name:<14}{'yes' if m['participates'] else 'no':>8}"
                     f"{m['lease_energy_kwh']:>10,.1f}{m['lease_power_kw']:>9,.1f}"
                     f"{m['rent_per_yr']:>11,.0f}{m['lease_cost_per_yr']:>13,.0f}"
                     f"{m['standalone_cost_per_yr']:>13,.0f}{_unsigned_zero(m['saving_per_yr'], 1):>10,.1f}")
    v = s["value_split"]
    lines.append(f"cooperative optimum (one accounts station for all): "
                 f"{s['cooperative_cost_per_yr']:,.0f}, value {v['cooperative_value_per_yr']:,.1f}"
                 f"; the market: cost {s['market_cost_per_yr']:,.0f}, operator "
                 f"{v['operator_per_yr']:,.1f}, microgrids "
                 f"{_unsigned_zero(v['microgrids_per_yr'], 1):,.1f}, lost "
                 f"{_unsigned_zero(v['lost_per_yr'], 1):,.1f}")
    return "\n".join(lines)


def _unsigned_zero(value: float, decimals: int) -> float:
    """``value``, or ``0.0`` when it rounds to zero at ``decimals`` (no printed ``-0.0``)."""
    return 0.0 if round(value, decimals) == 0 else value
