"""The planning model on tiny systems whose optimum is computed by hand.

Every system here has ``days_per_year = 1`` (the default of ``make_system``), so the
objective is ``capex_annual + sum_s pi_s * daily_cost_s``. Unless a test says otherwise the
storage annuity is ``crf + om = 1`` (``lifetime_yr = 1``, ``discount_rate = 0``, no O&M), so
``capex_annual = c_E * E + c_P * P``, the storage is lossless with the full SOC window
(``LOSSLESS``), the feed-in price and the CO2 factor are 0, and the expected value is written
as the arithmetic that gives it.

The architectures here are own batteries (``individual``) and the two shared stations
(``accounts``, ``pooled``) as storage; energy exchange between microgrids (``pooled``
within one step, ``p2p``) and the diagnostics are in ``test_architectures.py``.

Every solve goes through :func:`solve`, which also checks that the reported ``annual_cost``
equals the solver's objective and that evaluating the optimal plan with ``fixed_capacity``
gives the same objective.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr

from framework.solve.ef import plan_ef, solve_ef
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system

# crf = 1/n with r = 0 and n = 1, no O&M: capex_annual = c_E * E + c_P * P
UNIT_ANNUITY = {"lifetime_yr": 1.0, "discount_rate": 0.0, "om_fraction_per_yr": 0.0}
# small capacity prices: they make the optimal E and P unique without changing the dispatch
CHEAP = {"capex_energy_per_kwh": 0.01, "capex_power_per_kw": 0.001}
NO_STORAGE = {"energy_max_kwh": 0.0, "power_max_kw": 0.0}


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-6, abs=1e-6)


def storage(**overrides: Any) -> dict[str, Any]:
    return {**LOSSLESS, **UNIT_ANNUITY, **CHEAP, **overrides}


def tariff(buy: Any, **overrides: Any) -> dict[str, Any]:
    return {"price_buy_per_kwh": buy, "price_sell_per_kwh": 0.0, "grid_co2_kg_per_kwh": 0.0,
            "voll_per_kwh": 10.0, **overrides}


def one_day(*columns: list[float]) -> np.ndarray:
    """One scenario from per-microgrid step lists: ``one_day([0, 10], [5, 5])``."""
    return np.array(columns, dtype=float).T[None, :, :]


def solve(system: Any, scenarios: xr.Dataset, mode: str = "individual",
          **kwargs: Any) -> xr.Dataset:
    """Solve one mode, check the bookkeeping, and return the result of that mode."""
    ds = solve_ef(system, scenarios, mode, **kwargs).sel(mode=mode)
    assert str(ds["termination"].values) == "optimal"
    objective = float(ds["objective"])
    assert float(ds["annual_cost"]) == approx(objective)
    assert float(ds["capex_annual"] + ds["annual_operating_cost"].sum()) == approx(objective)
    fixed = {name: {str(k): float(ds[name].sel(storage=k)) for k in ds["storage"].values}
             for name in ("cap_energy_kwh", "cap_power_kw")}
    kwargs.pop("fixed_capacity", None)
    evaluated = solve_ef(system, scenarios, mode, fixed_capacity=fixed, **kwargs).sel(mode=mode)
    assert evaluated.attrs["method"] == "evaluation"
    assert float(evaluated["objective"]) == approx(objective)
    assert float(evaluated["annual_cost"]) == approx(objective)
    return ds


def cap(ds: xr.Dataset, storage_name: str = "mg0") -> tuple[float, float]:
    return (float(ds["cap_energy_kwh"].sel(storage=storage_name)),
            float(ds["cap_power_kw"].sel(storage=storage_name)))


def flow(ds: xr.Dataset, name: str, mg: str = "mg0", scenario: int = 0) -> list[float]:
    return [float(v) for v in ds[name].sel(scenario=scenario, microgrid=mg).values]


def term(ds: xr.Dataset, name: str) -> float:
    return float(ds["annual_operating_cost"].sel(cost_term=name))


# --- grid energy, arbitrage and the storage's losses -------------------------------------


def test_no_storage_pays_the_grid_at_time_of_use_prices() -> None:
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.2, 0.4]),
                         storage=storage(**NO_STORAGE))
    ds = solve(system, make_scenarios(one_day([1.0, 2.0, 3.0])))
    assert float(ds["objective"]) == approx(0.1 * 1 + 0.2 * 2 + 0.4 * 3)
    assert flow(ds, "grid_import_kw") == [approx(1.0), approx(2.0), approx(3.0)]
    assert term(ds, "energy") == approx(0.1 * 1 + 0.2 * 2 + 0.4 * 3)


def test_charge_and_discharge_efficiency() -> None:
    """9 kWh delivered at t1 take 9 / 0.9 = 10 kWh out of the storage and 10 / 0.9 in."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 1.0]),
                         storage=storage(eta_charge=0.9, eta_discharge=0.9))
    ds = solve(system, make_scenarios(one_day([0.0, 9.0])))
    charged = 9.0 / 0.9 / 0.9
    assert float(ds["objective"]) == approx(0.1 * charged + 0.01 * 10.0 + 0.001 * charged)
    assert cap(ds) == (approx(10.0), approx(charged))
    assert flow(ds, "charge_kw") == [approx(charged), approx(0.0)]
    assert flow(ds, "discharge_kw") == [approx(0.0), approx(9.0)]
    assert flow(ds, "grid_import_kw") == [approx(charged), approx(0.0)]
    assert [float(v) for v in ds["soc_kwh"].sel(scenario=0, storage="mg0")] == [
        approx(10.0), approx(0.0)]


