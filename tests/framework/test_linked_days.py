"""Representative days linked through the year's sequence of clusters
(``framework/model/linked.py``, ``solve_ef(..., linked=True)``) on tiny systems computed by hand.

As in ``test_chronological.py``: ``days_per_year`` is the number of historical days, the
battery is lossless with the full window and costs ``c_E = 0.01`` per kWh and ``c_P = 0.001``
per kW a year, grid energy costs 1 per kWh, export earns nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from framework.chronological import evaluate_chronological, solve_chronological
from framework.errors import InputError
from framework.model import build_extensive_model, scenario_data
from framework.model.data import day_sequence
from framework.solve.ef import plan_ef, solve_ef
from framework.system import System
from scenarios_gen.pipeline import scenarios_for
from tests.framework.conftest import make_scenarios, make_system
from tests.framework.test_chronological import STORAGE, approx, consecutive, system


def with_sequence(ds: xr.Dataset, sequence: list[int], start: str = "2016-06-01") -> xr.Dataset:
    """Representative days ``ds`` standing for consecutive historical days in ``sequence``."""
    days = np.datetime64(start, "ns") + np.arange(len(sequence)) * np.timedelta64(1, "D")
    return ds.assign_coords(day=days).assign(membership=("day", np.array(sequence)))


def sunny_and_dark() -> xr.Dataset:
    """Two representative days of probability 1/2: sunny (2 kWh of PV, no load) and dark
    (no sun, 2 kWh of load)."""
    return make_scenarios([[[0.0], [0.0]], [[1.0], [1.0]]], pv_pu=[[[1.0], [1.0]], [[0.0], [0.0]]])


@pytest.mark.parametrize(("sequence", "cost", "energy"), [
    # sunny, dark, sunny, dark: each sunny day fills 2 kWh that the next day uses
    ([0, 1, 0, 1], 2 * 0.01 + 0.001, 2.0),
    # sunny, sunny, dark, dark: the store holds two sunny days, 4 kWh
    ([0, 0, 1, 1], 4 * 0.01 + 0.001, 4.0),
])
def test_linked_representative_days_move_energy_that_cyclic_days_cannot(
        sequence: list[int], cost: float, energy: float) -> None:
    days = with_sequence(sunny_and_dark(), sequence)
    cyclic = solve_ef(system(4), days, "individual").sel(mode="individual")
    # cyclic: no battery; two dark days buy 2 kWh each
    assert float(cyclic["cap_energy_kwh"].sel(storage="mg0")) == approx(0.0)
    assert float(cyclic["annual_cost"]) == approx(4.0)
    linked = solve_ef(system(4), days, "individual", linked=True).sel(mode="individual")
    assert float(linked["annual_cost"]) == approx(cost)
    assert float(linked["cap_energy_kwh"].sel(storage="mg0")) == approx(energy)
    assert float(linked["cap_power_kw"].sel(storage="mg0")) == approx(1.0)
    assert float(linked["grid_import_kw"].sum()) == approx(0.0)
    # the state at the start of each historical day: empty after a dark day
    start = {(0, 1, 0, 1): [0.0, 2.0, 0.0, 2.0], (0, 0, 1, 1): [0.0, 2.0, 4.0, 2.0]}
    assert linked["linked_soc_kwh"].sel(storage="mg0").values.tolist() == pytest.approx(
        start[tuple(sequence)], abs=1e-6)
    # the representative day's state relative to its start: +2 on the sunny day
    assert float(linked["soc_kwh"].sel(scenario=0, storage="mg0", step=1)) == approx(2.0)
    assert float(linked["soc_kwh"].sel(scenario=1, storage="mg0", step=1)) == approx(-2.0)
    assert linked.attrs["linked_days"] == 1


@pytest.mark.parametrize("mode", ["individual", "accounts", "pooled", "individual+p2p",
                                  "accounts+p2p", "pooled+p2p", "none"])
def test_every_architecture_builds_and_solves_linked(mode: str) -> None:
    days = with_sequence(sunny_and_dark(), [0, 1, 0, 1])
    ds = plan_ef(system(4), days, modes=[mode], linked=True).sel(mode=mode)
    assert float(ds["annual_cost"]) == approx(4.0 if mode == "none" else 0.021)


def random_days(n: int, seed: int = 1) -> xr.Dataset:
    """``n`` consecutive days of 4 steps of two microgrids, every day its own scenario."""
    rng = np.random.default_rng(seed)
    shape = (n, 4, 2)
    return consecutive(make_scenarios(rng.uniform(0.2, 1.5, shape), pv_pu=rng.uniform(0, 1, shape)))


def two_microgrids(**storage: Any) -> System:
    return make_system(
        [{"name": "mg0", "pv_kw": 2.0}, {"name": "mg1", "pv_kw": 0.5}],
        storage={**STORAGE, "eta_charge": 0.95, "eta_discharge": 0.9, "soc_min_frac": 0.1,
                 "soc_max_frac": 0.9, **storage},
        tariff={"price_buy_per_kwh": [0.3, 1.0, 0.6, 1.2], "price_sell_per_kwh": 0.05,
                "grid_co2_kg_per_kwh": 0.0},
        planning={"days_per_year": 6.0})


@pytest.mark.parametrize("mode", ["individual", "accounts", "pooled"])
def test_every_day_its_own_cluster_is_the_chronological_plan(mode: str) -> None:
    days = random_days(6)
    linked = solve_ef(two_microgrids(), days, mode, linked=True).sel(mode=mode)
    chrono = solve_chronological(two_microgrids(), days, mode).sel(mode=mode)
    assert float(linked["annual_cost"]) == pytest.approx(float(chrono["annual_cost"]),
                                                         rel=1e-6, abs=1e-6)
    assert float(linked["capex_annual"]) > 0.0


def test_with_self_discharge_the_linked_bounds_are_conservative() -> None:
    # the energy at a day's start counts with the whole day's decay at the floor and none at
    # the top: never cheaper than the exact chronological plan, and close to it
    days = random_days(6)
    sys_ = two_microgrids(self_discharge_per_h=0.01)
    linked = float(solve_ef(sys_, days, "individual", linked=True)["annual_cost"][0])
    chrono = float(solve_chronological(sys_, days, "individual")["annual_cost"][0])
    assert chrono - 1e-6 <= linked <= chrono * 1.01


A, B, A2, B2 = [(0.0, 1.0), (0.5, 0.0)], [(0.5, 0.0), (0.5, 0.0)], [(0.1, 0.6), (0.4, 0.0)], \
    [(0.6, 0.1), (0.5, 0.0)]


def csv_system(tmp_path: Path, history: list[list[tuple[float, float]]]) -> System:
    """One microgrid (1 kW of PV) on a CSV history of 12-hour steps: ``(load_kw, pv_pu)``
    per step of each day from 2016-06-01."""
    rows = ["time,load,pv"] + [f"2016-06-{d + 1:02d} {12 * s:02d}:00,{load},{pv}"
                               for d, day in enumerate(history) for s, (load, pv) in enumerate(day)]
    (tmp_path / "history.csv").write_text("\n".join(rows) + "\n")
    sys_ = make_system([{"name": "mg0", "pv_kw": 1.0, "columns": {"load_kw": "load", "pv_pu": "pv"}}],
                       step_h=12.0, storage=STORAGE, planning={"days_per_year": float(len(history))},
                       tariff={"price_buy_per_kwh": 1.0, "price_sell_per_kwh": 0.0,
                               "grid_co2_kg_per_kwh": 0.0})
    return dataclasses.replace(sys_, history=dataclasses.replace(
        sys_.history, source="csv", path=str(tmp_path / "history.csv")))


@pytest.mark.parametrize("extreme_days", [0, 1])
def test_clusters_that_repeat_their_days_exactly_plan_as_the_chronological_year(
        tmp_path: Path, extreme_days: int) -> None:
    # sunny A (12 kWh of PV in the first 12 h, 6 kWh of load in the second), dark B (12 kWh
    # of load), A B A B clustered into A and B (with an extreme day: B of 2016-06-02 alone)
    sys_ = csv_system(tmp_path, [A, B, A, B])
    clustered = scenarios_for(sys_, n_clusters=2, extreme_days=extreme_days)
    assert len(set(day_sequence(clustered).tolist())) == 2 + extreme_days
    history = scenarios_for(sys_, all_days=True)
    cyclic = solve_ef(sys_, clustered, "individual")
    linked = solve_ef(sys_, clustered, "individual", linked=True)
    # cyclic: 6 kWh at 0.5 kW shift A's noon PV to its evening; B buys its 12 kWh, twice
    assert float(cyclic["annual_cost"][0]) == approx(24.0 + 6 * 0.01 + 0.5 * 0.001)
    # linked: 12 kWh at 1 kW store all of A's PV; 6 kWh serve B's first half day
    assert float(linked["annual_cost"][0]) == approx(2 * 6.0 + 12 * 0.01 + 0.001)
    assert float(solve_chronological(sys_, history, "individual")["annual_cost"][0]) == approx(
        float(linked["annual_cost"][0]))
    for plan in (cyclic, linked):
        ev = evaluate_chronological(sys_, history, plan)
        # clusters without spread: each plan's year costs what it planned
        assert float(ev["planning_gap"][0]) == approx(0.0)
        assert float(ev["chronological_annual_cost"][0]) >= float(
            linked["annual_cost"][0]) - 1e-6


def test_operated_in_order_a_plan_is_never_cheaper_than_the_chronological_optimum(
        tmp_path: Path) -> None:
    # with spread in the clusters (A and A2, B and B2) neither plan's planned cost bounds its
    # chronological operation: here the linked plan plans 16.89 and operates at 19.89, the
    # cyclic one 24.05 both; what holds is the chronological optimum (16.92) as a floor
    sys_ = csv_system(tmp_path, [A, B, A2, B2])
    clustered = scenarios_for(sys_, n_clusters=2)
    history = scenarios_for(sys_, all_days=True)
    best = float(solve_chronological(sys_, history, "individual")["annual_cost"][0])
    for linked in (False, True):
        plan = solve_ef(sys_, clustered, "individual", linked=linked)
        ev = evaluate_chronological(sys_, history, plan)
        assert float(ev["chronological_annual_cost"][0]) >= best - 1e-6


def test_a_set_without_membership_or_with_gaps_is_refused() -> None:
    with pytest.raises(InputError, match="^scenarios: linked representative days need the "
                                         "day-to-scenario membership"):
        solve_ef(system(2), sunny_and_dark(), "individual", linked=True)
    unassigned = with_sequence(sunny_and_dark(), [0, -1, 1])
    with pytest.raises(InputError, match="every historical day in a scenario; day 2016-06-02"):
        day_sequence(unassigned)
    gap = with_sequence(sunny_and_dark(), [0, 1]).assign_coords(
        day=np.array(["2016-06-01", "2016-06-03"], dtype="datetime64[ns]"))
    with pytest.raises(InputError, match="linking representative days needs consecutive days"):
        day_sequence(gap)
    data = [scenario_data(sunny_and_dark(), k) for k in range(2)]
    with pytest.raises(InputError, match="either chronological or"):
        build_extensive_model(system(2), data, "individual", chronological=True, linked=[0, 1])
