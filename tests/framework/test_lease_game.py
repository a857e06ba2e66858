"""The leasing game: market outcomes by hand, brute force over the price lattice against the
exact MILP, the search (its participation thresholds, its equilibrium, on 1 and 2 MPI ranks)
against the exact MILP, the same with a binding cycle life (the station's cells by hand,
brute force, search and MILP), the report, and bad inputs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from framework.errors import InputError
from framework.lease import (
    PriceBox,
    build_game,
    evaluate,
    lease_game,
    lease_game_summary,
    lease_game_table,
    search_prices,
    solve_exact,
)
from framework.lease.baseline import lease_sweep
from framework.lease.search import participation
from framework.model.ageing import chords
from framework.results import write_result
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system, run_on_ranks

# Lossless storage with annuity factor 1 (an own battery costs 0.1 per kWh-yr and 0.05 per
# kW-yr, the station half that), days_per_year = 1. Buying costs 0.1 in steps 0 and 2 and
# 0.5 in steps 1 and 3; a needs 10 kW in step 1, b 6 kW in step 3. Alone each stores its
# load: v_a = 0.1*10 + 0.15*10 = 2.5, v_b = 1.5. Leasing e = q = L costs
# (p_E + p_P) L + 0.1 L, so each leases iff p_E + p_P <= 0.15. a's account is full only in
# step 0 and b's only in step 2: the station needs 10 kWh / 10 kW for leases of 16 / 16.
TINY_BOX = PriceBox((0.0, 0.2), (0.0, 0.1), levels=21)


def tiny(**storage: Any) -> tuple[Any, xr.Dataset]:
    system = make_system(
        [{"name": n, "import_limit_kw": 20.0, "export_limit_kw": 0.0} for n in ("a", "b")],
        tariff={"price_buy_per_kwh": [0.1, 0.5, 0.1, 0.5], "price_sell_per_kwh": 0.0,
                "grid_co2_kg_per_kwh": 0.0},
        storage={**LOSSLESS, "lifetime_yr": 1.0, "discount_rate": 0.0,
                 "om_fraction_per_yr": 0.0, "capex_energy_per_kwh": 0.1,
                 "capex_power_per_kw": 0.05, **storage},
        shared={"capex_multiplier": 0.5})
    return system, make_scenarios([[[0, 0], [10, 0], [0, 0], [0, 6]]], microgrids=["a", "b"])


def two_days() -> tuple[Any, xr.Dataset]:
    """Needs that differ in ratio and day: a needs 10 kW for one step on day 1, b 3 kW for
    two steps on day 2 (E/P = 2 h); wear 0.01 per kWh of throughput."""
    system = make_system(
        [{"name": n, "import_limit_kw": 20.0, "export_limit_kw": 0.0} for n in ("a", "b")],
        tariff={"price_buy_per_kwh": [0.1, 0.1, 0.5, 0.5], "price_sell_per_kwh": 0.0,
                "grid_co2_kg_per_kwh": 0.0},
        storage={**LOSSLESS, "lifetime_yr": 1.0, "discount_rate": 0.0,
                 "om_fraction_per_yr": 0.0, "capex_energy_per_kwh": 0.1,
                 "capex_power_per_kw": 0.05, "degradation_cost_per_kwh": 0.01},
        shared={"capex_multiplier": 0.5}, planning={"days_per_year": 2.0})
    loads = [[[0, 0], [0, 0], [10, 0], [0, 0]], [[0, 0], [0, 0], [0, 3], [0, 3]]]
    return system, make_scenarios(loads, microgrids=["a", "b"])


def test_outcome_by_hand() -> None:
    system, scenarios = tiny()
    game = build_game(system, scenarios, TINY_BOX)
    assert game.standalone == pytest.approx([2.5, 1.5])
    assert game.no_storage == pytest.approx([5.0, 3.0])
    o = evaluate(game, (0.1, 0.04, 0.0))
    assert o.participates.tolist() == [True, True]
    assert o.lease_energy_kwh == pytest.approx([10.0, 6.0])
    assert o.lease_power_kw == pytest.approx([10.0, 6.0])
    assert o.saving == pytest.approx([0.01 * 10, 0.01 * 6], abs=1e-6)
    assert (o.station_energy_kwh, o.station_power_kw) == pytest.approx((10.0, 10.0))
    assert o.station_cost == pytest.approx(0.05 * 10 + 0.025 * 10)
    assert o.profit == pytest.approx(16 * 0.14 - 0.75, abs=1e-6)
    # dearer than its own battery: neither leases, no station, no profit
    o = evaluate(game, (0.1, 0.06, 0.0))
    assert not o.participates.any() and o.profit == 0.0


def test_brute_force_equilibrium_matches_exact() -> None:
    system, scenarios = tiny()
    game = build_game(system, scenarios, TINY_BOX)
    brute = search_prices(game, full=True)
    assert len(brute.points) == 21 * 21
    best = brute.outcome
    # the most the operator can ask is p_E + p_P = 0.15: 16 * 0.15 - 0.75
    assert best.profit == pytest.approx(1.65, abs=1e-6)
    assert sum(best.prices[:2]) == pytest.approx(0.15)
    assert best.saving == pytest.approx([0.0, 0.0], abs=1e-6)
    exact = solve_exact(game)
    assert exact.termination == "Optimal" and exact.gap <= 1e-6
    assert exact.outcome.profit == pytest.approx(best.profit, abs=1e-6)
    assert exact.profit_bound == pytest.approx(best.profit, abs=1e-5)
    # the exact prices are a lattice point whose market outcome is the same
    assert evaluate(game, exact.outcome.prices).profit == pytest.approx(best.profit, abs=1e-6)
    assert exact.outcome.lease_energy_kwh.sum() / exact.outcome.station_energy_kwh == \
        pytest.approx(1.6, abs=1e-6)


def test_brute_force_with_a_fee_matches_exact() -> None:
    # three price axes, wear paid by the operator and a fee per metered kWh
    system, scenarios = two_days()
    game = build_game(system, scenarios, PriceBox((0.0, 0.2), (0.0, 0.1), (0.0, 0.02), 5))
    brute = search_prices(game, full=True)
    assert len(brute.points) == 125
    exact = solve_exact(game)
    # v_a = 1.0 + 1.5 + 0.01 * 20 (own wear), v_b = 0.6 + 0.75 + 0.01 * 12; the best the
    # operator can do takes all of both: rents and fees 2.7 - 1.0 + 1.47 - 0.6, less the
    # station (10 kWh / 10 kW: 0.75) and the wear on 32 kWh (0.32)
    assert brute.outcome.profit == pytest.approx(1.5, abs=1e-6)
    assert exact.outcome.profit == pytest.approx(brute.outcome.profit, abs=1e-6)
    for o in (brute.outcome, exact.outcome):
        assert np.all(o.saving >= -1e-6)
        assert o.station_energy_kwh == pytest.approx(
            max(10.0 if o.participates[0] else 0.0, 6.0 if o.participates[1] else 0.0),
            abs=1e-6)


def pv_system(names: list[str], capex_multiplier: float) -> Any:
    """Microgrids with PV, a four-price tariff, storage with losses and wear."""
    return make_system(
        [{"name": n, "import_limit_kw": 30.0, "export_limit_kw": 5.0, "pv_kw": 10.0}
         for n in names],
        tariff={"price_buy_per_kwh": [0.1, 0.1, 0.3, 0.5, 0.5, 0.3], "price_sell_per_kwh": 0.02,
                "grid_co2_kg_per_kwh": 0.0},
        storage={"lifetime_yr": 1.0, "discount_rate": 0.0, "om_fraction_per_yr": 0.0,
                 "capex_energy_per_kwh": 0.12, "capex_power_per_kw": 0.04,
                 "eta_charge": 0.95, "eta_discharge": 0.95, "degradation_cost_per_kwh": 0.005},
        shared={"capex_multiplier": capex_multiplier})


def pv_scenarios(names: list[str], seed: int) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    loads = rng.uniform(0, 8, size=(2, 6, len(names)))
    pv = np.tile(np.array([0, 0.5, 0.9, 0.4, 0, 0])[None, :, None], (2, 1, len(names)))
    return make_scenarios(loads, pv, microgrids=names)


def narrow() -> tuple[Any, xr.Dataset, PriceBox]:
    """Two microgrids and a station only 3 % cheaper than their own batteries: the operator
    profits only next to the prices where one stops leasing (18 of 441 lattice points); a
    coarse grid with pattern searches (the previous search) found 0.0479 of 0.0631."""
    names = ["a", "b"]
    return (pv_system(names, 0.97), pv_scenarios(names, 0),
            PriceBox((0.06, 0.18), (0.02, 0.06), levels=21))


def test_search_follows_the_thresholds() -> None:
    system, scenarios, box = narrow()
    game = build_game(system, scenarios, box)
    brute = search_prices(game, full=True)
    found = search_prices(game, coarse=5)
    # the traced thresholds say who leases at every lattice point, as brute force finds
    leases = participation(game, found.thresholds)
    assert leases.any() and not leases.all()
    for k, o in brute.points.items():
        assert o.participates.tolist() == leases[(slice(None), *k)].tolist()
    assert sum(o.profit > 1e-9 for o in brute.points.values()) == 18
    assert brute.outcome.profit == pytest.approx(0.063118, abs=1e-6)
    # the search finds the equilibrium of brute force and of the MILP, at a fifth of the cost
    assert len(found.points) < len(brute.points) / 5
    assert found.outcome.profit == pytest.approx(brute.outcome.profit, rel=1e-9)
    assert found.best == brute.best
    exact = solve_exact(game)
    assert exact.termination == "Optimal"
    assert exact.outcome.profit == pytest.approx(found.outcome.profit, rel=1e-6)


def test_search_agrees_with_exact() -> None:
    names = ["a", "b", "c"]
    game = build_game(pv_system(names, 0.8), pv_scenarios(names, 3),
                      PriceBox((0.0, 0.2), (0.0, 0.1), levels=17))
    found = search_prices(game, coarse=5)
    assert len(found.points) < 17 * 17 / 3
    exact = solve_exact(game, start=found.outcome)
    assert exact.termination == "Optimal" and exact.gap <= 1e-6
    assert found.outcome.profit == pytest.approx(exact.outcome.profit, rel=1e-6)
    assert found.outcome.profit == pytest.approx(0.935668, abs=1e-6)
    assert evaluate(game, exact.outcome.prices).profit == pytest.approx(
        exact.outcome.profit, rel=1e-6, abs=1e-6)


# With O&M 0.1 (annual factor 1.1, so a kWh of station costs 0.005 a year more and is never
# built idle) and a cycle life of N cycles at depth 0.8, r = 0 and a one-year calendar life:
# cells of E kWh that discharge D kWh a year cost c_E max(E, D / (0.8 N)) (the chord of
# crf(1 / x) = x is exact). Alone a stores 10 kWh at 0.1 + 0.05 + 0.015 per kWh and its
# cells 0.1 max(10, 10 / (0.8 N)); b the same with 6. The station (half the prices) needs
# 10 kWh / 10 kW and discharges 16 kWh a year: its cells cost 0.05 max(10, 16 / (0.8 N)).
AGED = {"om_fraction_per_yr": 0.1, "cycle_life_dod": 0.8}


def test_cycle_life_costs_the_operator_by_hand() -> None:
    # the same prices (both lease at p_E + p_P = 0.15) without a cycle life, with N = 1 and
    # with N = 0.5: the profit falls by the station cells' extra annuity,
    # 0.05 (16 / (0.8 N) - 10) = 0.5 and 1.5
    cases = [(None, [2.65, 1.59], 1.575, 1.0), (1.0, [2.9, 1.74], 1.075, 0.5),
             (0.5, [4.15, 2.49], 0.075, 0.25)]
    for cycle_life, standalone, profit, life in cases:
        system, scenarios = tiny(**AGED, cycle_life=cycle_life)
        game = build_game(system, scenarios, TINY_BOX)
        # an own battery's cells cost what the extensive form (the outside option) says
        assert game.standalone == pytest.approx(standalone, abs=1e-9)
        o = evaluate(game, (0.1, 0.05, 0.0))
        assert o.participates.tolist() == [True, True]
        assert (o.station_energy_kwh, o.station_power_kw) == pytest.approx((10.0, 10.0))
        assert o.station_discharge_kwh_per_yr == pytest.approx(16.0)
        assert o.station_life_yr == pytest.approx(life)  # 0.8 N 10 / 16, at most 1
        cells = 0.05 * max(10.0, 16.0 / (0.8 * cycle_life)) if cycle_life else 0.5
        assert o.station_cost == pytest.approx(cells + 0.25 + 0.075, abs=1e-9)
        assert o.profit == pytest.approx(profit, abs=1e-9)


def test_brute_force_with_a_cycle_life_matches_exact() -> None:
    # N = 1: alone a pays 2.9 and b 1.74, so each leases iff p_E + p_P <= 0.19 (0.165
    # without the cycle life); the station's cells last 0.5 yr and cost 1.0, the station
    # 1.325: profit 16 * 0.19 - 1.325 = 1.715 (1.815 without the cycle life)
    system, scenarios = tiny(**AGED, cycle_life=1.0)
    game = build_game(system, scenarios, TINY_BOX)
    brute = search_prices(game, full=True)
    found = search_prices(game, coarse=5)
    exact = solve_exact(game)
    assert exact.termination == "Optimal" and exact.gap <= 1e-6
    assert exact.profit_bound == pytest.approx(1.715, abs=1e-5)
    for o in (brute.outcome, found.outcome, exact.outcome):
        assert o.profit == pytest.approx(1.715, abs=1e-9)
        assert sum(o.prices[:2]) == pytest.approx(0.19)
        assert o.participates.tolist() == [True, True]
        assert o.saving == pytest.approx([0.0, 0.0], abs=1e-9)
        assert o.station_energy_kwh == pytest.approx(10.0)
        assert o.station_life_yr == pytest.approx(0.5)  # below the calendar life of 1 yr
    assert found.best == brute.best
    # the exact prices are a lattice point whose market outcome is the same
    assert evaluate(game, exact.outcome.prices).profit == pytest.approx(1.715, abs=1e-9)
    # without the cycle life the equilibrium is another: lower prices, higher profit
    plain = search_prices(build_game(*tiny(om_fraction_per_yr=0.1), TINY_BOX), full=True)
    assert plain.outcome.profit == pytest.approx(1.815, abs=1e-9)
    assert sum(plain.outcome.prices[:2]) == pytest.approx(0.165)


def test_search_agrees_with_exact_with_a_cycle_life() -> None:
    # the three microgrids of test_search_agrees_with_exact with a 4-year calendar life at 5 %
    # (the chords of crf(1 / x) between lives of 4, 2 and 1 years) and 3 cycles at depth
    # 0.8 a life: the station's cells wear out in 3.16 years
    names = ["a", "b", "c"]
    system = pv_system(names, 0.8)
    tech = replace(system.storage, lifetime_yr=4.0, discount_rate=0.05,
                   capex_energy_per_kwh=0.4255, capex_power_per_kw=0.1418, cycle_life=3.0,
                   cycle_life_dod=0.8)
    system = replace(system, storage=tech)
    game = build_game(system, pv_scenarios(names, 3),
                      PriceBox((0.0, 0.2), (0.0, 0.1), levels=17))
    brute = search_prices(game, full=True)
    found = search_prices(game, coarse=5)
    assert len(found.points) < 17 * 17 / 3
    assert found.best == brute.best
    assert found.outcome.profit == pytest.approx(brute.outcome.profit, rel=1e-9)
    assert found.outcome.profit == pytest.approx(0.646906, abs=1e-6)
    exact = solve_exact(game, start=found.outcome)
    assert exact.termination == "Optimal" and exact.gap <= 1e-6
    assert exact.outcome.prices == pytest.approx(found.outcome.prices)
    assert exact.outcome.profit == pytest.approx(found.outcome.profit, rel=1e-6)
    o = exact.outcome
    assert o.participates.tolist() == [True, False, True]
    assert o.station_life_yr == pytest.approx(3.157895, abs=1e-6)
    assert o.station_life_yr == pytest.approx(
        2.4 * o.station_energy_kwh / o.station_discharge_kwh_per_yr)
    # the station's cost is its cells' annuity by the chords of ageing.py at its E and
    # discharge, its converter's over the calendar life and O&M, all at the multiplier 0.8
    x = o.station_discharge_kwh_per_yr / (2.4 * o.station_energy_kwh)
    factor = max([tech.crf] + [a + b * x for a, b in chords(tech)])
    assert factor > tech.crf
    assert o.station_cost == pytest.approx(0.8 * (
        0.4255 * o.station_energy_kwh * factor + tech.crf * 0.1418 * o.station_power_kw),
        rel=1e-9)


MPI_SEARCH = """
import json, sys
from mpi4py import MPI
from framework.lease import build_game, search_prices
from tests.framework.test_lease_game import narrow
system, scenarios, box = narrow()
found = search_prices(build_game(system, scenarios, box), coarse=5)
if found.ranks == 2 and MPI.COMM_WORLD.Get_rank() == 0:
    json.dump({"best": list(found.best), "profit": found.outcome.profit,
               "points": sorted(map(list, found.points)),
               "thresholds": found.thresholds.tolist()}, open(sys.argv[1], "w"))
