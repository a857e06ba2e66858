"""Dual-price allocation: hand-checked prices and shares on tiny systems, core membership by
enumeration of every coalition, the station's cycle life priced, and the conditions it
reports (IR, a binding bound, MILPs)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from framework.errors import InputError
from framework.game import check_allocation, coalition_values
from framework.game.allocate import allocate, allocation_summary
from framework.game.dual import dual_allocation
from framework.solve.ef import solve_ef
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system
from tests.framework.test_game import exchange_game

f = frozenset

# the storage of test_game.tiny: lossless, annuity factor 1, own storage 0.1 per kWh and
# 0.05 per kW, the station half that
CHEAP = {**LOSSLESS, "lifetime_yr": 1.0, "discount_rate": 0.0, "om_fraction_per_yr": 0.0,
         "capex_energy_per_kwh": 0.1, "capex_power_per_kw": 0.05}
TARIFF = {"price_buy_per_kwh": [0.1, 0.5], "price_sell_per_kwh": 0.0,
          "grid_co2_kg_per_kwh": 0.0}


def two_steps(loads: dict[str, tuple[float, float]], **shared: float) -> tuple[Any, Any]:
    """Microgrids with a load in the cheap step 0 and the dear step 1."""
    names = list(loads)
    system = make_system([{"name": n} for n in names], tariff=TARIFF, storage=CHEAP,
                         shared={"capex_multiplier": 0.5, **shared})
    scenarios = make_scenarios([[[loads[n][t] for n in names] for t in (0, 1)]],
                               microgrids=names)
    return system, scenarios


def test_dual_prices_by_hand() -> None:
    # a and b store their step-1 load 6 (identical); c's load 5 is in the cheap step. The
    # station E = P = 12: a kWh stored costs 0.1 (energy) + 0.5 * (0.1 + 0.05) (station).
    # Duals: 0.05 per kWh of account content at step 0 (the station's energy price, all
    # in the one step where the accounts fill it), 0.025 per kW of station power.
    result = dual_allocation(*two_steps({"a": (0.0, 6.0), "b": (0.0, 6.0), "c": (5.0, 0.0)}))
    assert result.grand_cost == pytest.approx(0.175 * 12 + 0.5, abs=1e-9)
    assert result.allocation == pytest.approx({"a": 1.05, "b": 1.05, "c": 0.5}, abs=1e-9)
    assert result.own_cost == pytest.approx({"a": 0.6, "b": 0.6, "c": 0.5}, abs=1e-9)
    assert result.charge("capacity") == pytest.approx({"a": 0.45, "b": 0.45, "c": 0.0},
                                                      abs=1e-9)
    assert result.charges["accounts_max"] == pytest.approx({"a": 0.3, "b": 0.3, "c": 0.0},
                                                           abs=1e-9)
    assert result.prices["accounts_max"][0].tolist() == pytest.approx([0.05, 0.0], abs=1e-12)
    assert result.annual_prices["accounts_max"] == pytest.approx(0.05, abs=1e-12)
    power = result.annual_prices["charge_max"] + result.annual_prices["discharge_max"]
    assert power == pytest.approx(0.025, abs=1e-12)
    assert (result.cap_energy_kwh, result.cap_power_kw) == pytest.approx((12.0, 12.0))
    assert result.efficiency_gap == pytest.approx(0.0, abs=1e-9)
    assert result.station_residual == pytest.approx(0.0, abs=1e-9)
    # alone: a stores 6 at 0.25 per kWh (1.5); c buys at 0.1 (0.5): everyone gains or ties
    assert result.standalone_cost == pytest.approx({"a": 1.5, "b": 1.5, "c": 0.5}, abs=1e-6)
    assert result.individually_rational == {"a": True, "b": True, "c": True}
    assert result.in_core and all(c.holds for c in result.conditions)
    assert [c.name for c in result.conditions] == [
        "linear program", "coalitions restrict the grand model",
        "station breaks even at the prices", "individually rational against own batteries"]


def test_dual_pooled_bus_prices_by_hand() -> None:
    # exchange_game (test_game): a has a surplus of 6 at step 1, b a load of 10; fee 0.02.
    # Pooled: b buys 4 at step 0 and puts it on the bus: 0.1 + fee 0.02 = 0.12 is the bus
    # price at step 0; the cells carry it to step 1 at 0.075 per kWh (E and P at half
    # price): 0.195 at step 1. a is paid 6 * (0.195 - 0.02) = 1.05 for its surplus, b pays
    # 4 * 0 (step 0: buys and sells to the bus at cost) + 10 * (0.195 + 0.02) = 2.15.
    pooled = dual_allocation(*exchange_game(station="pooled"))
    assert pooled.grand_cost == pytest.approx(1.1, abs=1e-9)
    assert pooled.allocation == pytest.approx({"a": -1.05, "b": 2.15}, abs=1e-9)
    assert pooled.prices["bus_balance"][0].tolist() == pytest.approx([0.12, 0.195], abs=1e-9)
    assert pooled.charge("energy") == pytest.approx({"a": -1.17, "b": 1.47}, abs=1e-9)
    assert pooled.own_cost == pytest.approx({"a": 0.12, "b": 0.68}, abs=1e-9)  # fees, grid
    assert pooled.individually_rational == {"a": True, "b": True}
    # accounts: a's surplus cannot reach b; a uses nothing shared and pays nothing
    accounts = dual_allocation(*exchange_game())
    assert accounts.allocation == pytest.approx({"a": 0.0, "b": 2.15}, abs=1e-9)


def random_system(station: str, exchange: str = "none", **storage: Any) -> tuple[Any, Any]:
    """Four microgrids, two days of six steps with random loads and PV, lossy storage, a fee
    and a curtailment cost (a constant in the objective, split by microgrid); ``storage``
    overrides the storage's settings."""
    rng = np.random.default_rng(7)
    names = ["a", "b", "c", "d"]
    system = make_system(
        [{"name": n, "pv_kw": float(rng.uniform(0, 12))} for n in names],
        tariff={"price_buy_per_kwh": [0.1, 0.1, 0.3, 0.3, 0.5, 0.5],
                "price_sell_per_kwh": 0.02, "grid_co2_kg_per_kwh": 0.0,
                "curtailment_cost_per_kwh": 0.01},
        storage={**CHEAP, "eta_charge": 0.95, "eta_discharge": 0.95,
                 "degradation_cost_per_kwh": 0.002, **storage},
        shared={"capex_multiplier": 0.7, "exchange_fee_per_kwh": 0.005},
        planning={"station": station, "exchange": exchange})
    scenarios = make_scenarios(rng.uniform(2, 10, size=(2, 6, 4)),
                               pv_pu=rng.uniform(0, 1, size=(2, 6, 4)), microgrids=names)
    return system, scenarios


