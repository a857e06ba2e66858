"""The leasing baseline (:mod:`framework.lease.baseline`, the partition sweep): the
transformed system (no solver), a best response (an account of an accounts station) and the
price sweep on a tiny system computed by hand, and the ``sesplan lease`` command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framework.cli import main
from framework.errors import InputError
from framework.game.values import Task, solve_coalition
from framework.lease.baseline import default_prices, lease_summary, lease_sweep, lease_system
from framework.system import default_system
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system

# Lossless storage with annuity factor 1: own storage costs 0.1 per kWh-yr and 0.05 per
# kW-yr, the station half that (mult = 0.5). Buying at 0.1 in step 0 and 0.5 in step 1
# (days_per_year = 1), a microgrid with step-1 load L stores all of it while the storage
# costs less than the price spread 0.4 per kWh: alone it pays 0.1 L + 0.15 L = 0.25 L; at
# lease prices with p_E + p_P <= 0.4 it leases E = P = L and pays 0.1 L + (p_E + p_P) L.
# A lease is an account of an accounts station; an account of its own behaves as the old
# individual battery did (the fee, once folded into the wear, is now metered by the model at
# the connection), so these numbers did not change.
LOADS = {"a": 10.0, "b": 6.0}


def tiny(**shared: Any) -> tuple[Any, Any]:
    system = make_system(
        [{"name": n} for n in LOADS],
        tariff={"price_buy_per_kwh": [0.1, 0.5], "price_sell_per_kwh": 0.0,
                "grid_co2_kg_per_kwh": 0.0},
        storage={**LOSSLESS, "lifetime_yr": 1.0, "discount_rate": 0.0,
                 "om_fraction_per_yr": 0.0, "capex_energy_per_kwh": 0.1,
                 "capex_power_per_kw": 0.05},
        shared={"capex_multiplier": 0.5, **shared})
    return system, make_scenarios([[[0.0, 0.0], list(LOADS.values())]],
                                  microgrids=list(LOADS))


def xr_loads(ds: Any) -> Any:
    """The step-1 loads as a DataArray over the dataset's ``microgrid``."""
    return ds["microgrid"].copy(data=[LOADS[str(i)] for i in ds["microgrid"].values])


def test_lease_system_prices_the_partition() -> None:
    base = default_system()
    leased = lease_system(base, 20.0, 9.0)
    tech = leased.storage
    assert tech.annual_factor == 1.0  # the rent is capex_annual = p_E E + p_P P
    assert (tech.capex_energy_per_kwh, tech.capex_power_per_kw) == (20.0, 9.0)
    assert leased.shared.capex_multiplier == 1.0  # the station's discount is the operator's
    # wear and fee are left to the model: wear on the account's throughput, the fee metered
    # at the microgrid's connection to the station (the old partition folded it into wear)
    assert tech.degradation_cost_per_kwh == base.storage.degradation_cost_per_kwh
    assert leased.shared.exchange_fee_per_kwh == base.shared.exchange_fee_per_kwh
    assert tech.power_max_kw == base.storage.power_max_kw
    assert tech.energy_min_kwh is None and not tech.modular
    assert (tech.eta_charge, tech.soc_min_frac) == (base.storage.eta_charge,
                                                    base.storage.soc_min_frac)
    assert leased.microgrids == base.microgrids
    with pytest.raises(InputError, match="lease prices"):
        lease_system(base, -1.0, 9.0)
    energy, power = default_prices(base, 3)
    own = base.storage.annual_factor
    assert energy == pytest.approx(own * 250.0 * np.array([0.9, 0.95, 1.0]))
    assert power == pytest.approx(own * 120.0 * np.array([0.9, 0.95, 1.0]))


@pytest.mark.parametrize("choice", [{"station": "pooled"}, {"exchange": "p2p"}])
def test_lease_needs_accounts(choice: dict[str, str]) -> None:
    # a pooled station or p2p exchange would tie each lessee's best response to the others'
    system, scenarios = tiny()
    pooled = replace(system, planning=replace(system.planning, **choice))
    with pytest.raises(InputError, match="--station accounts --exchange none"):
        lease_sweep(pooled, scenarios, [0.09], [0.04])


def best_response(system: Any, scenarios: Any, energy_price: float, power_price: float,
                  microgrid: str = "b") -> Any:
    return solve_coalition(Task(lease_system(system, energy_price, power_price),
                                (microgrid,), "accounts"), scenarios)


