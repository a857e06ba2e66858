"""Chronological operation (``framework/chronological.py``): days linked in order, the state
of charge carried from one to the next, on tiny systems computed by hand.

``days_per_year`` is the number of days, so an annual cost is the sum over the days; the
battery is lossless with the full window and costs ``c_E = 0.01`` per kWh, ``c_P = 0.001``
per kW a year; grid energy costs 1 per kWh, export earns nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr

from framework.chronological import (
    check_chronological,
    evaluate_chronological,
    solve_chronological,
)
from framework.errors import InputError
from framework.solve.ef import solve_ef
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system

STORAGE = {**LOSSLESS, "capex_energy_per_kwh": 0.01, "capex_power_per_kw": 0.001,
           "lifetime_yr": 1.0, "discount_rate": 0.0}


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-6, abs=1e-6)


def consecutive(ds: xr.Dataset, start: str = "2016-06-01") -> xr.Dataset:
    """The scenario set as consecutive historical days, each its own scenario."""
    n = ds.sizes["scenario"]
    days = np.datetime64(start, "ns") + np.arange(n) * np.timedelta64(1, "D")
    return ds.assign_coords(day=days).assign(membership=("day", np.arange(n)))


def system(days: int, **storage: Any):
    return make_system([{"name": "mg0", "pv_kw": 1.0}], storage={**STORAGE, **storage},
                       tariff={"price_buy_per_kwh": 1.0, "price_sell_per_kwh": 0.0,
                               "grid_co2_kg_per_kwh": 0.0},
                       planning={"days_per_year": float(days)})


def sunny_then_dark() -> xr.Dataset:
    """Day 1: 2 kWh of PV and no load; day 2: no sun and 2 kWh of load."""
    load = [[[0.0], [0.0]], [[1.0], [1.0]]]
    pv = [[[1.0], [1.0]], [[0.0], [0.0]]]
    return consecutive(make_scenarios(load, pv_pu=pv))


def test_two_linked_days_move_energy_that_two_cyclic_days_cannot() -> None:
    days = sunny_then_dark()
    cyclic = solve_ef(system(2), days, "individual").sel(mode="individual")
    # cyclic days: a battery cannot take day 1's PV into day 2, which buys its 2 kWh
    assert float(cyclic["cap_energy_kwh"].sel(storage="mg0")) == approx(0.0)
    assert float(cyclic["annual_cost"]) == approx(2.0)
    linked = solve_chronological(system(2), days, "individual").sel(mode="individual")
    # linked: 2 kWh stored on day 1 serve day 2; only the battery is paid, 2 * 0.01 + 0.001
    assert float(linked["cap_energy_kwh"].sel(storage="mg0")) == approx(2.0)
    assert float(linked["annual_cost"]) == approx(0.021)
    assert float(linked["soc_kwh"].sel(scenario=0, storage="mg0", step=1)) == approx(2.0)
    assert float(linked["grid_import_kw"].sum()) == approx(0.0)


@pytest.mark.parametrize("mode", ["accounts", "pooled"])
def test_a_station_carries_energy_across_days_too(mode: str) -> None:
    linked = solve_chronological(system(2), sunny_then_dark(), mode).sel(mode=mode)
    assert float(linked["annual_cost"]) == approx(0.021)


def test_daily_arbitrage_costs_the_same_chronologically_and_as_cyclic_days() -> None:
    # each day: cheap first hour, dear second hour with 1 kWh of load; the cyclic optimum
    # starts and ends every day empty, so linking the days changes nothing
    sys_ = make_system([{"name": "mg0"}], storage=STORAGE, planning={"days_per_year": 3.0},
                       tariff={"price_buy_per_kwh": [0.2, 1.0], "price_sell_per_kwh": 0.0,
                               "grid_co2_kg_per_kwh": 0.0})
    days = consecutive(make_scenarios([[[0.0], [1.0]], [[0.0], [1.0]], [[0.0], [0.5]]]))
    plan = solve_ef(sys_, days, "individual")
    ev = evaluate_chronological(sys_, days, plan)
    expected = 0.2 * 2.5 + 0.011
    assert float(ev["cyclic_annual_cost"].sel(mode="individual")) == approx(expected)
    assert float(ev["chronological_annual_cost"].sel(mode="individual")) == approx(expected)
    assert float(ev["chronology_gap"].sel(mode="individual")) == approx(0.0)
    assert ev.attrs["method"] == "chronological-evaluation"


def test_chronological_operation_of_a_cyclic_plan_is_never_cheaper_than_the_linked_optimum(
        ) -> None:
    days = sunny_then_dark()
    plan = solve_ef(system(2), days, "individual")
    ev = evaluate_chronological(system(2), days, plan)
    linked = solve_chronological(system(2), days, "individual")
    assert float(ev["chronological_annual_cost"].sel(mode="individual")) >= float(
        linked["annual_cost"].sel(mode="individual")) - 1e-9
    # the cyclic plan built nothing: chronological operation costs what it planned, 2
    assert float(ev["planning_gap"].sel(mode="individual")) == approx(0.0)


def test_demand_charge_of_the_month_is_exact_on_linked_days() -> None:
    # the second day's 2 kWh at 1 kW each hour (peak 1 kW); a demand charge of 1 per kW and
    # month: June, one month billed 12 times a year
    sys_ = make_system([{"name": "mg0", "pv_kw": 1.0}], storage={**STORAGE, "energy_max_kwh": 0.0},
                       tariff={"price_buy_per_kwh": 1.0, "price_sell_per_kwh": 0.0,
                               "grid_co2_kg_per_kwh": 0.0, "demand_charge_per_kw": 1.0},
                       planning={"days_per_year": 2.0})
    ds = solve_chronological(sys_, sunny_then_dark(), "individual").sel(mode="individual")
    assert ds["billing_period"].values.tolist() == [6]
    assert float(ds["demand_charge_annual"]) == approx(12.0)
    assert float(ds["annual_cost"]) == approx(2.0 + 12.0)


def test_days_out_of_order_or_clustered_are_refused() -> None:
    clustered = make_scenarios([[[0.0]], [[1.0]]])
    with pytest.raises(InputError, match="every historical day as its own scenario"):
        check_chronological(clustered)
    gap = consecutive(make_scenarios([[[0.0]], [[1.0]]]))
    gap = gap.assign_coords(day=np.array(["2016-06-01", "2016-06-03"], dtype="datetime64[ns]"))
    with pytest.raises(InputError, match="consecutive days; day 2016-06-01 is followed by "
                                         "2016-06-03"):
        check_chronological(gap)