def test_soc_window_forces_a_larger_energy_capacity() -> None:
    """6 kWh moved in a 20 %..80 % window need E = 6 / 0.6 = 10 kWh."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 1.0]),
                         storage=storage(soc_min_frac=0.2, soc_max_frac=0.8))
    ds = solve(system, make_scenarios(one_day([0.0, 6.0])))
    assert float(ds["objective"]) == approx(0.1 * 6 + 0.01 * 10 + 0.001 * 6)
    assert cap(ds) == (approx(10.0), approx(6.0))
    assert [float(v) for v in ds["soc_kwh"].sel(scenario=0, storage="mg0")] == [
        approx(8.0), approx(2.0)]
    # 6 kWh discharged per day (days_per_year = 1) over a usable 0.6 * 10 kWh
    assert float(ds["equivalent_full_cycles_per_yr"].sel(storage="mg0")) == approx(6 / 6)


def test_self_discharge_over_a_step() -> None:
    """10 % per hour: soc[1] = 0.9 * soc[0] - 9 = 0 needs soc[0] = 10 kWh charged at t0."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 1.0]),
                         storage=storage(self_discharge_per_h=0.1))
    ds = solve(system, make_scenarios(one_day([0.0, 9.0])))
    assert float(ds["objective"]) == approx(0.1 * 10 + 0.01 * 10 + 0.001 * 10)
    assert cap(ds) == (approx(10.0), approx(10.0))
    assert flow(ds, "charge_kw") == [approx(10.0), approx(0.0)]
    assert [float(v) for v in ds["soc_kwh"].sel(scenario=0, storage="mg0")] == [
        approx(10.0), approx(0.0)]


def test_self_discharge_acts_above_the_soc_floor() -> None:
    """Floor 50 %, 10 %/h on the energy above it: u = soc - 0.5 E; u1 = 0.9 u0 - 9 = 0 needs
    u0 = 10 kWh, charged at t0 (u0 = 0.9 u1 + 10); the usable half of E holds u0: E = 20."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 1.0]),
                         storage=storage(soc_min_frac=0.5, self_discharge_per_h=0.1))
    ds = solve(system, make_scenarios(one_day([0.0, 9.0])))
    assert float(ds["objective"]) == approx(0.1 * 10 + 0.01 * 20 + 0.001 * 10)
    assert cap(ds) == (approx(20.0), approx(10.0))
    assert [float(v) for v in ds["soc_kwh"].sel(scenario=0, storage="mg0")] == [
        approx(20.0), approx(10.0)]


def test_cyclic_day_lets_the_evening_charge_serve_the_morning() -> None:
    """soc[-1] = soc[T-1]: the cheap last step charges what the first step discharges."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.5, 0.2, 0.1]),
                         storage=storage())
    ds = solve(system, make_scenarios(one_day([10.0, 0.0, 0.0])))
    # a day starting empty would have to buy at 0.5: 5.0
    assert float(ds["objective"]) == approx(0.1 * 10 + 0.01 * 10 + 0.001 * 10)
    assert flow(ds, "charge_kw") == [approx(0.0), approx(0.0), approx(10.0)]
    assert flow(ds, "discharge_kw") == [approx(10.0), approx(0.0), approx(0.0)]
    soc = [float(v) for v in ds["soc_kwh"].sel(scenario=0, storage="mg0")]
    assert soc == [approx(0.0), approx(0.0), approx(10.0)]
    # cyclic: the first step starts from the last step's state
    assert soc[0] == approx(soc[-1] + 1.0 * (0.0 - 10.0))