def test_best_response_by_hand() -> None:
    system, scenarios = tiny()
    value = best_response(system, scenarios, 0.09, 0.04)
    assert value.mode == "accounts"
    assert (value.cap_energy_kwh, value.cap_power_kw) == pytest.approx((6.0, 6.0))
    assert value.capex_annual == pytest.approx(6 * 0.09 + 6 * 0.04)  # the bill, 0.78
    assert value.annual_cost == pytest.approx(0.6 + 0.78)
    assert value.metered_kwh_per_yr["b"] == pytest.approx(12.0)  # 6 in, 6 out
    # a lease dearer than the spread is not taken
    value = best_response(system, scenarios, 0.3, 0.2)
    assert value.cap_energy_kwh == pytest.approx(0.0, abs=1e-9)
    assert value.annual_cost == pytest.approx(6 * 0.5)
    # the fee on the 12 kWh metered at b's connection: 0.6 + 0.78 + 0.01 * 12
    system, scenarios = tiny(exchange_fee_per_kwh=0.01)
    assert best_response(system, scenarios, 0.09, 0.04).annual_cost == pytest.approx(1.5)
    # b's connection to the station carries 4 kW: it leases 4 kWh / 4 kW and buys the other
    # 2 kWh in step 1: 0.1 * 4 + 0.5 * 2 + 0.13 * 4
    system, scenarios = tiny()
    limited = replace(system, microgrids=(system.microgrids[0], replace(
        system.microgrids[1], station_limit_kw=4.0)))
    value = best_response(limited, scenarios, 0.09, 0.04)
    assert (value.cap_energy_kwh, value.cap_power_kw) == pytest.approx((4.0, 4.0))
    assert value.annual_cost == pytest.approx(0.4 + 1.0 + 0.52)


def test_account_limit_is_the_usable_share_of_the_partition() -> None:
    # state of charge between 0.2 and 1.0: an account of e_i = L_i usable kWh needs a
    # partition of E_i = L_i / 0.8; b: E = 7.5, bill 7.5 * 0.09 + 6 * 0.04 = 0.915
    system, scenarios = tiny()
    system = replace(system, storage=replace(system.storage, soc_min_frac=0.2))
    ds = lease_sweep(system, scenarios, [0.09], [0.04]).isel(energy_price=0, power_price=0)
    assert ds["lease_energy_kwh"].values == pytest.approx([12.5, 7.5])
    assert ds["account_limit_kwh"].values == pytest.approx([10.0, 6.0])
    assert ds["lease_power_kw"].values == pytest.approx([10.0, 6.0])
    assert float(ds["bill"].sel(microgrid="b")) == pytest.approx(0.915)
    # alone b needs the same 7.5 kWh at 0.1 and 6 kW at 0.05, plus 0.6 for the energy
    assert ds["standalone_cost"].values == pytest.approx([0.1 * 12.5 + 0.5 + 1.0, 1.65])
    assert ds["station_energy_kwh"] == pytest.approx(20.0)


def test_sweep_chooses_the_best_prices_every_microgrid_accepts(tmp_path: Path) -> None:
    system, scenarios = tiny()
    ds = lease_sweep(system, scenarios, [0.06, 0.09, 0.13], [0.025, 0.04], cache_dir=tmp_path)
    # saving_i = L_i (0.15 - p_E - p_P); profit = 16 (p_E + p_P) - 16 * 0.075.
    # p_E + p_P over the grid: 0.085, 0.1, 0.115, 0.13, 0.155, 0.17: the best below 0.15
    # is (0.09, 0.04), with profit 16 * 0.055 = 0.88; (0.13, 0.025) earns more but a and b
    # would lose 0.05 and 0.03
    total = ds["energy_price"] + ds["power_price"]
    assert ds["standalone_cost"].values == pytest.approx([2.5, 1.5])
    expected_saving = (0.15 - total) * xr_loads(ds)
    assert ds["saving"].values == pytest.approx(expected_saving.transpose(
        *ds["saving"].dims).values, abs=1e-9)
    assert ds["profit"].values == pytest.approx((16 * (total - 0.075)).values, abs=1e-9)
    assert ds["feasible"].values.tolist() == [[1, 1], [1, 1], [0, 0]]
    assert (ds.attrs["architecture"], ds.attrs["standalone_architecture"]) == (
        "accounts", "individual")
    assert ds["account_limit_kwh"].values == pytest.approx(ds["lease_energy_kwh"].values)
    assert ds.attrs["chosen_energy_price"] == 0.09
    assert ds.attrs["chosen_power_price"] == 0.04
    assert ds.attrs["chosen_profit"] == pytest.approx(0.88)
    summary = lease_summary(ds)
    chosen = summary["chosen"]["microgrids"]
    assert chosen["b"]["bill"] == pytest.approx(0.78)
    assert chosen["a"]["saving"] == pytest.approx(0.2) and chosen["b"]["saving"] == \
        pytest.approx(0.12)
    assert all(m["saving"] >= 0 for m in chosen.values())
    assert summary["chosen"]["profit"] >= 0
    assert summary["chosen"]["margin"] == pytest.approx(0.88 / (16 * 0.13))
    again = lease_sweep(system, scenarios, [0.06, 0.09, 0.13], [0.025, 0.04],
                        cache_dir=tmp_path)
    assert again.attrs["solved"] == 0 and again.attrs["cache_hits"] == 14


