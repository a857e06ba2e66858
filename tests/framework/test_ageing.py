"""Ageing: the cells' life is the shorter of the calendar life and the cycle life over the
year's cycles (``framework/model/ageing.py``), on tiny systems computed by hand.

The system: one microgrid with 1 kW of PV (``pv_kw = 1``) and a load of 1 kW in the second of
two 1-h steps; the buy price is 0.7 then 1.0, nothing is paid for export. Day A (probability
1/2) has no sun: a battery charged from the grid saves 1.0 - 0.7 = 0.3 per kWh. Day B has
full sun in the first step: a battery stores the PV that would be lost and saves 1.0 per
kWh. The year has 365 days; converters cost 0.001 per kW (0.0001 a year). Cells cost ``c_E = 1000`` per kWh and last 10 years on the
calendar at ``r = 0`` (``capex_annual = 100 E``); a cycle life of 1825 full cycles allows
1825 / 10 = 182.5 cycles a year for the 10 years, exactly the B days. A cycle beyond them
shortens the life: it costs ``c_E / 1825 = 0.548`` per kWh, more than the 0.3 an A day earns,
so with the cycle life the battery serves the B days only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from framework.errors import InputError
from framework.model import build_scenario_model, scenario_data
from framework.model.ageing import chord_error, chords, implied_life_yr
from framework.plotting import plot_capacity_cost
from framework.results import summary
from framework.solve.ef import solve_ef
from framework.system import Storage
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system

STORAGE = {**LOSSLESS, "capex_energy_per_kwh": 1000.0, "capex_power_per_kw": 0.001,
           "lifetime_yr": 10.0, "discount_rate": 0.0}
TARIFF = {"price_buy_per_kwh": [0.7, 1.0], "price_sell_per_kwh": 0.0,
          "grid_co2_kg_per_kwh": 0.0}


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-6, abs=1e-6)


def two_days():
    load = np.array([[[0.0], [1.0]], [[0.0], [1.0]]])
    pv = np.array([[[0.0], [0.0]], [[1.0], [0.0]]])
    return make_scenarios(load, pv_pu=pv)


def plan(**storage: Any):
    system = make_system([{"name": "mg0", "pv_kw": 1.0}], tariff=TARIFF,
                         storage={**STORAGE, **storage}, planning={"days_per_year": 365.0})
    return system, solve_ef(system, two_days(), "individual").sel(mode="individual")


def test_calendar_life_only_cycles_every_day() -> None:
    _, ds = plan()
    # E = 1: 100 a year; A days buy at 0.7, B days store PV: 100 + 365 * 0.5 * 0.7
    assert float(ds["cap_energy_kwh"].sel(storage="mg0")) == approx(1.0)
    assert float(ds["annual_cost"]) == approx(100.0 + 365 * 0.5 * 0.7 + 0.0001)
    assert float(ds["equivalent_full_cycles_per_yr"].sel(storage="mg0")) == approx(365.0)
    assert float(ds["implied_life_yr"].sel(storage="mg0")) == approx(10.0)


def test_cycle_life_binds_and_the_battery_rests_on_days_that_earn_less_than_wear() -> None:
    _, ds = plan(cycle_life=1825.0, cycle_life_dod=1.0)
    assert float(ds["cap_energy_kwh"].sel(storage="mg0")) == approx(1.0)
    # A days: no cycle, buy 1 kWh at 1.0; B days: PV stored; cells 100 a year at 10 years
    assert float(ds["annual_cost"]) == approx(100.0 + 365 * 0.5 * 1.0 + 0.0001)
    assert float(ds["discharge_kw"].sel(scenario=0, microgrid="mg0").sum()) == approx(0.0)
    assert float(ds["equivalent_full_cycles_per_yr"].sel(storage="mg0")) == approx(182.5)
    assert float(ds["implied_life_yr"].sel(storage="mg0")) == approx(10.0)  # at the cap
    assert float(ds["capex_annual"]) == approx(100.0 + 0.0001)


def test_a_short_cycle_life_pays_a_shorter_annuity() -> None:
    # 730 cycles: the B days alone wear the cells in 730 / 182.5 = 4 years, 250 a year for
    # E = 1, against 182.5 saved on B days: no battery (cost 365 * 1.0)
    _, ds = plan(cycle_life=730.0, cycle_life_dod=1.0)
    assert float(ds["cap_energy_kwh"].sel(storage="mg0")) == approx(0.0)
    assert float(ds["annual_cost"]) == approx(365.0)


def test_cycles_beyond_the_calendar_allowance_shorten_the_life() -> None:
    # 1460 cycles: a cycle costs 1000 / 1460 = 0.685 per kWh, below the 1.0 a B day earns and
    # above the 0.3 of an A day; B days alone wear the cells in 1460 / 182.5 = 8 years
    # (at r = 0 a larger battery cycling less would cost the same; O&M of 0.1 % a year, 1 per
    # kWh, makes E = 1 the one optimum)
    system, days = plan_inputs(cycle_life=1460.0, cycle_life_dod=1.0, om_fraction_per_yr=0.001)
    result = solve_ef(system, days, "individual")
    ds = result.sel(mode="individual")
    assert float(ds["cap_energy_kwh"].sel(storage="mg0")) == approx(1.0)
    assert float(ds["implied_life_yr"].sel(storage="mg0")) == approx(8.0)
    assert float(ds["capex_annual"]) == approx(1000.0 / 8 + 1.0 + 0.0001 + 0.000001)
    assert float(ds["annual_cost"]) == approx(126.000101 + 365 * 0.5 * 1.0)
    diagnostics = summary(result)["modes"]["individual"]["diagnostics"]
    assert diagnostics["implied_life_yr"]["mg0"] == approx(8.0)
    assert diagnostics["equivalent_full_cycles_per_yr"]["mg0"] == approx(182.5)
    # the capacity figure says how long the cells last when cycling shortens their life
    texts = [t.get_text() for ax in plot_capacity_cost(result).axes for t in ax.texts]
    assert "cells last 8.0 yr" in texts
    _, calendar = plan()
    assert not any(t.get_text().startswith("cells last") for ax in plot_capacity_cost(
        calendar.expand_dims("mode")).axes for t in ax.texts)


def plan_inputs(**storage: Any):
    system = make_system([{"name": "mg0", "pv_kw": 1.0}], tariff=TARIFF,
                         storage={**STORAGE, **storage}, planning={"days_per_year": 365.0})
    return system, two_days()


def test_reference_depth_scales_the_rated_throughput() -> None:
    # 2281.25 cycles at 80 % depth deliver 1825 kWh per kWh of E: the same as 1825 at 100 %
    _, ds = plan(cycle_life=2281.25, cycle_life_dod=0.8)
    assert float(ds["annual_cost"]) == approx(100.0 + 365 * 0.5 * 1.0 + 0.0001)


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.08])
def test_chords_match_the_annuity_at_their_breakpoints(rate: float) -> None:
    tech = Storage(lifetime_yr=15.0, discount_rate=rate)
    lines = chords(tech)
    for j, (a, b) in enumerate(lines):
        for life in (15.0 / 2 ** j, 15.0 / 2 ** (j + 1)):
            assert a + b / life == pytest.approx(tech.crf_of(life), rel=1e-12)
    above, below = chord_error(tech)
    assert above < (1e-12 if rate == 0 else 0.005)
    assert below < (1e-12 if rate == 0 else 0.001)


def test_implied_life() -> None:
    tech = Storage(lifetime_yr=15.0, cycle_life=6000.0, cycle_life_dod=0.8)
    assert implied_life_yr(tech, 100.0, 100.0 * 0.8 * 760) == pytest.approx(6000 / 760)
    assert implied_life_yr(tech, 100.0, 100.0 * 0.8 * 100) == 15.0
    assert np.isnan(implied_life_yr(tech, 0.0, 0.0))


def test_a_model_of_one_day_refuses_the_cycle_life() -> None:
    system, days = plan_inputs(cycle_life=1825.0)
    with pytest.raises(InputError, match=r"^storage.cycle_life: .*extensive form"):
        build_scenario_model(system, scenario_data(days, 0), "individual")


@pytest.mark.parametrize("value", [0.0, -5.0])
def test_cycle_life_must_be_positive(value: float) -> None:
    with pytest.raises(InputError, match="storage.cycle_life: expected a number of"):
        make_system([{"name": "mg0"}], storage={"cycle_life": value})


def test_with_discounting_the_annuity_is_that_of_the_implied_life_within_the_chord_error(
        ) -> None:
    # r = 5 %: the cells' annual cost is c_E E crf(implied life) up to the chords' error
    system, days = plan_inputs(cycle_life=1460.0, cycle_life_dod=1.0, discount_rate=0.05,
                               om_fraction_per_yr=0.001)
    ds = solve_ef(system, days, "individual").sel(mode="individual")
    energy = float(ds["cap_energy_kwh"].sel(storage="mg0"))
    power = float(ds["cap_power_kw"].sel(storage="mg0"))
    life = float(ds["implied_life_yr"].sel(storage="mg0"))
    tech = system.storage
    assert energy > 0 and life < 10.0
    cells = float(ds["capex_annual"]) - tech.crf * 0.001 * power - 0.001 * (
        1000.0 * energy + 0.001 * power)
    above, below = chord_error(tech)
    exact = 1000.0 * energy * tech.crf_of(life)
    assert exact * (1 - below) - 1e-9 <= cells <= exact * (1 + above) + 1e-9