@pytest.mark.parametrize("peak_price, used", [(0.2, True), (0.12, False)])
def test_time_of_use_arbitrage_only_when_the_spread_beats_the_round_trip_loss(
        peak_price: float, used: bool) -> None:
    """Free storage, round trip 0.9 * 0.9 = 0.81: worth it iff 0.1 / 0.81 < peak price."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, peak_price]),
                         storage=storage(eta_charge=0.9, eta_discharge=0.9,
                                         capex_energy_per_kwh=0.0, capex_power_per_kw=0.0))
    ds = solve(system, make_scenarios(one_day([0.0, 10.0])))
    if used:  # 0.1 / 0.81 = 0.1235 < 0.2
        assert float(ds["objective"]) == approx(0.1 * 10 / 0.81)
        assert flow(ds, "discharge_kw") == [approx(0.0), approx(10.0)]
        assert flow(ds, "grid_import_kw") == [approx(10 / 0.81), approx(0.0)]
    else:  # 0.1235 > 0.12
        assert float(ds["objective"]) == approx(0.12 * 10)
        assert flow(ds, "discharge_kw") == [approx(0.0), approx(0.0)]
        assert flow(ds, "charge_kw") == [approx(0.0), approx(0.0)]


def test_very_expensive_storage_is_not_built() -> None:
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.5]),
                         storage=storage(capex_energy_per_kwh=1000.0, capex_power_per_kw=1000.0))
    for mode, name in (("individual", "mg0"), ("accounts", "station"), ("pooled", "station")):
        ds = solve(system, make_scenarios(one_day([0.0, 10.0])), mode)
        assert float(ds["objective"]) == approx(0.5 * 10)
        assert cap(ds, name) == (approx(0.0), approx(0.0))


# --- grid connection: export, import limit, shedding -------------------------------------

PV_DAY = {"name": "mg0", "pv_kw": 10.0}


@pytest.mark.parametrize("export_limit, exported", [(0.0, 0.0), (None, 8.0), (5.0, 5.0)])
def test_export_limit_and_feed_in_price(export_limit: float | None, exported: float) -> None:
    """PV 10 kW at t0 against a load of 2: the surplus 8 is exported up to the limit, the
    rest curtailed; the load 4 at t1 is bought at 0.3."""
    mg = {**PV_DAY} if export_limit is None else {**PV_DAY, "export_limit_kw": export_limit}
    system = make_system([mg], tariff=tariff(0.3, price_sell_per_kwh=0.05),
                         storage=storage(**NO_STORAGE))
    ds = solve(system, make_scenarios(one_day([2.0, 4.0]), pv_pu=one_day([1.0, 0.0])))
    assert float(ds["objective"]) == approx(0.3 * 4 - 0.05 * exported)
    assert flow(ds, "grid_export_kw") == [approx(exported), approx(0.0)]
    assert flow(ds, "curtailed_kw") == [approx(8.0 - exported), approx(0.0)]
    assert flow(ds, "pv_used_kw") == [approx(2.0 + exported), approx(0.0)]
    assert float(ds["curtailment_share"]) == approx((8.0 - exported) / 10.0)


def test_import_limit_forces_storage() -> None:
    """Load 10 at t1 with a 6 kW connection: 4 kWh are stored at t0 (flat price)."""
    system = make_system([{"name": "mg0", "import_limit_kw": 6.0}], tariff=tariff(0.1),
                         storage=storage())
    ds = solve(system, make_scenarios(one_day([0.0, 10.0])))
    assert float(ds["objective"]) == approx(0.1 * (4 + 6) + 0.01 * 4 + 0.001 * 4)
    assert cap(ds) == (approx(4.0), approx(4.0))
    assert flow(ds, "grid_import_kw") == [approx(4.0), approx(6.0)]
    assert flow(ds, "shed_kw") == [approx(0.0), approx(0.0)]
    assert float(ds["peak_import_kw"]) == approx(6.0)


def test_import_limit_without_storage_sheds_at_voll() -> None:
    system = make_system([{"name": "mg0", "import_limit_kw": 6.0}], tariff=tariff(0.1),
                         storage=storage(**NO_STORAGE))
    ds = solve(system, make_scenarios(one_day([0.0, 10.0])))
    assert float(ds["objective"]) == approx(0.1 * 6 + 10.0 * 4)
    assert flow(ds, "shed_kw") == [approx(0.0), approx(4.0)]
    assert term(ds, "shedding") == approx(10.0 * 4)


def test_shedding_at_voll_when_nothing_else_works() -> None:
    """No grid, no renewables: a storage has nothing to charge from, all load is shed."""
    system = make_system([{"name": "mg0", "import_limit_kw": 0.0}], tariff=tariff(0.1),
                         storage=storage())
    ds = solve(system, make_scenarios(one_day([3.0, 5.0])))
    assert float(ds["objective"]) == approx(10.0 * (3 + 5))
    assert flow(ds, "shed_kw") == [approx(3.0), approx(5.0)]
    assert cap(ds) == (approx(0.0), approx(0.0))
    assert float(ds["shed_kwh_per_yr"]) == approx(3 + 5)


# --- renewables --------------------------------------------------------------------------


@pytest.mark.parametrize("price_pv, pv_used", [(0.2, 5.0), (0.5, 0.0)])
def test_price_of_pv_and_wind_usage(price_pv: float, pv_used: float) -> None:
    """t0: PV (10 available) at price_pv or the grid at 0.3 for a load of 5; t1: wind
    (3 available) at 0.1, the remaining 2 from the grid."""
    system = make_system(
        [{"name": "mg0", "pv_kw": 10.0, "wind_kw": 10.0, "export_limit_kw": 0.0}],
        tariff=tariff(0.3, price_pv_per_kwh=price_pv, price_wind_per_kwh=0.1),
        storage=storage(**NO_STORAGE))
    ds = solve(system, make_scenarios(one_day([5.0, 5.0]), pv_pu=one_day([1.0, 0.0]),
                                      wind_pu=one_day([0.0, 0.3])))
    pv_cost = price_pv * pv_used
    grid_t0 = 0.3 * (5.0 - pv_used)
    assert float(ds["objective"]) == approx(pv_cost + grid_t0 + 0.1 * 3 + 0.3 * 2)
    assert term(ds, "renewables") == approx(pv_cost + 0.1 * 3)
    assert flow(ds, "pv_used_kw") == [approx(pv_used), approx(0.0)]
    assert flow(ds, "wind_used_kw") == [approx(0.0), approx(3.0)]
    assert flow(ds, "grid_import_kw") == [approx(5.0 - pv_used), approx(2.0)]


def test_curtailment_cost() -> None:
    """Export banned: 8 kWh of PV surplus curtailed at 0.02 each."""
    system = make_system([{**PV_DAY, "export_limit_kw": 0.0}],
                         tariff=tariff(0.3, curtailment_cost_per_kwh=0.02),
                         storage=storage(**NO_STORAGE))
    ds = solve(system, make_scenarios(one_day([2.0, 4.0]), pv_pu=one_day([1.0, 0.0])))
    assert float(ds["objective"]) == approx(0.3 * 4 + 0.02 * 8)
    assert term(ds, "curtailment") == approx(0.02 * 8)
    assert flow(ds, "curtailed_kw") == [approx(8.0), approx(0.0)]


def test_curtailment_cost_is_avoided_by_exporting_at_zero_price() -> None:
    """Exported energy is used energy: with export allowed (at price 0) nothing is curtailed."""
    system = make_system([PV_DAY], tariff=tariff(0.3, curtailment_cost_per_kwh=0.02),
                         storage=storage(**NO_STORAGE))
    ds = solve(system, make_scenarios(one_day([2.0, 4.0]), pv_pu=one_day([1.0, 0.0])))
    assert float(ds["objective"]) == approx(0.3 * 4)
    assert flow(ds, "grid_export_kw") == [approx(8.0), approx(0.0)]
    assert term(ds, "curtailment") == approx(0.0)


# --- storage operating costs -------------------------------------------------------------


@pytest.mark.parametrize("degradation, used", [(0.1, True), (0.25, False)])
def test_degradation_cost_on_throughput(degradation: float, used: bool) -> None:
    """Moving 1 kWh from 0.1 to 0.5 costs 2 * degradation (charge + discharge) + 0.011."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.5]),
                         storage=storage(degradation_cost_per_kwh=degradation))
    ds = solve(system, make_scenarios(one_day([0.0, 10.0])))
    if used:  # 0.1 + 0.2 + 0.011 < 0.5
        assert float(ds["objective"]) == approx(0.1 * 10 + 0.1 * (10 + 10) + 0.01 * 10
                                                + 0.001 * 10)
        assert term(ds, "degradation") == approx(0.1 * (10 + 10))
        assert cap(ds) == (approx(10.0), approx(10.0))
    else:  # 0.1 + 0.5 + 0.011 > 0.5
        assert float(ds["objective"]) == approx(0.5 * 10)
        assert term(ds, "degradation") == approx(0.0)
        assert cap(ds) == (approx(0.0), approx(0.0))