@pytest.mark.parametrize(("station", "exchange"), [("accounts", "none"), ("pooled", "none"),
                                                   ("accounts", "p2p")])
def test_dual_allocation_in_core_by_enumeration(station: str, exchange: str) -> None:
    system, scenarios = random_system(station, exchange)
    result = dual_allocation(system, scenarios)
    game = coalition_values(system, scenarios).cost()
    grand = game[f("abcd")]
    assert result.grand_cost == pytest.approx(grand, rel=1e-7)
    assert sum(result.allocation.values()) == pytest.approx(grand, rel=1e-6)
    scale = max(abs(v) for v in game.values())
    excess = {c: sum(result.allocation[p] for p in c) - v for c, v in game.items()
              if 2 <= len(c) < 4}
    assert len(excess) == 10 and max(excess.values()) <= 1e-6 * scale
    assert result.in_core
    # the singletons have own batteries: rationality is what the full check says
    check = check_allocation(game, result.allocation)
    assert check.individually_rational == all(result.individually_rational.values())
    assert check.in_core == (check.individually_rational and result.in_core)
    # the curtailment constant is split: own costs plus charges give each share
    total = {p: result.own_cost[p] + sum(c[p] for c in result.charges.values())
             for p in "abcd"}
    assert total == pytest.approx(result.allocation, abs=1e-12)


def test_dual_reports_when_individual_rationality_fails() -> None:
    # No economy of scale (multiplier 1) and a fee of 0.05 per kWh metered: a kWh stored at
    # the station costs 0.25 + 2 * 0.05, in an own battery 0.25. Every coalition of two or
    # more costs 0.35 L(C): the shares 0.35 L_i are in the core of those coalitions, but
    # each microgrid would rather keep its own battery.
    result = dual_allocation(*two_steps({"a": (0.0, 6.0), "b": (0.0, 4.0)},
                                        capex_multiplier=1.0, exchange_fee_per_kwh=0.05))
    assert result.allocation == pytest.approx({"a": 2.1, "b": 1.4}, abs=1e-9)
    assert result.standalone_cost == pytest.approx({"a": 1.5, "b": 1.0}, abs=1e-6)
    assert result.individually_rational == {"a": False, "b": False}
    assert result.in_core  # the guarantee on coalitions of two or more still holds
    ir = result.conditions[-1]
    assert ir.holds is False and "['a', 'b']" in ir.detail
    unchecked = dual_allocation(*two_steps({"a": (0.0, 6.0), "b": (0.0, 4.0)}),
                                standalone=False)
    assert unchecked.individually_rational is None and unchecked.conditions[-1].holds is None


