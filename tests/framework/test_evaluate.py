"""Out-of-sample evaluation, VSS, EVPI and the MMW gap on a one-battery newsvendor.

The system: one microgrid, energy free at night (price 0) and 1 per kWh from 12 h, a
lossless battery at 0.3 per kWh of capacity and year (power free), one day per year. A day
with ``L`` kWh of load at 18 h costs ``max(L - E, 0)`` with a battery of ``E`` kWh (charged
at night), so the plan is a newsvendor and every number below is worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from framework.evaluate import (
    expected_value_scenario,
    optimality_gap_ci,
    out_of_sample,
    sample_days,
    vss_evpi,
    weighted_quantiles,
)
from framework.solve.ef import plan_ef, solve_ef
from tests.framework.conftest import make_scenarios, make_system

PEAK_HOUR = 18


def newsvendor(import_limit_kw: float | None = None):
    mg = {"name": "a"} if import_limit_kw is None else {"name": "a",
                                                         "import_limit_kw": import_limit_kw}
    return make_system(
        [mg],
        tariff={"price_buy_per_kwh": [0.0] * 12 + [1.0] * 12, "price_sell_per_kwh": 0.0,
                "voll_per_kwh": 10.0},
        storage={"capex_energy_per_kwh": 0.3, "capex_power_per_kw": 0.0, "lifetime_yr": 1.0,
                 "discount_rate": 0.0, "om_fraction_per_yr": 0.0, "eta_charge": 1.0,
                 "eta_discharge": 1.0, "soc_min_frac": 0.0, "soc_max_frac": 1.0})


def peak_days(loads: list[float], probability: list[float] | None = None):
    load = np.zeros((len(loads), 24, 1))
    load[:, PEAK_HOUR, 0] = loads
    return make_scenarios(load, probability=probability, microgrids=["a"])


def test_expected_value_scenario_is_the_weighted_mean() -> None:
    ev = expected_value_scenario(peak_days([0.0, 10.0], [0.2, 0.8]))
    assert ev.sizes["scenario"] == 1
    assert float(ev["probability"].sum()) == 1.0
    assert float(ev["load_kw"].sel(step=PEAK_HOUR).squeeze()) == pytest.approx(8.0)
    assert float(ev["load_kw"].sum()) == pytest.approx(8.0)


def test_vss_and_evpi_by_hand() -> None:
    """Days of 0 and 10 kWh, each 1/2: RP builds E = 10 (0.5 > 0.3 per kWh), cost 3;
    EV builds E = 5 for the mean day, which costs 1.5 + 0.5 * 5 = 4 on the two days
    (VSS = 1); wait and see: 0 and 3, WS = 1.5 (EVPI = 1.5)."""
    system = newsvendor()
    out = vss_evpi(system, peak_days([0.0, 10.0]), modes=["individual"])
    r = out.sel(mode="individual")
    assert float(r["rp_cost"]) == pytest.approx(3.0, abs=1e-6)
    assert float(r["ev_cost"]) == pytest.approx(1.5, abs=1e-6)
    assert float(r["ev_cap_energy_kwh"]) == pytest.approx(5.0, abs=1e-6)
    assert float(r["eev_cost"]) == pytest.approx(4.0, abs=1e-6)
    assert float(r["vss"]) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(r["ws_cost_by_scenario"], [0.0, 3.0], atol=1e-6)
    assert float(r["ws_cost"]) == pytest.approx(1.5, abs=1e-6)
    assert float(r["evpi"]) == pytest.approx(1.5, abs=1e-6)


def test_vss_evpi_nonnegative_and_reuse_recourse_problem() -> None:
    """Two microgrids, individual batteries and a station of accounts (``plan_ef``'s
    default), uneven probabilities: VSS >= 0 and EVPI >= 0, and the given recourse problem
    gives the same numbers as solving it again."""
    system = make_system(
        [{"name": "a", "pv_kw": 10.0}, {"name": "b"}],
        tariff={"price_buy_per_kwh": [0.1] * 12 + [0.5] * 12, "price_sell_per_kwh": 0.0},
        storage={"capex_energy_per_kwh": 0.05, "capex_power_per_kw": 0.02,
                 "lifetime_yr": 1.0, "discount_rate": 0.0, "om_fraction_per_yr": 0.0})
    rng = np.random.default_rng(3)
    load = rng.uniform(0.0, 8.0, size=(3, 24, 2))
    pv = np.clip(rng.normal(0.4, 0.3, size=(3, 24, 2)), 0, 1)
    scen = make_scenarios(load, pv_pu=pv, probability=[0.5, 0.3, 0.2], microgrids=["a", "b"])
    rp = plan_ef(system, scen)
    out = vss_evpi(system, scen, recourse_problem=rp)
    assert [str(m) for m in out["mode"].values] == ["individual", "accounts"]
    assert (out["vss"] >= -1e-6).all() and (out["evpi"] >= -1e-6).all()
    assert float(out["evpi"].max()) > 1e-3  # the days differ, so information has value
    again = vss_evpi(system, scen, modes=["accounts"])
    assert float(again["rp_cost"].squeeze()) == pytest.approx(
        float(rp["annual_cost"].sel(mode="accounts")), rel=1e-7)
    assert float(again["vss"].squeeze()) == pytest.approx(
        float(out["vss"].sel(mode="accounts")), abs=1e-6)


def test_out_of_sample_mean_spread_quantiles_and_shedding() -> None:
    """E = 10 kWh (capex 3) on four days of 0, 10, 30, 5 kWh with a 15 kW import limit:
    the 30 kWh day imports 15 and sheds 5 at 10 per kWh, so the annualised costs are
    3, 3, 68, 3: mean 19.25, std sqrt(792.1875), median 3, 95 % quantile 68."""
    system = newsvendor(import_limit_kw=15.0)
    plan = solve_ef(system, peak_days([0.0, 10.0]), "individual")
    assert float(plan["cap_energy_kwh"].sum()) == pytest.approx(10.0, abs=1e-6)
    out = out_of_sample(system, plan, peak_days([0.0, 10.0, 30.0, 5.0]))
    r = out.sel(mode="individual")
    np.testing.assert_allclose(r["oos_annual_cost_by_day"], [3.0, 3.0, 68.0, 3.0], atol=1e-6)
    assert float(r["oos_annual_cost"]) == pytest.approx(19.25, abs=1e-6)
    assert float(r["oos_annual_cost_std"]) == pytest.approx(np.sqrt(792.1875), abs=1e-6)
    np.testing.assert_allclose(r["oos_annual_cost_quantile"], [3.0, 3.0, 68.0], atol=1e-6)
    assert float(r["oos_shed_kwh_per_yr"]) == pytest.approx(1.25, abs=1e-6)
    assert float(r["oos_shed_day_share"]) == pytest.approx(0.25)
    assert float(r["oos_annual_operating_cost"].sel(cost_term="shedding")) == pytest.approx(
        12.5, abs=1e-6)


def test_no_plan_beats_the_optimum_on_the_evaluation_days() -> None:
    """A plan from a sample of days costs at least the optimum of all days on all days;
    the optimum itself costs exactly its objective there. Days of 0 .. 20 kWh, each 1/6: a
    kWh of capacity saves 1/6 per day whose load exceeds it, so it pays (0.3 < 2/6) up to
    16 kWh; the optimum costs 0.3 * 16 + (20 - 16) / 6 = 5.4667."""
    system = newsvendor()
    days = peak_days([0.0, 4.0, 8.0, 12.0, 16.0, 20.0])
    optimum = solve_ef(system, days, "individual")
    best = 0.3 * 16 + 4 / 6
    assert float(optimum["cap_energy_kwh"].sum()) == pytest.approx(16.0, abs=1e-6)
    assert float(optimum["annual_cost"].squeeze()) == pytest.approx(best, abs=1e-6)
    assert float(out_of_sample(system, optimum, days)["oos_annual_cost"].squeeze()) == (
        pytest.approx(best, abs=1e-6))
    for seed in (0, 1, 2):
        sample, _ = sample_days(days, 2, seed=seed)
        plan = solve_ef(system, sample, "individual")
        oos = float(out_of_sample(system, plan, days)["oos_annual_cost"].squeeze())
        assert oos >= best - 1e-6


def test_weighted_quantiles_inverse_cdf() -> None:
    values = np.array([4.0, 1.0, 3.0, 2.0])
    np.testing.assert_allclose(weighted_quantiles(values, np.full(4, 0.25), [0.25, 0.5, 0.9]),
                               np.quantile(values, [0.25, 0.5, 0.9], method="inverted_cdf"))
    assert list(weighted_quantiles(values, np.array([0.7, 0.1, 0.1, 0.1]), [0.5, 0.95])) == [
        4.0, 4.0]


def test_sample_days_split() -> None:
    days = peak_days([0.0, 1.0, 2.0, 3.0, 4.0])
    sample, held_out = sample_days(days, 2, seed=1)
    taken = sorted(sample["load_kw"].sel(step=PEAK_HOUR).values.ravel().tolist()
                   + held_out["load_kw"].sel(step=PEAK_HOUR).values.ravel().tolist())
    assert taken == [0.0, 1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(sample["probability"], [0.5, 0.5])
    np.testing.assert_allclose(held_out["probability"], [1 / 3] * 3)
    again, _ = sample_days(days, 2, seed=1)
    np.testing.assert_array_equal(again["load_kw"], sample["load_kw"])


def test_mmw_gap_of_identical_days_by_hand() -> None:
    """Every day has 10 kWh at the peak: the optimum of any batch is E = 10 (cost 3 per
    day), so a plan without storage (cost 10) has gap G_j = 7 in every batch (s_G = 0,
    CI [0, 7]) and the optimal plan has gap 0."""
    system = newsvendor()
    days = peak_days([10.0, 10.0, 10.0])
    optimal = solve_ef(system, days, "individual")
    none = optimal.copy(deep=True)
    none["cap_energy_kwh"][:] = 0.0
    none["cap_power_kw"][:] = 0.0
    bad = optimality_gap_ci(system, none, days, batch_size=3, batches=2, seed=5)
    assert float(bad["mmw_gap"].squeeze()) == pytest.approx(7.0, abs=1e-5)
    np.testing.assert_allclose(bad["mmw_batch_gap"].squeeze(), [7.0, 7.0], atol=1e-5)
    assert float(bad["mmw_ci_low"].squeeze()) == 0.0
    assert float(bad["mmw_ci_high"].squeeze()) == pytest.approx(7.0, abs=1e-5)
    good = optimality_gap_ci(system, optimal, days, batch_size=3, batches=2, seed=5)
    assert float(good["mmw_ci_high"].squeeze()) == pytest.approx(0.0, abs=1e-5)


def test_mmw_gap_of_a_sampled_plan_is_nonnegative() -> None:
    """Days of 0 .. 20 kWh: a plan from 3 sampled days against batches of 4 drawn days."""
    system = newsvendor()
    days = peak_days([0.0, 4.0, 8.0, 12.0, 16.0, 20.0])
    sample, _ = sample_days(days, 3, seed=0)
    plan = solve_ef(system, sample, "individual")
    ci = optimality_gap_ci(system, plan, days, batch_size=4, batches=3, seed=2)
    assert (ci["mmw_batch_gap"] >= 0).all()
    assert float(ci["mmw_ci_high"].squeeze()) >= float(ci["mmw_gap"].squeeze()) >= 0.0


def test_without_storage_nothing_is_planned() -> None:
    """Without storage (``none``; ``p2p`` with one microgrid) there is no first stage: every
    day costs its 10 kWh at 1 per kWh whatever the plan, so VSS = EVPI = 0 and the MMW gap
    is 0 (nothing solved); the plan evaluated on the days costs the same."""
    system = newsvendor()
    days = peak_days([0.0, 10.0, 20.0])
    out = vss_evpi(system, days, modes=["none", "p2p"])
    np.testing.assert_allclose(out["rp_cost"], [10.0, 10.0], atol=1e-6)
    np.testing.assert_allclose(out[["vss", "evpi"]].to_array(), 0.0, atol=1e-6)
    plan = plan_ef(system, days, modes=["none", "individual"])
    ci = optimality_gap_ci(system, plan, days, modes=["none"], batch_size=2, batches=2)
    assert float(ci["mmw_ci_high"].squeeze()) == 0.0
    np.testing.assert_array_equal(ci["mmw_batch_gap"].squeeze(), [0.0, 0.0])
    oos = out_of_sample(system, plan, days)
    assert float(oos["oos_annual_cost"].sel(mode="none")) == pytest.approx(10.0, abs=1e-6)
    # the battery: 20 kWh pay (0.3 < 2/3 per kWh up to 10, 0.3 < 1/3 up to 20): 6 + 0
    assert float(oos["oos_annual_cost"].sel(mode="individual")) == pytest.approx(6.0, abs=1e-6)


def test_evaluate_with_statistics_gives_the_figure_its_statistics(tmp_path, monkeypatch
                                                                   ) -> None:
    """``sesplan evaluate``'s dataset: the plan of E = 10 kWh evaluated once (one solve per
    mode) on days of 0, 10, 30, 5 kWh with a 15 kW import limit, and the statistics of that
    evaluation (3, 3, 68, 3 per day, mean 19.25: the evaluation's own annual cost); the
    file written and read back draws the out-of-sample figure."""
    from framework import evaluate
    from framework.plotting.make import available, make_figures
    from framework.results import read_result, write_result

    system = newsvendor(import_limit_kw=15.0)
    plan = solve_ef(system, peak_days([0.0, 10.0]), "individual")
    solves = []

    def counted(*args, **kwargs):
        solves.append(args[2])
        return solve_ef(*args, **kwargs)

    monkeypatch.setattr(evaluate, "solve_ef", counted)
    ds = evaluate.evaluate_with_statistics(system, peak_days([0.0, 10.0, 30.0, 5.0]), plan)
    assert solves == ["individual"]
    back = read_result(write_result(ds, tmp_path / "ev.nc"))
    r = back.sel(mode="individual")
    np.testing.assert_allclose(r["oos_annual_cost_by_day"], [3.0, 3.0, 68.0, 3.0], atol=1e-6)
    assert float(r["oos_annual_cost"]) == pytest.approx(19.25, abs=1e-6)
    assert float(r["annual_cost"]) == pytest.approx(19.25, abs=1e-6)
    assert float(r["oos_shed_kwh_per_yr"]) == pytest.approx(1.25, abs=1e-6)
    assert float(r["cap_energy_kwh"].sum()) == pytest.approx(10.0, abs=1e-6)
    assert back.attrs["oos_days"] == 4 and back.attrs["method"] == "evaluation"
    assert "out_of_sample" in available(back)
    written = make_figures(tmp_path / "ev.nc", tmp_path / "figures", only=["out_of_sample"])
    assert [p.name for p in written] == ["out_of_sample-ev.pdf", "out_of_sample-ev.png"]