"""


def test_search_on_two_ranks(tmp_path: Path) -> None:
    system, scenarios, box = narrow()
    one = search_prices(build_game(system, scenarios, box), coarse=5)
    two = run_on_ranks(tmp_path, MPI_SEARCH, ranks=2)
    assert tuple(two["best"]) == one.best
    assert two["profit"] == pytest.approx(one.outcome.profit, rel=1e-9)
    assert two["points"] == sorted(map(list, one.points))
    assert two["thresholds"] == one.thresholds.tolist()


@pytest.mark.slow
def test_search_agrees_with_exact_on_the_default_system() -> None:
    # two microgrids of the default system on 8 clustered days: the operator profits at 2 of
    # the 1681 lattice points, where the previous search found none
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies" / "benchmarks"))
    from ef_vs_highs import scaled_system

    from scenarios_gen.pipeline import scenarios_for

    system = scaled_system(2)
    game = build_game(system, scenarios_for(system, n_clusters=8, seed=0))
    found = search_prices(game)
    assert found.outcome.profit > 0
    exact = solve_exact(game, start=found.outcome)
    assert exact.termination == "Optimal"
    assert exact.outcome.profit == pytest.approx(found.outcome.profit, rel=1e-6)


def test_report(tmp_path: Path) -> None:
    system, scenarios = tiny()
    ds = lease_game(system, scenarios, method="both", box=TINY_BOX, coarse=5)
    summary = lease_game_summary(ds)
    assert summary["leases"] is True
    assert summary["operator_profit_per_yr"] == pytest.approx(1.65, abs=1e-6)
    assert summary["margin"] == pytest.approx(1.65 / 2.4, abs=1e-6)
    assert summary["overbooking_ratio"] == pytest.approx(1.6, abs=1e-6)
    assert [m["saving_per_yr"] for m in summary["microgrids"].values()] == \
        pytest.approx([0.0, 0.0], abs=1e-6)
    # cooperative: one station of 10 kWh / 10 kW (0.75) and 1.6 of energy; the market
    # costs the same, and its value (4 - 2.35) goes to the operator
    assert summary["cooperative_cost_per_yr"] == pytest.approx(2.35)
    assert summary["efficiency_loss_per_yr"] == pytest.approx(0.0, abs=1e-6)
    assert summary["value_split"]["operator_per_yr"] == pytest.approx(1.65, abs=1e-6)
    assert summary["exact"]["gap"] <= 1e-6 and summary["search"]["points"] > 0
    json.dumps(summary)
    assert ds.sizes["plane_energy_price"] == 5 and ds.sizes["plane_power_price"] == 5
    assert float(ds["plane_profit"].max()) <= 1.65 + 1e-6
    path = write_result(ds, tmp_path / "lease.nc")
    with xr.open_dataset(path) as back:
        assert float(back["profit"]) == pytest.approx(1.65, abs=1e-6)
    table = lease_game_table(ds)
    assert "overbooking 1.600" in table and "on the participation boundary" in table
    # without a cycle life the station's cells last the calendar life at 1.6 cycles a year
    assert summary["station_life_yr"] == pytest.approx(1.0)
    assert summary["station_cycles_per_yr"] == pytest.approx(1.6, abs=1e-6)
    assert "cells last" not in table


def test_report_with_a_cycle_life() -> None:
    # test_brute_force_with_a_cycle_life_matches_exact's game: the market costs what the
    # cooperative optimum does (energy 1.6 and the station 1.325), the operator takes the
    # value 2.9 + 1.74 - 2.925; the station's cells last 0.5 of their 1 year
    system, scenarios = tiny(**AGED, cycle_life=1.0)
    ds = lease_game(system, scenarios, method="both", box=TINY_BOX, coarse=5)
    summary = lease_game_summary(ds)
    assert summary["operator_profit_per_yr"] == pytest.approx(1.715, abs=1e-6)
    assert summary["station_cost_per_yr"] == pytest.approx(1.325, abs=1e-6)
    assert summary["cooperative_cost_per_yr"] == pytest.approx(2.925, abs=1e-9)
    assert summary["efficiency_loss_per_yr"] == pytest.approx(0.0, abs=1e-6)
    assert summary["station_life_yr"] == pytest.approx(0.5, abs=1e-9)
    assert summary["station_cycles_per_yr"] == pytest.approx(1.6, abs=1e-9)
    assert summary["search"]["profit_per_yr"] == pytest.approx(1.715, abs=1e-6)
    assert ds["station_life_yr"].attrs["units"] == "yr"
    assert "station cells last 0.5 yr of 1.0 (1.6 equivalent full cycles a year" in \
        lease_game_table(ds)


def test_no_one_leases_is_a_result() -> None:
    # every price of the box is dearer than an own battery
    system, scenarios = tiny()
    ds = lease_game(system, scenarios, method="both", box=PriceBox((0.2, 0.3), (0.1, 0.2),
                                                                 levels=3), coarse=3)
    summary = lease_game_summary(ds)
    assert summary["leases"] is False and summary["operator_profit_per_yr"] == 0.0
    assert summary["overbooking_ratio"] is None
    assert summary["efficiency_loss_per_yr"] == pytest.approx(4.0 - 2.35)
    assert "no one leases" in lease_game_table(ds)


@pytest.mark.parametrize("bounds, match", [
    ({"energy": (-1.0, 0.2)}, "energy price bounds"),
    ({"power": (0.2, 0.1)}, "power price bounds"),
    ({"fee": (float("nan"), 0.1)}, "fee price bounds"),
    ({"levels": 1}, "price levels")])
def test_bad_price_box(bounds: dict[str, Any], match: str) -> None:
    args = {"energy": (0.0, 0.2), "power": (0.0, 0.1), **bounds}
    with pytest.raises(InputError, match=match):
        PriceBox(**args)


def test_bad_inputs() -> None:
    system, scenarios = tiny()
    idle = scenarios.copy(deep=True)
    idle["load_kw"].loc[{"microgrid": "b"}] = 0.0
    with pytest.raises(InputError, match="microgrid 'b': no load"):
        build_game(system, idle, TINY_BOX)
    with pytest.raises(InputError, match="method"):
        lease_game(system, scenarios, method="guess")
    unbounded = make_system([{"name": "a"}, {"name": "b"}], storage=LOSSLESS)
    with pytest.raises(InputError, match="import_limit_kw"):
        build_game(unbounded, scenarios, TINY_BOX)
    charged = replace(system, tariff=replace(system.tariff, demand_charge_per_kw=1.0))
    with pytest.raises(InputError, match="lease game: demand charges") as refused:
        build_game(charged, scenarios, TINY_BOX)
    assert "cycle" not in str(refused.value) and "\n" not in str(refused.value)
    # the baseline sweep does not price the station's cycles: refused before any solve
    aged = replace(system, storage=replace(system.storage, cycle_life=100.0))
    with pytest.raises(InputError, match="lease sweep \\(baseline\\): storage.cycle_life"):
        lease_sweep(aged, scenarios, [0.1], [0.05])


def test_indifferent_microgrids_are_the_operators_choice_and_unservable_points_closed(
        tmp_path: Path) -> None:
    # two microgrids, a station limited to 30 kW: at the top of the price box both are
    # indifferent between a lease and their own battery, the station cannot serve both, and
    # the operator (optimistic, as the MILP) takes one. The search agrees with the MILP
    # instead of failing on the unservable point or calling it "no one leases".
    from framework.system import load_system
    from scenarios_gen.pipeline import scenarios_for
    from tests.framework.test_study import DAYS, SYSTEM

    (tmp_path / "days.csv").write_text(DAYS)
    (tmp_path / "system.toml").write_text(SYSTEM.replace(
        "lifetime_yr = 10.0", "lifetime_yr = 10.0\npower_max_kw = 30.0"))
    system = load_system(tmp_path / "system.toml")
    scenarios = scenarios_for(system)
    ds = lease_game(system, scenarios, method="both")
    assert ds.attrs["exact_termination"] == "Optimal"
    assert float(ds["profit"]) == pytest.approx(5.215274, rel=1e-5)
    assert ds.attrs["search_profit"] == pytest.approx(float(ds["profit"]), rel=1e-9)
    assert ds["participates"].values.tolist() == [1, 0]
    game = build_game(system, scenarios)
    prices = (float(ds["energy_price"]), float(ds["power_price"]), float(ds["fee_per_kwh"]))
    both = evaluate(game, prices, participates=np.array([True, True]))
    assert not both.servable and both.profit == -np.inf
    chosen = evaluate(game, prices)
    assert chosen.servable and chosen.participates.tolist() == [True, False]
    assert chosen.profit == pytest.approx(float(ds["profit"]), rel=1e-9)