def test_dual_reports_a_binding_station_bound() -> None:
    # the station may hold at most 5 kWh of the 10 the microgrids would store: its bound
    # earns a rent the prices do not pass on, so the shares fall short of v(N) by it
    system, scenarios = two_steps({"a": (0.0, 6.0), "b": (0.0, 4.0)})
    system = replace(system, storage=replace(system.storage, energy_max_kwh=5.0))
    result = dual_allocation(system, scenarios, standalone=False)
    assert result.cap_energy_kwh == pytest.approx(5.0)
    # the station's cost 0.075 * 5 against prices that value a kWh stored at 0.4 (0.5 - 0.1)
    assert result.station_residual == pytest.approx(0.075 * 5 - 0.4 * 5, abs=1e-9)
    assert result.efficiency_gap == pytest.approx(-result.station_residual, abs=1e-9)
    assert not result.in_core
    assert result.conditions[2].holds is False
    assert "energy_max_kwh" in result.conditions[2].detail


def test_dual_refuses_integer_models() -> None:
    system, scenarios = two_steps({"a": (0.0, 6.0), "b": (0.0, 4.0)})
    binary = replace(system, planning=replace(system.planning, forbid_simultaneous=True))
    with pytest.raises(InputError, match="forbid_simultaneous") as err:
        dual_allocation(binary, scenarios)
    assert "\n" not in str(err.value)
    modular = replace(system, storage=replace(system.storage, module_energy_kwh=1.0,
                                              module_power_kw=1.0))
    with pytest.raises(InputError, match="modular"):
        dual_allocation(modular, scenarios)


def station_life_yr(system: Any, scenarios: Any) -> float:
    """The implied life of the grand coalition's station cells (``implied_life_yr``)."""
    arch = system.planning.shared_architecture
    ds = solve_ef(system, scenarios, arch).sel(mode=arch)
    return float(ds["implied_life_yr"].sel(storage="station"))


def in_core_of_two_or_more(system: Any, scenarios: Any, allocation: dict[str, float]
                           ) -> dict[frozenset, float]:
    """``x(C) - v(C)`` for every coalition of two or more, by enumeration."""
    game = coalition_values(system, scenarios).cost()
    return {c: sum(allocation[p] for p in c) - v for c, v in game.items() if len(c) >= 2}


def test_dual_prices_the_station_cycle_life_by_hand() -> None:
    # two_steps with a cycle life of 0.5 full cycles (dod 1) against a calendar life of 1
    # year (annuity factor 1), O&M 10 %: a and b store 6 each in step 0 and take it out in
    # step 1, E = P = 12, D = 12 kWh a year: the cells last 0.5 * 12 / 12 = 0.5 years and
    # cost c_E * D / 0.5 = 2.4 (> the calendar's 1.2), half of it at the station's
    # multiplier. A kWh stored costs 0.1 (energy) + 0.5 * 0.1 / 0.5 = 0.1 (wear, per kWh
    # discharged) + 0.5 * 1.1 * 0.05 = 0.0275 (power) + 0.5 * 0.1 * 0.1 = 0.005 (O&M of E):
    # 0.2325. c buys its 5 in the cheap step (0.5) and uses nothing shared.
    system, scenarios = two_steps({"a": (0.0, 6.0), "b": (0.0, 6.0), "c": (5.0, 0.0)})
    system = replace(system, storage=replace(system.storage, cycle_life=0.5,
                                             cycle_life_dod=1.0, om_fraction_per_yr=0.1))
    assert station_life_yr(system, scenarios) == pytest.approx(0.5, rel=1e-6)  # binding
    result = dual_allocation(system, scenarios)
    assert result.grand_cost == pytest.approx(12 * 0.2325 + 0.5, abs=1e-9)
    assert sum(result.allocation.values()) == pytest.approx(result.grand_cost, rel=1e-6)
    assert result.allocation == pytest.approx({"a": 1.395, "b": 1.395, "c": 0.5}, abs=1e-9)
    # the wear is priced at 0.1 per kWh discharged from the station, in every step (one
    # family: cell_cycles, or cell_discharge where a station variable holds the discharge)
    [wear] = [family for family in result.charges if result.kind(family) == "ageing"]
    assert wear in ("cell_cycles", "cell_discharge")
    assert result.annual_prices[wear] == pytest.approx(0.1, abs=1e-12)
    assert result.prices[wear][0].tolist() == pytest.approx([0.1, 0.1], abs=1e-12)
    ageing = result.charge("ageing")
    assert ageing == pytest.approx({"a": 0.6, "b": 0.6, "c": 0.0}, abs=1e-9)
    assert ageing["a"] > 0 and ageing["b"] > 0
    assert result.charge("capacity") == pytest.approx({"a": 0.195, "b": 0.195, "c": 0.0},
                                                      abs=1e-9)
    assert result.own_cost == pytest.approx({"a": 0.6, "b": 0.6, "c": 0.5}, abs=1e-9)
    assert (result.cap_energy_kwh, result.cap_power_kw) == pytest.approx((12.0, 12.0))
    assert result.station_residual == pytest.approx(0.0, abs=1e-9)  # rows homogeneous
    assert result.efficiency_gap == pytest.approx(0.0, abs=1e-9)
    # alone: 0.1 + 0.1 / 0.5 (wear at full price) + 1.1 * 0.05 + 0.1 * 0.1 = 0.365 per kWh
    assert result.standalone_cost == pytest.approx({"a": 2.19, "b": 2.19, "c": 0.5}, abs=1e-6)
    assert result.in_core and all(c.holds for c in result.conditions)
    excess = in_core_of_two_or_more(system, scenarios, result.allocation)
    assert len(excess) == 4 and max(excess.values()) <= 1e-6 * result.grand_cost
    assert excess[f("abc")] == pytest.approx(0.0, abs=1e-6 * result.grand_cost)


