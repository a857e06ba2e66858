"""The leasing game: market outcomes by hand, brute force over the price lattice against the
exact MILP, the search (its participation thresholds, its equilibrium, on 1 and 2 MPI ranks)
against the exact MILP, the report, and bad inputs."""

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
from framework.lease.search import participation
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
    for coupled in (replace(system, storage=replace(system.storage, cycle_life=100.0)),
                    replace(system, tariff=replace(system.tariff, demand_charge_per_kw=1.0))):
        with pytest.raises(InputError, match="cycle_life and demand charges"):
            build_game(coupled, scenarios, TINY_BOX)
