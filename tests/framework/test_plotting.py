"""Every figure function on a small result: right content, deterministic PDF and PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex

from framework.architecture import ARCHITECTURES
from framework.errors import InputError
from framework.evaluate import out_of_sample
from framework.game import allocate
from framework.plotting import (
    available,
    plot_allocation,
    plot_bound_convergence,
    plot_capacity_cost,
    plot_objective_vs_k,
    plot_out_of_sample,
    plot_price_of_robustness,
    plot_representative_days,
    plot_soc,
    save_figure,
)
from framework.plotting.exchange import FLOWS, plot_exchange
from framework.plotting.style import MODE_COLORS, MODE_LABELS
from framework.solve.ef import plan_ef
from framework.study.tables import summary_dataset
from tests.framework.conftest import make_scenarios, make_system


@pytest.fixture(scope="module")
def system():
    return make_system(
        [{"name": "a", "pv_kw": 10.0}, {"name": "b"}],
        tariff={"price_buy_per_kwh": [0.1] * 12 + [0.5] * 12, "price_sell_per_kwh": 0.0},
        storage={"capex_energy_per_kwh": 0.02, "capex_power_per_kw": 0.01,
                 "lifetime_yr": 1.0, "discount_rate": 0.0},
        shared={"capex_multiplier": 0.8})


@pytest.fixture(scope="module")
def scenarios():
    rng = np.random.default_rng(0)
    load = rng.uniform(1.0, 6.0, size=(3, 24, 2))
    pv = np.clip(np.sin(np.linspace(0, np.pi, 24))[None, :, None]
                 * rng.uniform(0.3, 1.0, size=(3, 1, 2)), 0, 1)
    return make_scenarios(load, pv_pu=pv, probability=[0.5, 0.3, 0.2], microgrids=["a", "b"])


@pytest.fixture(scope="module")
def plan(system, scenarios):
    ds = plan_ef(system, scenarios)
    return xr.merge([ds, out_of_sample(system, ds, scenarios)], combine_attrs="override")


@pytest.fixture(scope="module")
def allocation(system, scenarios):
    return allocate(system, scenarios, ["shapley", "nucleolus", "proportional_cost"])


@pytest.fixture(scope="module")
def summary():
    rows = [{"case": f"k{k}-{m}", "task": "plan", "status": "ok", "method": "ef", "mode": mode,
             "clusters": k, "cluster_method": m, "all_days": 0, "sample_days": 0,
             "annual_cost": 100.0 - k + (mode == "individual") * 20 + (m == "kmedoids"),
             "oos_annual_cost": 110.0 - k / 2, "energy_kwh": 10.0 + k, "power_kw": 5.0,
             "n_scenarios": k} for k in (1, 2, 4, 8) for m in ("kmeans", "kmedoids")
            for mode in ("individual", "accounts")]
    rows.append({"case": "year", "task": "plan", "status": "ok", "method": "ef",
                 "mode": "accounts", "clusters": 12, "cluster_method": "kmeans", "all_days": 1,
                 "sample_days": 0, "annual_cost": 95.0, "oos_annual_cost": 95.0,
                 "energy_kwh": 20.0, "power_kw": 6.0, "n_scenarios": 366})
    rows += [{"case": f"g{g}", "task": "plan", "status": "ok", "method": "ccg",
              "mode": "accounts", "option_gamma": g, "clusters": 8, "cluster_method": "kmeans",
              "all_days": 0, "sample_days": 0, "annual_cost": 90.0 + 3 * g,
              "objective": 90.0 + 3 * g + (g == 2) * 5, "nominal_annual_cost": 90.0 + g / 2,
              "oos_annual_cost": 93.0 + g / 3, "stochastic_worst_case_cost": 95.0 + 4 * g,
              "stochastic_worst_case_bound": 95.0 + 4 * g + (g == 4) * 2,
              "energy_kwh": 18.0 + g, "power_kw": 6.0, "n_scenarios": 8} for g in (0, 2, 4)]
    rows.append({"case": "broken", "task": "plan", "status": "failed", "method": "ef",
                 "mode": "both", "clusters": 16, "cluster_method": "kmeans", "all_days": 0,
                 "sample_days": 0})
    return summary_dataset(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def history():
    it = np.arange(1, 5)
    return xr.Dataset(
        {"ccg_lower_bound": (("mode", "iteration"), [[50.0, 80.0, 95.0, 99.0],
                                                     [40.0, 70.0, 90.0, 98.0]]),
         "ccg_upper_bound": (("mode", "iteration"), [[np.inf, 120.0, 101.0, 100.0],
                                                     [150.0, 110.0, 100.0, 99.0]])},
        coords={"mode": ["individual", "accounts"], "iteration": it})


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


FIGURES = {
    "representative_days": lambda f: plot_representative_days(f["plan"]),
    "soc": lambda f: plot_soc(f["plan"]),
    "capacity_cost": lambda f: plot_capacity_cost(f["plan"]),
    "exchange": lambda f: plot_exchange(f["plan"]),
    "out_of_sample": lambda f: plot_out_of_sample(f["plan"]),
    "allocation": lambda f: plot_allocation(f["allocation"]),
    "bound_convergence": lambda f: plot_bound_convergence(f["history"]),
    "objective_vs_k": lambda f: plot_objective_vs_k(f["summary"]),
    "price_of_robustness": lambda f: plot_price_of_robustness(f["summary"]),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_saves_deterministic_pdf_and_png(name, tmp_path, plan, allocation,
                                                      summary, history) -> None:
    data = {"plan": plan, "allocation": allocation, "summary": summary, "history": history}
    fig = FIGURES[name](data)
    first = save_figure(fig, tmp_path / "one" / name, description="test")
    second = save_figure(FIGURES[name](data), tmp_path / "two" / name, description="test")
    assert [p.suffix for p in first] == [".pdf", ".png"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert first[0].read_bytes().startswith(b"%PDF")
    assert b"CreationDate" not in first[0].read_bytes()
    png = first[1].read_bytes()
    assert png.startswith(b"\x89PNG") and b"Software" not in png
    width, _ = _png_size(png)
    assert width == round(fig.get_figwidth() * 300)


def test_save_leaves_identical_files_untouched(tmp_path, plan) -> None:
    paths = save_figure(plot_capacity_cost(plan), tmp_path / "cap")
    stamps = [p.stat().st_mtime_ns for p in paths]
    save_figure(plot_capacity_cost(plan), tmp_path / "cap")
    assert [p.stat().st_mtime_ns for p in paths] == stamps


def test_representative_days_panels_and_weights(plan) -> None:
    fig = plot_representative_days(plan)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3
    assert [ax.get_title() for ax in visible] == [
        "scenario 0: p = 50.0%", "scenario 1: p = 30.0%", "scenario 2: p = 20.0%"]
    load = visible[1].get_lines()[0].get_ydata()
    np.testing.assert_allclose(load[:-1], plan["load_kw"].isel(scenario=1).sum("microgrid"))


def test_representative_days_many_scenarios_overlay() -> None:
    rng = np.random.default_rng(1)
    ds = make_scenarios(rng.uniform(0, 5, size=(20, 24, 1)),
                        probability=rng.dirichlet(np.ones(20)))
    fig = plot_representative_days(ds)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 21  # one net load per day and the zero line
    bars = sorted((p.get_height() for p in fig.axes[1].patches), reverse=True)
    np.testing.assert_allclose(bars, np.sort(ds["probability"].values)[::-1])


def test_capacity_bars_are_the_capacities(plan) -> None:
    fig = plot_capacity_cost(plan)
    for ax, name in zip(fig.axes[:2], ("cap_energy_kwh", "cap_power_kw")):
        heights = {}
        for patch in ax.patches:
            x = round(patch.get_x() + patch.get_width() / 2)
            heights[x] = heights.get(x, 0.0) + patch.get_height()
        assert heights[0] == pytest.approx(float(plan[name].sel(mode="individual").sum()))
        assert heights[1] == pytest.approx(float(plan[name].sel(mode="accounts",
                                                                storage="station")))
    cost = fig.axes[2]
    totals = [line.get_ydata()[0] for line in cost.get_lines() if line.get_marker() == "D"]
    np.testing.assert_allclose(totals, plan["annual_cost"].values)
    saving = plan.attrs["saving_of_sharing_per_yr"]
    share = saving / float(plan["annual_cost"].sel(mode="individual"))
    assert saving < 100  # a small saving keeps three digits
    assert cost.get_title() == (f"saving of sharing {saving:.3g} per year ({share:.1%})\n"
                                "with the station (accounts),\nfrom storage sharing")


def test_soc_curves_are_cyclic_and_match_the_result(plan) -> None:
    fig = plot_soc(plan, n_scenarios=2)
    assert len(fig.axes) == 2
    station = fig.axes[0].get_lines()[0]
    soc = plan["soc_kwh"].sel(mode="accounts", storage="station").isel(scenario=0).values
    np.testing.assert_allclose(station.get_ydata(), np.append(soc[-1], soc))
    assert station.get_label() == "station (accounts)"


def test_every_architecture_in_one_result(system, scenarios) -> None:
    """Capacity and SOC figures of a result with all eight architectures: one bar per
    architecture with storage (a station in its architecture's colour), none for ``none``
    and ``p2p``; a station line per station architecture, batteries of the first
    architecture with batteries and the sum of each."""
    ds = plan_ef(system, scenarios, modes=list(ARCHITECTURES))
    fig = plot_capacity_cost(ds)
    energy = fig.axes[0]
    assert [t.get_text() for t in energy.get_xticklabels()] == [
        "no storage", "no storage + p2p", "individual", "individual + p2p",
        "station (accounts)", "station (accounts) + p2p", "station (pooled)",
        "station (pooled) + p2p"]
    bars: dict[int, list] = {}
    for patch in energy.patches:
        bars.setdefault(round(patch.get_x() + patch.get_width() / 2), []).append(patch)
    assert sorted(bars) == [2, 3, 4, 5, 6, 7]  # nothing stored in none and p2p
    for i, mode in enumerate(ARCHITECTURES):
        if i < 2:
            continue
        total = sum(p.get_height() for p in bars[i])
        assert total == pytest.approx(float(ds["cap_energy_kwh"].sel(mode=mode).sum()))
        if i >= 4:  # a station: one bar in its architecture's colour
            (patch,) = bars[i]
            assert to_hex(patch.get_facecolor()) == MODE_COLORS[mode].lower()
    assert "saving" not in fig.axes[2].get_title()  # two stations: no single saving

    soc = plot_soc(ds, n_scenarios=1)
    lines = {line.get_label(): line for line in soc.axes[0].get_lines()}
    assert list(lines) == [
        "station (accounts)", "station (accounts) + p2p", "station (pooled)",
        "station (pooled) + p2p", "battery of a", "battery of b",
        "individual: sum of the batteries", "individual + p2p: sum of the batteries"]
    k = int(np.argmax(ds["probability"].values))
    for mode in ("accounts", "pooled+p2p"):
        y = ds["soc_kwh"].sel(mode=mode, storage="station").isel(scenario=k).values
        np.testing.assert_allclose(lines[MODE_LABELS[mode]].get_ydata(), np.append(y[-1], y))
    own = ds["soc_kwh"].sel(mode="individual+p2p", storage=["a", "b"]).isel(scenario=k)
    y = own.sum("storage").values
    np.testing.assert_allclose(lines["individual + p2p: sum of the batteries"].get_ydata(),
                               np.append(y[-1], y))
    with pytest.raises(InputError, match="no storage built"):
        plot_soc(ds.sel(mode=["none", "p2p"]))


def test_bound_convergence_reads_the_history(history) -> None:
    fig = plot_bound_convergence(history)
    bounds, gap = fig.axes
    upper = bounds.get_lines()[0].get_ydata()
    assert np.isnan(upper[0]) and list(upper[1:]) == [120.0, 101.0, 100.0]
    np.testing.assert_allclose(gap.get_lines()[1].get_ydata(),
                               [110 / 150, 40 / 110, 10 / 100, 1 / 99])
    plain = history.rename({"ccg_lower_bound": "lower_bound", "ccg_upper_bound": "upper_bound"})
    assert len(plot_bound_convergence(plain.sel(mode="accounts")).axes[0].get_lines()) == 2
    assert [line.get_label() for line in bounds.get_lines()][:2] == [
        "individual: upper bound", "individual: lower bound"]


def test_a_ph_history_draws_its_outer_and_inner_bounds(history) -> None:
    """PH stores ``ph_outer_bound`` and ``ph_inner_bound``: the figure is available for a
    PH result and draws them as the lower and upper bound."""
    from framework.plotting.make import available

    ph = history.rename({"ccg_lower_bound": "ph_outer_bound", "ccg_upper_bound": "ph_inner_bound"})
    assert "bound_convergence" in available(ph)
    bounds, _ = plot_bound_convergence(ph).axes
    np.testing.assert_allclose(bounds.get_lines()[1].get_ydata(), [50.0, 80.0, 95.0, 99.0])


def test_objective_vs_k_lines(summary) -> None:
    fig = plot_objective_vs_k(summary)
    cost, oos, energy, _ = fig.axes
    kmeans = cost.get_lines()[0]
    np.testing.assert_allclose(kmeans.get_xdata(), [1, 2, 4, 8])
    np.testing.assert_allclose(kmeans.get_ydata(), [99.0, 98.0, 96.0, 92.0])
    np.testing.assert_allclose(oos.get_lines()[1].get_ydata(), [109.5, 109.0, 108.0, 106.0])
    np.testing.assert_allclose(energy.get_lines()[0].get_ydata(), [11.0, 12.0, 14.0, 18.0])
    for ax, value in ((cost, 95.0), (oos, 95.0), (energy, 20.0)):
        reference = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert reference[0].get_ydata()[0] == value


def test_available_figures(plan, allocation, history, scenarios) -> None:
    assert available(plan) == ["representative_days", "soc", "capacity_cost", "exchange",
                               "out_of_sample"]
    assert available(allocation) == ["allocation"]
    assert available(history) == ["bound_convergence"]
    assert available(scenarios) == ["representative_days"]


def test_price_of_robustness_bars_reach_the_certified_bound(summary) -> None:
    # Gamma = 2 stopped short: its bar runs from the worst cases found (96) to the bound (101);
    # the stochastic plan's worst case at Gamma = 4 was not proven: 111 up to 113
    fig = plot_price_of_robustness(summary)
    segments = [[tuple(map(tuple, seg)) for seg in c.get_segments()]
                for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    assert segments == [[((2.0, 96.0), (2.0, 101.0))], [((4.0, 111.0), (4.0, 113.0))]]
    (stochastic,) = [line for line in fig.axes[0].get_lines()
                     if line.get_label().startswith("stochastic plan at its worst cases")]
    np.testing.assert_allclose(stochastic.get_ydata(), [95.0, 103.0, 111.0])


def test_equally_likely_days_have_no_colour_bar_nor_probabilities() -> None:
    """Every historical day a scenario (``--all-days``): all of probability 1/30, so no
    colour bar and no bars of equal probabilities, a title that does not call them
    representative days, and the mean day and the 5-95 % band of the net loads."""
    rng = np.random.default_rng(2)
    ds = make_scenarios(rng.uniform(0, 5, size=(30, 24, 1)), pv_pu=rng.uniform(
        0, 1, size=(30, 24, 1)))
    ds["pv_kw"] = ("microgrid", [3.0])
    ds["wind_kw"] = ("microgrid", [0.0])
    fig = plot_representative_days(ds)
    (ax,) = fig.axes
    assert ax.get_title() == "30 days, each of probability 1/30"
    net = (ds["load_kw"] - 3.0 * ds["pv_pu"]).squeeze("microgrid").values
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["mean day"].get_ydata()[:-1], net.mean(axis=0))
    assert len(ax.get_lines()) == 30 + 2  # the days, the mean day and the zero line
    (band,) = ax.collections
    assert band.get_label() == "5-95 % of the days (each step)"
    assert band.get_paths()[0].vertices[:, 1].max() == pytest.approx(
        np.quantile(net, 0.95, axis=0).max())


def test_bound_convergence_without_an_upper_bound(history) -> None:
    """No finite upper bound (no feasible plan evaluated yet): no empty log panel of gaps,
    no legend entry for a line that is not drawn, a title that says why."""
    none = history.copy()
    none["ccg_upper_bound"] = xr.full_like(history["ccg_upper_bound"], np.inf)
    fig = plot_bound_convergence(none)
    (bounds,) = fig.axes
    assert bounds.get_title() == "no upper bound (no feasible plan evaluated): no gap"
    drawn = {line.get_label(): line for line in bounds.get_lines()}
    assert list(drawn) == ["individual: lower bound", "station (accounts): lower bound"]
    np.testing.assert_allclose(drawn["individual: lower bound"].get_ydata(),
                               [50.0, 80.0, 95.0, 99.0])
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(drawn)
    # one mode without an upper bound: the other's gap is drawn, the title names the first
    half = history.copy()
    half["ccg_upper_bound"].loc[{"mode": "individual"}] = np.inf
    bounds, gap = plot_bound_convergence(half).axes
    assert bounds.get_title() == "no upper bound (no feasible plan evaluated) for individual"
    np.testing.assert_allclose(gap.get_lines()[0].get_ydata(),
                               [110 / 150, 40 / 110, 10 / 100, 1 / 99])


def test_bound_convergence_shows_an_upper_bound_equal_to_the_lower(history) -> None:
    """Bounds equal at every iteration: the upper bound is drawn above the lower one as
    small filled dots inside its open squares, and the closed gaps at the floor."""
    same = history.copy()
    same["ccg_upper_bound"] = history["ccg_lower_bound"].copy()
    bounds, gap = plot_bound_convergence(same).axes
    upper, lower = bounds.get_lines()[:2]
    np.testing.assert_array_equal(upper.get_ydata(), lower.get_ydata())
    assert upper.get_zorder() > lower.get_zorder()
    assert upper.get_markersize() < lower.get_markersize()
    assert lower.get_markerfacecolor() == "none"
    closed = [line for line in gap.get_lines() if line.get_label() in (
        "individual", "station (accounts)")]
    for line in closed:
        np.testing.assert_allclose(line.get_ydata(), 1e-9)
    assert closed[0].get_markersize() > closed[1].get_markersize()


def test_capacity_cost_draws_storage_and_exchange_costs_on_their_own_scale(plan) -> None:
    """Grid energy of 300,000 a year dwarfs capex, degradation and fees in the cost split:
    they are drawn again in a panel of their own scale, each bar labelled with its value."""
    ds = plan.copy(deep=True)
    ds["capex_annual"][:] = [22_000.0, 7_500.0]
    operating = ds["annual_operating_cost"]
    operating.loc[{"cost_term": "energy"}] = [300_000.0, 290_000.0]
    operating.loc[{"cost_term": "degradation"}] = [3_000.0, 1_250.0]
    operating.loc[{"cost_term": "fees"}] = [0.0, 3_100.0]
    ds["annual_cost"] = ds["capex_annual"] + operating.sum("cost_term")
    fig = plot_capacity_cost(ds)
    _, _, cost, detail = fig.axes
    assert detail.get_title() == "storage and exchange, own scale"
    heights = [patch.get_height() for patch in detail.patches]
    np.testing.assert_allclose(heights, [22_000, 7_500, 3_000, 1_250, 0, 3_100])
    assert [t.get_text() for t in detail.texts] == ["22,000", "7,500", "3,000", "1,250", "",
                                                    "3,100"]
    assert detail.get_ylim()[1] < 0.1 * cost.get_ylim()[1]
    assert detail.get_ylim()[1] > 22_000
    totals = [line.get_ydata()[0] for line in cost.get_lines() if line.get_marker() == "D"]
    np.testing.assert_allclose(totals, ds["annual_cost"].values)


@pytest.fixture(scope="module")
def exchanged():
    """Two microgrids over two 12-h steps, two days a year: ``a`` needs 10 kW in the dear
    step when ``b``'s 6 kW of PV shines (scenario 0, p = 1/4) or 3 kW (scenario 1, p = 3/4)
    and ``b`` has no load; exchange fee 0.01 per kWh."""
    system = make_system(
        [{"name": "a"}, {"name": "b", "pv_kw": 6.0}], step_h=12.0,
        tariff={"price_buy_per_kwh": [0.1, 0.5], "price_sell_per_kwh": 0.0},
        storage={"capex_energy_per_kwh": 0.1, "capex_power_per_kw": 0.05,
                 "lifetime_yr": 1.0, "discount_rate": 0.0},
        shared={"exchange_fee_per_kwh": 0.01}, planning={"days_per_year": 2.0})
    load = np.zeros((2, 2, 2))
    load[:, 1, 0] = 10.0
    pv = np.zeros((2, 2, 2))
    pv[:, 1, 1] = [1.0, 0.5]
    days = make_scenarios(load, pv_pu=pv, probability=[0.25, 0.75], microgrids=["a", "b"],
                          step_h=12.0)
    return plan_ef(system, days, modes=["individual", "p2p", "pooled+p2p"])


def _bars(ax) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for container in ax.containers:
        out[container.get_label()] = [patch.get_height() for patch in container]
    return out


def test_exchange_bars_are_the_annual_energies(exchanged) -> None:
    """p2p alone: b sends a its PV, 6 kW or 3 kW for 12 h, so 2 * (72 / 4 + 36 * 3 / 4) = 90
    kWh/yr each way; pooled + p2p: every flow is its probability-weighted energy times two
    days, and the title gives the energy that passed the station's bus (the diagnostics').
    Individual batteries exchange nothing: no panel."""
    assert "exchange" in available(exchanged)
    assert "exchange" not in available(exchanged.sel(mode=["individual"]))
    fig = plot_exchange(exchanged)
    p2p, pooled = [ax for ax in fig.axes if ax.get_visible()]
    assert p2p.get_title() == "no storage + p2p"
    np.testing.assert_allclose(_bars(p2p)[FLOWS["p2p_out_kw"][0]], [0.0, 90.0], atol=1e-6)
    np.testing.assert_allclose(_bars(p2p)[FLOWS["p2p_in_kw"][0]], [90.0, 0.0], atol=1e-6)
    assert set(_bars(p2p)) == {FLOWS["p2p_out_kw"][0], FLOWS["p2p_in_kw"][0]}
    r = exchanged.sel(mode="pooled+p2p")
    for name, (label, _) in FLOWS.items():
        by_hand = 2.0 * np.einsum("s,stm->m", [0.25, 0.75], r[name].values) * 12.0
        np.testing.assert_allclose(_bars(pooled)[label], by_hand, atol=1e-6)
    received = _bars(pooled)[FLOWS["p2p_in_kw"][0]]
    assert sum(received) == pytest.approx(float(r["exchange_p2p_kwh_per_yr"]), abs=1e-6)
    passing = float(r["exchange_station_kwh_per_yr"])
    assert pooled.get_title() == (f"station (pooled) + p2p\n{passing:,.0f} kWh/yr passed "
                                  "through its bus")


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.texts] + [
        t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]


def test_figures_flag_costs_that_are_not_certified(plan) -> None:
    """A mode stopped at a time limit is marked NOT CERTIFIED in the figures that draw its
    cost, with the reason; a certified result carries no such mark."""
    assert not any("NOT CERTIFIED" in t for t in _texts(plot_capacity_cost(plan)))
    stopped = plan.copy()
    stopped["termination"] = stopped["termination"].copy(
        data=["optimal" if m == "individual" else "maxTimeLimit"
              for m in stopped["mode"].values])
    fig = plot_capacity_cost(stopped)
    texts = _texts(fig)
    assert next(t.get_text() for t in fig.texts if t.get_text().startswith("NOT CERTIFIED")
                ) == "NOT CERTIFIED: station (accounts): ended with 'maxTimeLimit'"
    # the accounts tick of each of the four panels (energy, power, costs, storage costs)
    assert sum("NOT CERTIFIED" in t for t in texts if "\n" in t) == 4
    assert any(t.startswith("NOT CERTIFIED") for t in _texts(plot_out_of_sample(stopped)))