# --- the shared station: energy accounts and a pooled state of charge --------------------
# The old station had one state of charge fed by gross flows. Here ``accounts`` keeps each
# microgrid's energy its own, and ``pooled`` nets the microgrids' flows at the station's bus
# (tests/framework/test_architectures.py has the exchange within one step and p2p).

STATIONS = ("accounts", "pooled")
# mg0 has a PV surplus at t0 and may not export; mg1 has a load at t1 and pays 0.5 flat
PEERS = [{"name": "mg0", "pv_kw": 10.0, "export_limit_kw": 0.0}, {"name": "mg1"}]
PEER_DAY = {"load_kw": one_day([0.0, 0.0], [0.0, 10.0]),
            "pv_pu": one_day([1.0, 0.0], [0.0, 0.0])}


@pytest.mark.parametrize("fee", [0.0, 0.01])
def test_only_a_pooled_station_stores_one_microgrids_surplus_for_another(fee: float) -> None:
    """mg0's surplus of 10 kWh at t0 can serve mg1's load of 10 kWh at t1.

    Own batteries and accounts cannot move it (an account's energy stays its microgrid's;
    the old single-SOC "shared" station moved it as pooled does): mg0 curtails, mg1 buys 10
    at 0.5, nothing is built. A pooled station takes the 10 kWh
    in at mg0's connection and gives them out at mg1's: the fee is metered twice,
    ``fee * (10 + 10)``, plus a station of 10 kWh / 10 kW at 0.01 + 0.001 per unit.
    """
    system = make_system(PEERS, tariff=tariff(0.5), storage=storage(),
                         shared={"exchange_fee_per_kwh": fee})
    scenarios = make_scenarios(**PEER_DAY)
    for mode, name in (("individual", "mg0"), ("accounts", "station")):
        ds = solve(system, scenarios, mode)
        assert float(ds["objective"]) == approx(0.5 * 10)
        assert term(ds, "fees") == approx(0.0)
        assert cap(ds, name) == (approx(0.0), approx(0.0))
    pooled = solve(system, scenarios, "pooled")
    assert float(pooled["objective"]) == approx(fee * (10 + 10) + 0.01 * 10 + 0.001 * 10)
    assert term(pooled, "fees") == approx(fee * (10 + 10))
    assert cap(pooled, "station") == (approx(10.0), approx(10.0))
    assert flow(pooled, "charge_kw", "mg0") == [approx(10.0), approx(0.0)]
    assert flow(pooled, "discharge_kw", "mg1") == [approx(0.0), approx(10.0)]
    assert flow(pooled, "grid_import_kw", "mg1") == [approx(0.0), approx(0.0)]


