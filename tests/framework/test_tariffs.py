"""Per-microgrid prices and demand charges (``framework/model/demand.py``) on tiny systems
computed by hand. ``days_per_year = 1`` and a lossless, nearly free battery
(``c_E = 0.01``, ``c_P = 0.001`` a year) unless a test says otherwise; a value of lost load
of 1000 keeps shedding dearer than any peak here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from framework.errors import InputError
from framework.model import build_scenario_model, scenario_data
from framework.results import summary
from framework.solve.ef import solve_ef
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system

STORAGE = {**LOSSLESS, "capex_energy_per_kwh": 0.01, "capex_power_per_kw": 0.001,
           "lifetime_yr": 1.0, "discount_rate": 0.0}


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-6, abs=1e-6)


def system(microgrids: list[dict], **tariff: Any):
    return make_system(microgrids, storage=STORAGE, tariff={
        "price_buy_per_kwh": 1.0, "price_sell_per_kwh": 0.0, "grid_co2_kg_per_kwh": 0.0,
        "voll_per_kwh": 1000.0, "billing_period": "year", **tariff})


def with_days(ds, days: list[str], membership: list[int]):
    """The scenario set with historical days and their scenarios."""
    return ds.assign_coords(day=np.array(days, dtype="datetime64[ns]")).assign(
        membership=("day", np.array(membership)))


def test_a_battery_shaves_the_one_peak_that_the_demand_charge_prices() -> None:
    # load 0 then 2 kW at a flat price: 2 kWh cost 2 either way; without storage the peak is
    # 2 kW (charge 2), a 1 kWh battery charged in the first hour halves it (charge 1)
    sys_ = system([{"name": "mg0"}], demand_charge_per_kw=1.0)
    days = make_scenarios([[[0.0], [2.0]]])
    none = solve_ef(sys_, days, "none").sel(mode="none")
    assert float(none["demand_charge_annual"]) == approx(2.0)
    assert float(none["annual_cost"]) == approx(2.0 + 2.0)
    own = solve_ef(sys_, days, "individual")
    ds = own.sel(mode="individual")
    assert float(ds["grid_import_kw"].sel(microgrid="mg0", scenario=0).max()) == approx(1.0)
    assert float(ds["billing_peak_kw"].sel(microgrid="mg0", billing_period=0)) == approx(1.0)
    assert float(ds["annual_cost"]) == approx(2.0 + 1.0 + 0.01 + 0.001)
    assert summary(own)["modes"]["individual"]["annual_cost_split"]["demand_charges"] == \
        approx(1.0)


def test_monthly_peaks_follow_the_days_of_each_cluster() -> None:
    # scenario 0 (2 kW peak) stands for a January day, scenario 1 (1 kW) for two February
    # days: two months present, each billed 12 / 2 = 6 times a year, 6 * (2 + 1) = 18
    sys_ = system([{"name": "mg0"}], demand_charge_per_kw=1.0, billing_period="month")
    days = with_days(make_scenarios([[[0.0], [2.0]], [[1.0], [1.0]]], probability=[1 / 3, 2 / 3]),
                     ["2016-01-05", "2016-02-01", "2016-02-02"], [0, 1, 1])
    ds = solve_ef(sys_, days, "none").sel(mode="none")
    assert ds["billing_period"].values.tolist() == [1, 2]
    assert ds["billing_peak_kw"].sel(microgrid="mg0").values.tolist() == approx([2.0, 1.0])
    assert float(ds["demand_charge_annual"]) == approx(6 * (2.0 + 1.0))


def test_one_cluster_in_two_months_sets_both_peaks() -> None:
    sys_ = system([{"name": "mg0"}], demand_charge_per_kw=1.0, billing_period="month")
    days = with_days(make_scenarios([[[0.0], [2.0]], [[1.0], [1.0]]]),
                     ["2016-01-05", "2016-02-01", "2016-03-02"], [0, 0, 1])
    ds = solve_ef(sys_, days, "none").sel(mode="none")
    # months 1 and 2 from scenario 0 (2 kW), month 3 from scenario 1 (1 kW); 12 / 3 = 4 bills
    assert ds["billing_peak_kw"].sel(microgrid="mg0").values.tolist() == approx([2, 2, 1])
    assert float(ds["demand_charge_annual"]) == approx(4 * 5.0)


def test_coincident_peak_is_lower_than_the_sum_of_individual_peaks() -> None:
    # mg0 peaks in the first hour, mg1 in the second: each pays on 2 kW, the community on 2
    load = [[[2.0, 0.0], [0.0, 2.0]]]
    each = solve_ef(system([{"name": "mg0"}, {"name": "mg1"}], demand_charge_per_kw=1.0),
                    make_scenarios(load), "none").sel(mode="none")
    assert float(each["demand_charge_annual"]) == approx(4.0)
    together = solve_ef(system([{"name": "mg0"}, {"name": "mg1"}],
                               coincident_demand_charge_per_kw=1.0),
                        make_scenarios(load), "none").sel(mode="none")
    assert float(together["demand_charge_annual"]) == approx(2.0)
    assert float(together["billing_coincident_peak_kw"].sel(billing_period=0)) == approx(2.0)


def test_a_microgrids_own_demand_charge_replaces_the_tariffs() -> None:
    load = [[[2.0, 0.0], [0.0, 2.0]]]
    sys_ = system([{"name": "mg0", "demand_charge_per_kw": 0.0}, {"name": "mg1"}],
                  demand_charge_per_kw=1.0)
    ds = solve_ef(sys_, make_scenarios(load), "none").sel(mode="none")
    assert float(ds["demand_charge_annual"]) == approx(2.0)


def test_per_microgrid_prices() -> None:
    # mg0 buys at its own 0.1 then 0.5, mg1 at the tariff's 1.0; 1 kWh each in each hour
    sys_ = system([{"name": "mg0", "price_buy_per_kwh": [0.1, 0.5]}, {"name": "mg1"}])
    ds = solve_ef(sys_, make_scenarios([[[1.0, 1.0], [1.0, 1.0]]]), "none").sel(mode="none")
    assert float(ds["annual_operating_cost"].sel(cost_term="energy")) == approx(0.6 + 2.0)
    # an own battery shifts mg0's second hour to its cheap first hour: 0.2 + 2 + capex
    own = solve_ef(sys_, make_scenarios([[[1.0, 1.0], [1.0, 1.0]]]), "individual")
    assert float(own["annual_cost"].sel(mode="individual")) == approx(
        0.2 + 2.0 + 0.01 + 0.001)


def test_feed_in_above_a_microgrids_own_purchase_price_is_refused() -> None:
    with pytest.raises(InputError, match=r"microgrid 'mg0': price_sell_per_kwh: expected at "
                                         r"most microgrid 'mg0': price_buy_per_kwh"):
        system([{"name": "mg0", "price_buy_per_kwh": 0.01}], price_sell_per_kwh=0.05)


def test_billing_period_is_checked() -> None:
    with pytest.raises(InputError, match="tariff.billing_period: expected one of"):
        system([{"name": "mg0"}], billing_period="week")


def test_a_model_of_one_day_refuses_demand_charges() -> None:
    sys_ = system([{"name": "mg0"}], demand_charge_per_kw=1.0)
    with pytest.raises(InputError, match=r"^tariff.demand_charge_per_kw: .*extensive form"):
        build_scenario_model(sys_, scenario_data(make_scenarios([[[1.0]]]), 0), "individual")


def test_ccg_prices_each_microgrid_at_its_own_tariff() -> None:
    # Gamma = 0 is the stochastic model: C&CG's plan and cost are the extensive form's with
    # mg0 at its own time-of-use prices and mg1 at the tariff's flat price
    from framework.robust import CCGConfig
    from framework.robust.storage import plan_ccg

    sys_ = system([{"name": "mg0", "price_buy_per_kwh": [0.1, 0.5]}, {"name": "mg1"}])
    days = make_scenarios([[[1.0, 1.0], [1.0, 1.0]]])
    for q in ("load_kw", "pv_pu", "wind_pu"):  # no spread around the day
        days[f"{q}_quantile"] = days[q].expand_dims(quantile=[0.1, 0.9])
    robust = plan_ccg(sys_, days, "individual", gamma=0, config=CCGConfig(rel_gap=1e-9))
    assert float(robust["objective"].sel(mode="individual")) == approx(0.2 + 2.0 + 0.011)
