"""The ladder of sharing architectures and the decomposition of the saving, on a system
whose every rung is solved by hand."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import xarray as xr

from framework.architecture import LADDER
from framework.errors import InputError
from framework.ladder import decompose, ladder_summary, ladder_table, solve_ladder
from framework.plotting import available, plot_ladder, save_figure
from framework.solve.ef import plan_ef
from framework.system import System
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system

matplotlib.use("Agg")

RUNG_KEYS = {"annual_cost", "saving_vs_individual_per_yr", "total_energy_kwh",
             "total_power_kw", "cap_energy_kwh", "cap_power_kw",
             "equivalent_full_cycles_per_yr", "exchange_station_kwh_per_yr",
             "exchange_p2p_kwh_per_yr", "exchanged_kwh_per_yr", "warnings", "certified"}
SPLIT_KEYS = {"saving_from_storage_sharing_per_yr", "saving_from_exchange_per_yr"}


def two_microgrids(fee: float = 0.0) -> System:
    """Microgrids ``a`` and ``b`` over a day of five 1-h steps, one day a year.

    Grid price ``[0, 0.5, 0, 0.5, 0.2]``, nothing paid for export; lossless storage at
    0.3/kWh + 0.05/kW a year (lifetime 1 yr, no discounting, no O&M). ``a`` needs 1 kW in
    step 1 and has 1 kW of PV in step 4; ``b`` needs 1 kW in steps 3 and 4. Storage pays
    (a kWh and a kW for 0.35 replace 0.5 of grid energy bought at the peak), and in step 4
    ``a`` has a surplus just when ``b`` has a deficit (worth 0.2, not worth storing).
    """
    return make_system(
        [{"name": "a", "pv_kw": 1.0}, {"name": "b"}],
        tariff={"price_buy_per_kwh": [0.0, 0.5, 0.0, 0.5, 0.2], "price_sell_per_kwh": 0.0},
        storage={**LOSSLESS, "capex_energy_per_kwh": 0.3, "capex_power_per_kw": 0.05,
                 "lifetime_yr": 1.0, "discount_rate": 0.0},
        shared={"exchange_fee_per_kwh": fee})


def scenarios() -> xr.Dataset:
    load = np.zeros((1, 5, 2))
    load[0, 1, 0] = load[0, 3, 1] = load[0, 4, 1] = 1.0
    pv = np.zeros((1, 5, 2))
    pv[0, 4, 0] = 1.0
    return make_scenarios(load, pv_pu=pv, microgrids=["a", "b"])


# Costs by hand, fee 0:
# none            a buys 1 at 0.5, b at 0.5 and 0.2                                    1.20
# p2p             a's PV goes to b in step 4                                 1.20 - 0.2 = 1.00
# individual      a battery (1 kWh, 1 kW: 0.35) per microgrid charged free; b buys step 4
#                 (a second kWh and kW for b's step 4 would cost 0.35 > 0.2)  0.35 + 0.55 = 0.90
# individual+p2p  one battery cycles twice (for a's step 1, then via p2p b's step 3), the PV
#                 goes to b in step 4                                                    0.35
# accounts        one 1-kWh, 1-kW station: a's account cycles 0 -> 1, b's 2 -> 3; b buys
#                 step 4                                                     0.35 + 0.2 = 0.55
# accounts+p2p    as accounts, the PV to b by p2p                                        0.35
# pooled          as accounts, and in step 4 a's charge and b's discharge net at the bus 0.35
# With a fee f = 0.01 on every kWh metered at a connection (station flows and p2p both ends):
# p2p 1.00 + 2f; individual 0.90 (own batteries pay none); individual+p2p 0.35 + 4f (two
# p2p kWh); accounts 0.55 + 4f; accounts+p2p 0.35 + 6f; pooled 0.35 + 6f (a's and b's
# station cycles 4f, step 4 2f).
COSTS = {0.0: {"none": 1.2, "p2p": 1.0, "individual": 0.9, "individual+p2p": 0.35,
               "accounts": 0.55, "accounts+p2p": 0.35, "pooled": 0.35},
         0.01: {"none": 1.2, "p2p": 1.02, "individual": 0.9, "individual+p2p": 0.39,
                "accounts": 0.59, "accounts+p2p": 0.41, "pooled": 0.41}}


@pytest.fixture(scope="module", params=sorted(COSTS))
def ladder(request: pytest.FixtureRequest) -> tuple[float, xr.Dataset]:
    return request.param, solve_ladder(two_microgrids(request.param), scenarios())


def test_every_rung_costs_what_it_does_by_hand(ladder: tuple[float, xr.Dataset]) -> None:
    fee, ds = ladder
    assert [str(m) for m in ds["mode"].values] == list(LADDER)
    for mode, cost in COSTS[fee].items():
        # the least-exchange second solve holds the cost within 1e-9 of its optimum
        assert float(ds["annual_cost"].sel(mode=mode)) == pytest.approx(cost, abs=1e-8), mode


def test_both_orders_and_the_order_free_split(ladder: tuple[float, xr.Dataset]) -> None:
    fee, ds = ladder
    parts = decompose(ds)
    # fee 0: S = 0.90 - 0.35 = 0.55; storage first: 0.90 - 0.55 = 0.35 storage sharing,
    # 0.55 - 0.35 = 0.20 exchange; exchange first: 0.90 - 0.35 = 0.55 exchange, 0 storage
    # sharing (individual + p2p already shares the one battery).
    # fee 0.01: S = 0.49; storage first 0.31 / 0.18; exchange first 0.51 / -0.02 (pooled
    # meters the stored energy at both connections, p2p from a battery only once)
    expected = {0.0: (0.55, (0.35, 0.2), (0.55, 0.0)),
                0.01: (0.49, (0.31, 0.18), (0.51, -0.02))}[fee]
    saving, (storage_a, exchange_a), (exchange_b, storage_b) = expected
    assert parts["saving_per_yr"] == pytest.approx(saving, abs=1e-8)
    first, second = parts["split_storage_first"], parts["split_exchange_first"]
    assert first["saving_from_storage_sharing_per_yr"] == pytest.approx(storage_a, abs=1e-8)
    assert first["saving_from_exchange_per_yr"] == pytest.approx(exchange_a, abs=1e-8)
    assert second["saving_from_exchange_per_yr"] == pytest.approx(exchange_b, abs=1e-8)
    assert second["saving_from_storage_sharing_per_yr"] == pytest.approx(storage_b, abs=1e-8)
    storage = parts["saving_from_storage_sharing_per_yr"]
    exchange = parts["saving_from_exchange_per_yr"]
    assert storage == pytest.approx((storage_a + storage_b) / 2, abs=1e-8)
    assert exchange == pytest.approx((exchange_a + exchange_b) / 2, abs=1e-8)
    assert storage + exchange == pytest.approx(parts["saving_per_yr"], abs=1e-12)
    # the decomposition is stored in the attributes (NetCDF-safe floats)
    assert ds.attrs["ladder_saving_per_yr"] == pytest.approx(saving, abs=1e-8)
    assert ds.attrs["ladder_saving_from_exchange_per_yr"] == exchange
    assert ds.attrs["ladder_split_exchange_first_saving_from_storage_sharing_per_yr"] \
        == second["saving_from_storage_sharing_per_yr"]


def test_summary_is_json_with_the_diagnostics(ladder: tuple[float, xr.Dataset]) -> None:
    fee, ds = ladder
    s = json.loads(json.dumps(ladder_summary(ds)))
    assert {"saving_per_yr", "saving_from_exchange_per_yr",
            "saving_from_storage_sharing_per_yr"} <= set(s)
    assert set(s["split_storage_first"]) == set(s["split_exchange_first"]) == SPLIT_KEYS
    assert list(s["rungs"]) == list(LADDER)
    assert s["certified"] is True
    for rung in s["rungs"].values():
        assert set(rung) == RUNG_KEYS
        assert rung["warnings"] == []
    pooled, accounts = s["rungs"]["pooled"], s["rungs"]["accounts"]
    assert pooled["total_energy_kwh"] == pytest.approx(1.0, abs=1e-8)
    assert pooled["total_power_kw"] == pytest.approx(1.0, abs=1e-8)
    # at the cells the pooled station cycles twice a day (a's and b's kWh); step 4's kWh
    # passes the bus from a to b without touching the cells
    assert pooled["equivalent_full_cycles_per_yr"] == {"station": pytest.approx(2.0)}
    assert pooled["exchange_station_kwh_per_yr"] == pytest.approx(1.0, abs=1e-6)
    assert accounts["exchanged_kwh_per_yr"] == pytest.approx(0.0, abs=1e-9)
    assert s["rungs"]["accounts+p2p"]["exchange_p2p_kwh_per_yr"] == pytest.approx(1.0,
                                                                                  abs=1e-6)
    # one battery serves both microgrids: b's step 3 and step 4 by p2p
    both = s["rungs"]["individual+p2p"]
    assert both["exchange_p2p_kwh_per_yr"] == pytest.approx(2.0, abs=1e-6)
    assert both["total_energy_kwh"] == pytest.approx(1.0, abs=1e-8)
    assert sum(both["equivalent_full_cycles_per_yr"].values()) == pytest.approx(2.0)
    assert s["rungs"]["individual"]["equivalent_full_cycles_per_yr"] == {
        "a": pytest.approx(1.0), "b": pytest.approx(1.0)}
    assert s["rungs"]["pooled"]["saving_vs_individual_per_yr"] == pytest.approx(
        s["saving_per_yr"])


def test_table_and_words(ladder: tuple[float, xr.Dataset]) -> None:
    fee, ds = ladder
    text = ladder_table(ds)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == list(LADDER)
    if fee == 0:
        # cost, saving, 1 kWh, 1 kW, 2 cycles at the cells, 1 kWh = 0.001 MWh exchanged
        assert "| pooled | 0.35 | 0.55 | 1 | 1 | 2 | 0.001 | - |" in rows
        assert "Of the 0.55/yr that the pooled station saves against individual batteries" \
            in text
        # 0.175 / 0.55 and 0.375 / 0.55
        assert "(32%) is storage sharing and" in text and "(68%) energy exchange" in text
        assert "negative" not in text
    else:
        assert "| pooled | 0.41 | 0.49 |" in text
        assert "energy exchange 0.51, storage sharing -0.02." in text
        assert "A negative share" in text


def test_figure_builds(ladder: tuple[float, xr.Dataset], tmp_path: Path) -> None:
    fee, ds = ladder
    assert "ladder" in available(ds)
    fig = plot_ladder(ds)
    fall, rungs = fig.axes
    bars = sorted(fall.patches, key=lambda patch: patch.get_x())
    parts = decompose(ds)
    storage = parts["saving_from_storage_sharing_per_yr"]
    exchange = parts["saving_from_exchange_per_yr"]
    pooled = float(ds["annual_cost"].sel(mode="pooled"))
    # individual, minus storage sharing, minus exchange, lands on the pooled cost
    np.testing.assert_allclose([bar.get_height() for bar in bars],
                               [0.9, -storage, -exchange, pooled], atol=1e-8)
    np.testing.assert_allclose([bar.get_y() for bar in bars],
                               [0.0, 0.9, 0.9 - storage, 0.0], atol=1e-8)
    assert 0.9 - storage - exchange == pytest.approx(pooled, abs=1e-8)
    # the rungs from the top (none) down to the pooled station
    assert [t.get_text() for t in rungs.get_yticklabels()] == list(LADDER)
    assert list(rungs.get_yticks()) == list(range(len(LADDER)))[::-1]
    if fee == 0:  # saved deterministically, like every figure
        one = save_figure(fig, tmp_path / "one", "test")
        two = save_figure(plot_ladder(ds), tmp_path / "two", "test")
        assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]
    fig.canvas.draw()


def test_rungs_already_solved_are_reused(ladder: tuple[float, xr.Dataset]) -> None:
    fee, fresh = ladder
    system = two_microgrids(fee)
    plan = plan_ef(system, scenarios())
    assert "saving_of_sharing_per_yr" in plan.attrs
    ds = solve_ladder(system, scenarios(), solved=plan)
    assert [str(m) for m in ds["mode"].values] == list(LADDER)
    np.testing.assert_allclose(ds["annual_cost"].values, fresh["annual_cost"].values,
                               atol=1e-8)
    assert float(ds["solve_s"].sel(mode="accounts")) == float(plan["solve_s"].sel(
        mode="accounts"))
    for key in ("saving_per_yr", "saving_from_exchange_per_yr"):
        assert ds.attrs[f"ladder_{key}"] == pytest.approx(fresh.attrs[f"ladder_{key}"],
                                                          abs=1e-8)
    # three stations on the ladder: no single "saving of sharing" is carried over
    assert not any(k.startswith("saving_of_") for k in ds.attrs)


def test_decomposition_needs_its_rungs() -> None:
    ds = solve_ladder(two_microgrids(), scenarios(), modes=("individual", "accounts"))
    assert "ladder_saving_per_yr" not in ds.attrs
    assert "ladder" not in available(ds)
    with pytest.raises(InputError, match="individual\\+p2p"):
        decompose(ds)