@pytest.mark.parametrize("fee, built", [(0.24, True), (0.3, False)])
def test_exchange_fee_above_the_price_stops_sharing(fee: float, built: bool) -> None:
    """Energy stored for another microgrid pays the fee at both connections: a pooled station
    moves mg0's surplus to mg1 iff ``2 * fee + 0.01 + 0.001 < 0.5`` per kWh
    (0.491 at fee 0.24; 0.611 at fee 0.3)."""
    system = make_system(PEERS, tariff=tariff(0.5), storage=storage(),
                         shared={"exchange_fee_per_kwh": fee})
    pooled = solve(system, make_scenarios(**PEER_DAY), "pooled")
    if built:
        assert float(pooled["objective"]) == approx(fee * 20 + 0.01 * 10 + 0.001 * 10)
        assert cap(pooled, "station") == (approx(10.0), approx(10.0))
    else:
        assert float(pooled["objective"]) == approx(0.5 * 10)
        assert cap(pooled, "station") == (approx(0.0), approx(0.0))


def test_exchange_fee_is_not_charged_to_own_batteries() -> None:
    """A station (accounts or pooled) meters 10 kWh in and 10 out at the connection; an own
    battery pays no fee."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.5]), storage=storage(),
                         shared={"exchange_fee_per_kwh": 0.01})
    scenarios = make_scenarios(one_day([0.0, 10.0]))
    individual = solve(system, scenarios, "individual")
    assert float(individual["objective"]) == approx(0.1 * 10 + 0.01 * 10 + 0.001 * 10)
    for mode in STATIONS:
        station = solve(system, scenarios, mode)
        assert float(station["objective"]) == approx(0.1 * 10 + 0.01 * (10 + 10) + 0.01 * 10
                                                     + 0.001 * 10)
        assert term(station, "fees") == approx(0.01 * (10 + 10))


def test_shared_capex_multiplier() -> None:
    """Both microgrids move 10 kWh from 0.1 to 0.5: one station of 20 kWh / 20 kW at half
    the price (two accounts of 10 kWh, or a pooled state of charge of 20 kWh), or two
    batteries of 10 kWh / 10 kW."""
    system = make_system([{"name": "mg0"}, {"name": "mg1"}], tariff=tariff([0.1, 0.5]),
                         storage=storage(), shared={"capex_multiplier": 0.5})
    scenarios = make_scenarios(one_day([0.0, 10.0], [0.0, 10.0]))
    individual = solve(system, scenarios, "individual")
    assert float(individual["objective"]) == approx(2 * (0.1 * 10 + 0.01 * 10 + 0.001 * 10))
    assert cap(individual, "mg1") == (approx(10.0), approx(10.0))
    saving = 2 * (0.01 * 10 + 0.001 * 10) - 0.5 * (0.01 * 20 + 0.001 * 20)
    for mode, source in (("accounts", "storage sharing"),
                         ("pooled", "storage sharing and energy exchange")):
        station = solve(system, scenarios, mode)
        assert float(station["objective"]) == approx(2 * 0.1 * 10
                                                     + 0.5 * (0.01 * 20 + 0.001 * 20))
        assert cap(station, "station") == (approx(20.0), approx(20.0))
        ds = plan_ef(system, scenarios, modes=("individual", mode))  # side by side
        assert cap(ds.sel(mode="individual"), "station") == (0.0, 0.0)
        assert cap(ds.sel(mode=mode), "mg0") == (0.0, 0.0)
        assert ds.attrs["saving_of_sharing_per_yr"] == approx(saving)
        assert ds.attrs["saving_of_sharing_versus"] == mode
        assert ds.attrs["saving_of_sharing_from"] == source
    accounts = solve(system, scenarios, "accounts")
    assert [float(v) for v in accounts["account_kwh"].sel(scenario=0, microgrid="mg1")] == [
        approx(10.0), approx(0.0)]


@pytest.mark.parametrize("mode", STATIONS)
def test_station_power_limits_the_sum_of_discharges(mode: str) -> None:
    """Both microgrids need 10 at t2 (0.5): the station charges 20 over t0, t1 (0.1) and
    discharges 20 at once, so P = 20 although no step charges more than needed."""
    system = make_system([{"name": "mg0"}, {"name": "mg1"}], tariff=tariff([0.1, 0.1, 0.5]),
                         storage=storage())
    ds = solve(system, make_scenarios(one_day([0.0, 0.0, 10.0], [0.0, 0.0, 10.0])), mode)
    assert float(ds["objective"]) == approx(0.1 * 20 + 0.01 * 20 + 0.001 * 20)
    assert cap(ds, "station") == (approx(20.0), approx(20.0))


@pytest.mark.parametrize("mode", STATIONS)
def test_station_power_limits_the_sum_of_charges(mode: str) -> None:
    """Both microgrids have a PV surplus of 10 at t0 (no export); mg0 needs 10 at t1, mg1 at
    t2 (0.5 flat): the station takes 20 at once (P = 20) and gives 10 twice."""
    mgs = [{"name": "mg0", "pv_kw": 10.0, "export_limit_kw": 0.0},
           {"name": "mg1", "pv_kw": 10.0, "export_limit_kw": 0.0}]
    system = make_system(mgs, tariff=tariff(0.5), storage=storage())
    ds = solve(system, make_scenarios(one_day([0.0, 10.0, 0.0], [0.0, 0.0, 10.0]),
                                      pv_pu=one_day([1.0, 0.0, 0.0], [1.0, 0.0, 0.0])),
               mode)
    assert float(ds["objective"]) == approx(0.01 * 20 + 0.001 * 20)
    assert cap(ds, "station") == (approx(20.0), approx(20.0))
    assert flow(ds, "charge_kw", "mg1") == [approx(10.0), approx(0.0), approx(0.0)]
    assert flow(ds, "discharge_kw", "mg0") == [approx(0.0), approx(10.0), approx(0.0)]
    assert flow(ds, "discharge_kw", "mg1") == [approx(0.0), approx(0.0), approx(10.0)]


@pytest.mark.parametrize("mode", STATIONS)
def test_station_limit_kw(mode: str) -> None:
    """mg0 may move at most 4 kW to or from the station: it discharges 4 at t1 and buys 6;
    the station stores 14 kWh (4 for mg0, 10 for mg1; in accounts mg0's account can only
    be filled through mg0's own connection)."""
    system = make_system([{"name": "mg0", "station_limit_kw": 4.0}, {"name": "mg1"}],
                         tariff=tariff([0.1, 0.5]), storage=storage())
    scenarios = make_scenarios(one_day([0.0, 10.0], [0.0, 10.0]))
    station = solve(system, scenarios, mode)
    assert float(station["objective"]) == approx(0.1 * 14 + 0.5 * 6 + 0.01 * 14 + 0.001 * 14)
    assert cap(station, "station") == (approx(14.0), approx(14.0))
    assert flow(station, "discharge_kw", "mg0") == [approx(0.0), approx(4.0)]
    assert flow(station, "discharge_kw", "mg1") == [approx(0.0), approx(10.0)]
    assert float(station["charge_kw"].sel(scenario=0, step=0).sum()) == approx(14.0)
    assert float(station["charge_kw"].sel(scenario=0, step=0, microgrid="mg0")) <= 4.0 + 1e-6
    if mode == "accounts":
        assert flow(station, "charge_kw", "mg0") == [approx(4.0), approx(0.0)]
    assert flow(station, "grid_import_kw", "mg0")[1] == approx(6.0)
    # the limit is on the station connection only: own batteries are not limited
    individual = solve(system, scenarios, "individual")
    assert float(individual["objective"]) == approx(2 * (0.1 * 10 + 0.01 * 10 + 0.001 * 10))


# --- first stage: annuity, bounds, modules -----------------------------------------------


@pytest.mark.parametrize("rate, life, crf", [
    (0.05, 10.0, 0.05 * 1.05 ** 10 / (1.05 ** 10 - 1)),
    (0.0, 8.0, 1 / 8),
])
def test_capex_annuity_and_om(rate: float, life: float, crf: float) -> None:
    """energy_min_kwh = 10 and P >= 0.5 E force E = 10, P = 5 with nothing to do."""
    system = make_system([{"name": "mg0"}], tariff=tariff(0.1), storage=storage(
        capex_energy_per_kwh=100.0, capex_power_per_kw=40.0, om_fraction_per_yr=0.02,
        discount_rate=rate, lifetime_yr=life, energy_min_kwh=10.0,
        power_to_energy_min_per_h=0.5))
    ds = solve(system, make_scenarios(one_day([0.0, 0.0])))
    assert float(ds["objective"]) == approx((crf + 0.02) * (100.0 * 10 + 40.0 * 5))
    assert float(ds["capex_annual"]) == approx((crf + 0.02) * (100.0 * 10 + 40.0 * 5))
    assert cap(ds) == (approx(10.0), approx(5.0))


def test_capex_multiplier_on_forced_capacities() -> None:
    """Two own batteries of 10 kWh / 5 kW versus one station of 10 kWh / 5 kW at 0.6."""
    system = make_system([{"name": "mg0"}, {"name": "mg1"}], tariff=tariff(0.1),
                         storage=storage(capex_energy_per_kwh=100.0, capex_power_per_kw=40.0,
                                         energy_min_kwh=10.0, power_to_energy_min_per_h=0.5),
                         shared={"capex_multiplier": 0.6})
    scenarios = make_scenarios(one_day([0.0, 0.0], [0.0, 0.0]))
    individual = solve(system, scenarios, "individual")
    assert float(individual["objective"]) == approx(2 * (100.0 * 10 + 40.0 * 5))
    for mode in STATIONS:
        station = solve(system, scenarios, mode)
        assert float(station["objective"]) == approx(0.6 * (100.0 * 10 + 40.0 * 5))
        assert cap(station, "station") == (approx(10.0), approx(5.0))


@pytest.mark.parametrize("bounds, energy, power", [
    ({}, 10.0, 10.0),
    ({"power_to_energy_max_per_h": 0.5}, 20.0, 10.0),   # P <= 0.5 E
    ({"power_to_energy_min_per_h": 2.0}, 10.0, 20.0),   # P >= 2 E
])
def test_power_to_energy_ratio_bounds(bounds: dict, energy: float, power: float) -> None:
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.5]), storage=storage(**bounds))
    ds = solve(system, make_scenarios(one_day([0.0, 10.0])))
    assert float(ds["objective"]) == approx(0.1 * 10 + 0.01 * energy + 0.001 * power)
    assert cap(ds) == (approx(energy), approx(power))