def test_dual_cycle_life_in_core_by_enumeration() -> None:
    # random_system with a binding cycle life (O&M on E keeps the station from buying cells
    # only to spread their wear): every coalition of two or more pays at least its shares
    system, scenarios = random_system("accounts", cycle_life=0.5, cycle_life_dod=1.0,
                                      om_fraction_per_yr=0.05)
    assert station_life_yr(system, scenarios) < system.storage.lifetime_yr - 1e-3
    result = dual_allocation(system, scenarios)
    assert sum(result.allocation.values()) == pytest.approx(result.grand_cost, rel=1e-6)
    excess = in_core_of_two_or_more(system, scenarios, result.allocation)
    assert excess[f("abcd")] == pytest.approx(0.0, abs=1e-6 * result.grand_cost)
    assert len(excess) == 11 and max(excess.values()) <= 1e-6 * result.grand_cost
    assert result.in_core and result.station_residual == pytest.approx(0.0, abs=1e-9)
    assert all(v > 0 for v in result.charge("ageing").values())  # all discharge from it
    total = {p: result.own_cost[p] + sum(result.charge(k)[p] for k in
                                         ("capacity", "energy", "ageing")) for p in "abcd"}
    assert total == pytest.approx(result.allocation, abs=1e-12)
    # pooled: the cells' wear is the station's own row, passed on through the bus prices
    pooled = dual_allocation(*random_system("pooled", cycle_life=0.5, cycle_life_dod=1.0,
                                            om_fraction_per_yr=0.05), standalone=False)
    assert set(pooled.charges) == {"bus_balance"} and pooled.in_core
    assert sum(pooled.allocation.values()) == pytest.approx(pooled.grand_cost, rel=1e-6)


def test_dual_refuses_the_coincident_peak_and_prices_own_demand_charges() -> None:
    system, scenarios = two_steps({"a": (0.0, 6.0), "b": (0.0, 4.0)})
    coincident = replace(system, tariff=replace(system.tariff,
                                                coincident_demand_charge_per_kw=1.0))
    with pytest.raises(InputError, match="coincident_demand_charge_per_kw"):
        dual_allocation(coincident, scenarios)
    ageing = replace(coincident, storage=replace(system.storage, cycle_life=0.5))
    with pytest.raises(InputError, match="coincident_demand_charge_per_kw"):
        dual_allocation(ageing, scenarios)
    # each microgrid's own demand charge is an own row: the shares still sum to v(N)
    own = replace(system, tariff=replace(system.tariff, demand_charge_per_kw=0.5))
    dual = dual_allocation(own, scenarios)
    assert sum(dual.allocation.values()) == pytest.approx(dual.grand_cost, rel=1e-6)
    assert dual.in_core


def test_allocate_lists_the_ageing_charge_and_the_parts_add_up() -> None:
    # allocate's dataset and JSON carry the ageing charge: own cost + capacity + energy +
    # ageing charges = each microgrid's dual share
    system, scenarios = random_system("accounts", cycle_life=0.5, cycle_life_dod=1.0,
                                      om_fraction_per_yr=0.05)
    ds = allocate(system, scenarios, ["dual"])
    share = ds["allocation"].sel(rule="dual").values
    parts = sum(ds[f"dual_{k}"].values for k in ("own_cost", "capacity_charge",
                                                  "energy_charge", "ageing_charge"))
    assert parts == pytest.approx(share, rel=1e-9)
    assert (ds["dual_ageing_charge"].values > 0).all()
    summary = allocation_summary(ds)["dual"]["parts"]
    assert [summary[p]["ageing_charge"] for p in "abcd"] == pytest.approx(
        ds["dual_ageing_charge"].values.tolist(), rel=1e-12)