def test_sweep_without_a_window() -> None:
    # the exchange fee on 2 L kWh of throughput costs more than the station discount
    # 0.075 L, so no price both covers the operator's cost and leaves the microgrids a gain
    system, scenarios = tiny(exchange_fee_per_kwh=0.05)
    ds = lease_sweep(system, scenarios, [0.05, 0.1], [0.025, 0.05])
    assert ds["feasible"].sum() == 0
    assert ds.attrs["chosen_feasible"] == 0 and np.isnan(ds.attrs["chosen_profit"])
    assert lease_summary(ds)["feasible"] is False


def test_cli_lease(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "days.csv").write_text("step,a,b\n0,0,0\n1,10,6\n")
    system = tmp_path / "system.toml"
    system.write_text(
        '[history]\nsource = "days"\npath = "days.csv"\nstep_h = 12.0\n'
        '[[microgrid]]\nname = "a"\ncolumns = { load_kw = "a" }\n'
        '[[microgrid]]\nname = "b"\ncolumns = { load_kw = "b" }\n'
        "[tariff]\nprice_buy_per_kwh = [0.1, 0.5]\nprice_sell_per_kwh = 0.0\n"
        "[storage]\ncapex_energy_per_kwh = 0.1\ncapex_power_per_kw = 0.05\n"
        "lifetime_yr = 1.0\ndiscount_rate = 0.0\nom_fraction_per_yr = 0.0\n"
        "eta_charge = 1.0\neta_discharge = 1.0\nsoc_min_frac = 0.0\nsoc_max_frac = 1.0\n"
        "power_max_kw = 20.0\n"  # bounds what a lease can use (the game needs a bound)
        "[shared]\ncapex_multiplier = 0.5\n[planning]\ndays_per_year = 1.0\n")
    scen, out = tmp_path / "s.nc", tmp_path / "lease.nc"
    assert main(["-q", "scenarios", "--system", str(system), "-o", str(scen)]) == 0
    capsys.readouterr()
    assert main(["-q", "lease", str(system), "-s", str(scen), "--method", "baseline",
                 "--energy-prices", "0.06,0.09", "--power-prices", "0.04", "-o", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["chosen"]["energy_price"] == 0.09
    assert summary["architecture"] == "accounts"
    assert out.exists()
    assert main(["lease", str(system), "-s", str(scen), "--station", "pooled",
                 "-o", str(tmp_path / "x.nc")]) == 2
    assert "--station accounts" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()
    assert main(["lease", str(system), "-s", str(scen), "--method", "baseline",
                 "--energy-prices", "cheap", "-o", str(tmp_path / "x.nc")]) == 2
    assert "--energy-prices" in capsys.readouterr().err
    # options of the other methods are errors, not ignored
    assert main(["lease", str(system), "-s", str(scen), "--energy-prices", "0.06",
                 "-o", str(tmp_path / "x.nc")]) == 2
    assert "--energy-prices: applies to --method baseline, not --method search" in \
        capsys.readouterr().err
    assert main(["lease", str(system), "-s", str(scen), "--method", "baseline", "--levels",
                 "5", "-o", str(tmp_path / "x.nc")]) == 2
    assert "--levels: applies to --method search or exact or both" in capsys.readouterr().err
    assert main(["lease", str(system), "-s", str(scen), "--fee-bounds", "0.1",
                 "-o", str(tmp_path / "x.nc")]) == 2
    assert "--fee-bounds: expected LO,HI (two numbers)" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()
    # the game: the same equilibrium from the MILP and from brute force on the lattice
    runs = {}
    for method in (["--method", "exact"], ["--method", "search", "--full"]):
        assert main(["-q", "lease", str(system), "-s", str(scen), *method, "--levels", "9",
                     "--energy-price-bounds", "0.0,0.2", "--power-price-bounds", "0.0,0.1",
                     "-o", str(out), "--json"]) == 0
        runs[method[1]] = json.loads(capsys.readouterr().out)
    exact, search = runs["exact"], runs["search"]
    assert {"operator_profit_per_yr", "margin", "overbooking_ratio"} <= set(exact)
    assert exact["operator_profit_per_yr"] == pytest.approx(search["operator_profit_per_yr"],
                                                           abs=1e-6)
    assert (exact["energy_price_per_kwh_yr"], exact["power_price_per_kw_yr"]) == (
        search["energy_price_per_kwh_yr"], search["power_price_per_kw_yr"])
    assert all(m["saving_per_yr"] >= -1e-9 for m in exact["microgrids"].values())