@pytest.mark.parametrize("bounds, moved", [
    ({"energy_max_kwh": 4.0}, 4.0),
    ({"power_max_kw": 3.0}, 3.0),
])
def test_energy_and_power_max(bounds: dict, moved: float) -> None:
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.5]), storage=storage(**bounds))
    ds = solve(system, make_scenarios(one_day([0.0, 10.0])))
    assert float(ds["objective"]) == approx(0.1 * moved + 0.5 * (10 - moved) + 0.01 * moved
                                            + 0.001 * moved)
    assert cap(ds) == (approx(moved), approx(moved))
    assert flow(ds, "grid_import_kw") == [approx(moved), approx(10 - moved)]


# modules of 4 kWh / 2 kW at 0.01 * 4 + 0.001 * 2 = 0.042 each; load 9 at t1 (0.5) vs 0.1:
#   n = 5 (20 kWh / 10 kW) moves 9: 0.1 * 9 + 5 * 0.042 + fixed
#   n = 4 (16 kWh /  8 kW) moves 8: 0.1 * 8 + 0.5 * 1 + 4 * 0.042 + fixed (worse by 0.258)
#   the continuous relaxation would take n = 4.5 at 0.1 * 9 + 4.5 * 0.042 + fixed
@pytest.mark.parametrize("max_modules, fixed_cost, n, objective", [
    (100, 0.5, 5, 0.1 * 9 + 5 * 0.042 + 0.5),
    (3, 0.5, 3, 0.1 * 6 + 0.5 * 3 + 3 * 0.042 + 0.5),
    (100, 5.0, 0, 0.5 * 9),           # 0.9 + 0.21 + 5 > 4.5
])
def test_modular_sizing(max_modules: int, fixed_cost: float, n: int, objective: float) -> None:
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.5]), storage=storage(
        module_energy_kwh=4.0, module_power_kw=2.0, max_modules=max_modules,
        fixed_cost=fixed_cost))
    ds = solve(system, make_scenarios(one_day([0.0, 9.0])), mip_rel_gap=1e-9)
    assert float(ds["objective"]) == approx(objective)
    assert cap(ds) == (approx(4.0 * n), approx(2.0 * n))


@pytest.mark.parametrize("mode", STATIONS)
def test_modular_station_multiplier_applies_to_the_fixed_cost(mode: str) -> None:
    """The station's multiplier scales its whole investment, fixed cost included. n = 5 as
    in :func:`test_modular_sizing`: n = 4 moves 8 and buys 1 at 0.5, worse by
    0.5 - 0.1 - 0.5 * 0.042 = 0.379."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.5]), storage=storage(
        module_energy_kwh=4.0, module_power_kw=2.0, fixed_cost=0.5),
        shared={"capex_multiplier": 0.5})
    ds = solve(system, make_scenarios(one_day([0.0, 9.0])), mode, mip_rel_gap=1e-9)
    assert float(ds["objective"]) == approx(0.1 * 9 + 0.5 * (5 * 0.042 + 0.5))
    assert cap(ds, "station") == (approx(20.0), approx(10.0))


# --- scenarios and time ------------------------------------------------------------------


@pytest.mark.parametrize("probability, built", [([0.25, 0.75], False), ([0.5, 0.5], True)])
def test_probability_weighting_of_scenarios(probability: list[float], built: bool) -> None:
    """Only scenario 0 has the evening load of 10: storage at 0.12 + 0.001 per kWh pays off
    iff pi_0 * (0.5 - 0.1) > 0.121."""
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.5]),
                         storage=storage(capex_energy_per_kwh=0.12))
    scenarios = make_scenarios(np.array([[[0.0], [10.0]], [[0.0], [0.0]]]),
                               probability=probability)
    ds = solve(system, scenarios)
    pi0 = probability[0]
    if built:
        assert float(ds["objective"]) == approx(0.12 * 10 + 0.001 * 10 + pi0 * 0.1 * 10)
        assert cap(ds) == (approx(10.0), approx(10.0))
        assert term(ds, "energy") == approx(pi0 * 0.1 * 10)
    else:
        assert float(ds["objective"]) == approx(pi0 * 0.5 * 10)
        assert cap(ds) == (approx(0.0), approx(0.0))
        assert term(ds, "energy") == approx(pi0 * 0.5 * 10)
    assert flow(ds, "grid_import_kw", scenario=1) == [approx(0.0), approx(0.0)]


def test_days_per_year_scales_the_operating_cost() -> None:
    system = make_system([{"name": "mg0"}], tariff=tariff([0.1, 0.5]),
                         storage=storage(capex_energy_per_kwh=1.0, capex_power_per_kw=0.1),
                         planning={"days_per_year": 10.0})
    ds = solve(system, make_scenarios(one_day([0.0, 10.0])))
    # 10 days * 0.4 saved per kWh > 1.1 per kWh of capacity
    assert float(ds["objective"]) == approx(10 * 0.1 * 10 + 1.0 * 10 + 0.1 * 10)
    assert term(ds, "energy") == approx(10 * 0.1 * 10)


@pytest.mark.parametrize("self_discharge", [0.0, 0.01])
def test_steps_of_twelve_hours(self_discharge: float) -> None:
    """Two 12 h steps: 10 kW over 12 h is 120 kWh; self-discharge keeps 0.99**12 per step."""
    keep = (1 - self_discharge) ** 12
    system = make_system([{"name": "mg0"}], step_h=12.0, tariff=tariff([0.1, 0.5]),
                         storage=storage(self_discharge_per_h=self_discharge))
    ds = solve(system, make_scenarios(one_day([0.0, 10.0]), step_h=12.0))
    charge = 10.0 / keep                     # kW over 12 h: soc[0] = 120 / keep
    assert float(ds["objective"]) == approx(0.1 * 12 * charge + 0.01 * 120 / keep
                                            + 0.001 * charge)
    assert cap(ds) == (approx(120 / keep), approx(charge))
    assert flow(ds, "charge_kw") == [approx(charge), approx(0.0)]
    assert [float(v) for v in ds["soc_kwh"].sel(scenario=0, storage="mg0")] == [
        approx(120 / keep), approx(0.0)]
    assert float(ds["self_sufficiency"]) == approx(1 - 12 * charge / 120)


# --- reported terms and KPIs -------------------------------------------------------------


def test_co2_is_reported_and_optionally_priced() -> None:
    system = make_system([{"name": "mg0"}], storage=storage(**NO_STORAGE),
                         tariff=tariff(0.3, grid_co2_kg_per_kwh=[0.4, 0.2],
                                       co2_price_per_kg=0.1))
    ds = solve(system, make_scenarios(one_day([10.0, 10.0])))
    co2_kg = 0.4 * 10 + 0.2 * 10
    assert float(ds["objective"]) == approx(0.3 * 20 + 0.1 * co2_kg)
    assert term(ds, "co2") == approx(0.1 * co2_kg)
    assert float(ds["co2_kg"].sel(scenario=0)) == approx(co2_kg)
    assert float(ds["co2_t_per_yr"]) == approx(co2_kg / 1000)


def test_kpis_of_a_pv_microgrid() -> None:
    """PV 10 at t0 for a load of 4 (6 curtailed, no export), load 6 at t1 from the grid."""
    system = make_system([{**PV_DAY, "export_limit_kw": 0.0}], tariff=tariff(0.3),
                         storage=storage(**NO_STORAGE))
    ds = solve(system, make_scenarios(one_day([4.0, 6.0]), pv_pu=one_day([1.0, 0.0])))
    assert float(ds["objective"]) == approx(0.3 * 6)
    assert float(ds["self_sufficiency"]) == approx(1 - 6 / 10)
    assert float(ds["self_sufficiency_mg"].sel(microgrid="mg0")) == approx(1 - 6 / 10)
    assert float(ds["curtailment_share"]) == approx(6 / 10)
    assert float(ds["peak_import_kw"]) == approx(6.0)
    assert float(ds["shed_kwh_per_yr"]) == approx(0.0)
