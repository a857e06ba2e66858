"""The cooperative game: allocation rules on hand-built games (no solver), then coalition
values of tiny systems solved by the planning model (cache, core check, MPI ranks)."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from framework.cli import main
from framework.errors import InputError
from framework.game import (
    allocate,
    allocation_summary,
    allocation_dataset,
    allocation_table,
    check_allocation,
    coalition_values,
    core_is_empty,
    least_core,
    nucleolus,
    proportional,
    proportional_to_standalone,
    sampled_shapley,
    savings,
    shapley,
)
from framework.game.values import deal
from framework.solve import ef
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system, run_on_ranks

f = frozenset


def game_from(players: str, cost: Any) -> dict[frozenset[str], float]:
    """The game ``{C: cost(C)}`` over every non-empty coalition of the one-letter players."""
    return {f(c): float(cost(f(c))) for k in range(1, len(players) + 1)
            for c in itertools.combinations(players, k)}


# a cost game with a unique nucleolus computed by hand (see test_nucleolus_by_hand)
THREE = {f("1"): 10.0, f("2"): 10.0, f("3"): 10.0, f("12"): 15.0, f("13"): 16.0,
         f("23"): 18.0, f("123"): 21.0}


def test_shapley_by_hand() -> None:
    # airport game: runway segments of cost 1, 1, 1; player k needs the first k segments.
    # Segment 1 is shared by 3, segment 2 by 2, segment 3 by 1 player.
    g = game_from("abc", lambda c: max({"a": 1, "b": 2, "c": 3}[p] for p in c))
    phi = shapley(g)
    assert phi == pytest.approx({"a": 1 / 3, "b": 1 / 3 + 1 / 2, "c": 1 / 3 + 1 / 2 + 1})
    # THREE, player 1 over the six orders: first in two (10 each), after 2 alone (15 - 10),
    # after 3 alone (16 - 10), last in two (21 - 18 each): 37 / 6
    orders = list(itertools.permutations("123"))
    by_orders = {p: sum(THREE[f(o[:o.index(p) + 1])] - THREE.get(f(o[:o.index(p)]), 0.0)
                        for o in orders) / 6 for p in "123"}
    assert shapley(THREE) == pytest.approx(by_orders)
    assert shapley(THREE)["1"] == pytest.approx(37 / 6)


games = st.lists(st.floats(-100, 100, allow_nan=False), min_size=15, max_size=15).map(
    lambda vs: dict(zip(game_from("abcd", lambda c: 0.0), vs)))


@settings(max_examples=40, deadline=None)
@given(games, games)
def test_shapley_axioms(g: dict, h: dict) -> None:
    phi = shapley(g)
    assert sum(phi.values()) == pytest.approx(g[f("abcd")], abs=1e-9)  # efficiency
    both = {c: g[c] + h[c] for c in g}
    assert shapley(both) == pytest.approx(  # additivity
        {p: phi[p] + shapley(h)[p] for p in phi}, abs=1e-9)
    # null player: d adds nothing to any coalition
    null = {c: g[c - {"d"}] if c != f("d") else 0.0 for c in g}
    assert shapley(null)["d"] == pytest.approx(0.0, abs=1e-9)
    # symmetry: a and b interchangeable
    swap = {"a": "b", "b": "a"}
    sym = {c: (g[c] + g[f(swap.get(p, p) for p in c)]) / 2 for c in g}
    assert shapley(sym)["a"] == pytest.approx(shapley(sym)["b"], abs=1e-9)


def test_nucleolus_by_hand() -> None:
    # In savings y_i = c({i}) - x_i the excesses of THREE are y_i (singletons) and
    # 4 - y3, 5 - y2, 7 - y1 (pairs), with y1 + y2 + y3 = 9. Stage 1: max min is 2, forced
    # by y3 and 4 - y3 (y3 = 2), while y1 or y2 may or may not be tight: they must not be
    # fixed. Stage 2, y1 + y2 = 7: min(y2, 5 - y2) is max at y2 = 2.5. So y = (4.5, 2.5, 2).
    x = nucleolus(THREE)
    assert x == pytest.approx({"1": 5.5, "2": 7.5, "3": 8.0}, abs=1e-7)
    for order in itertools.permutations("123"):  # no dependence on the LP's vertex
        assert nucleolus(THREE, players=list(order)) == pytest.approx(x, abs=1e-7)
    # scaled and shifted by a per-player constant (strategic equivalence): covariant
    moved = {c: 1000 * v + sum({"1": 3, "2": -5, "3": 1}[p] for p in c)
             for c, v in THREE.items()}
    assert nucleolus(moved) == pytest.approx({"1": 5503, "2": 7495, "3": 8001}, abs=1e-4)
    check = check_allocation(THREE, x)
    assert check.in_core and check.individually_rational
    assert check.max_excess == pytest.approx(-2.0)


def test_nucleolus_symmetric_and_empty_core() -> None:
    # every pair costs as much as one player: the core is empty when c(N) > 1.5
    for grand, eps in ((1.6, 1 / 15), (1.4, -1 / 15)):
        g = game_from("abc", lambda c, grand=grand: 1.0 if len(c) < 3 else grand)
        assert nucleolus(g) == pytest.approx({p: grand / 3 for p in "abc"}, abs=1e-9)
        lc = least_core(g)
        assert lc.epsilon == pytest.approx(eps, abs=1e-9)
        assert core_is_empty(g) is (grand > 1.5)
        check = check_allocation(g, {p: grand / 3 for p in "abc"})
        assert check.in_core is (grand < 1.5)
        if grand > 1.5:
            assert len(check.most_violated) == 2
            assert check.max_excess == pytest.approx(2 * grand / 3 - 1)
        else:
            assert check.most_violated is None


def test_least_core_is_shapley_when_inside() -> None:
    g = game_from("abc", lambda c: len(c) ** 0.5)  # concave: Shapley in the core
    lc = least_core(g)
    assert lc.allocation == pytest.approx(shapley(g), abs=1e-6)
    assert lc.epsilon < 0
    assert check_allocation(g, lc.allocation).in_core


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=4, max_size=4))
# weights near zero once made a stage LP infeasible in floating point
@example(w=[0.0, 1.0, 4.0, 1.8737127924057192e-13])
@example(w=[0.147097346, 6.44395181, 1.79113273e-13, 2.38520467])
@example(w=[9.99503398, 2.5893033e-14, 2.5893033e-14, 0.439609394])
def test_nucleolus_in_core_of_concave_games(w: list[float]) -> None:
    # c(C) = sqrt(sum of weights) is submodular: the core is non-empty, the nucleolus in it
    weight = dict(zip("abcd", w))
    g = game_from("abcd", lambda c: math.sqrt(sum(weight[p] for p in c)))
    x = nucleolus(g)
    assert sum(x.values()) == pytest.approx(g[f("abcd")], abs=1e-7)
    assert check_allocation(g, x).in_core


def test_proportional_and_savings() -> None:
    g = {f("a"): 10.0, f("b"): 30.0, f("ab"): 32.0}
    x = proportional_to_standalone(g)
    assert x == pytest.approx({"a": 8.0, "b": 24.0})  # c(N) * c_i / sum c_j
    assert savings(g, x) == pytest.approx({"a": 2.0, "b": 6.0})
    assert proportional(g, {"a": 1.0, "b": 3.0}) == pytest.approx({"a": 8.0, "b": 24.0})
    assert proportional(g, {"a": 0.0, "b": 0.0}) == pytest.approx({"a": 6.0, "b": 26.0})
    # a negative standalone cost (net revenue) counts by its magnitude
    g = {f("a"): -10.0, f("b"): 30.0, f("ab"): 12.0}
    assert proportional_to_standalone(g) == pytest.approx({"a": -12.0, "b": 24.0})
    with pytest.raises(InputError, match="weights"):
        proportional(g, {"a": -1.0, "b": 1.0})


def test_check_allocation_reports_irrationality() -> None:
    check = check_allocation(THREE, {"1": 11.0, "2": 4.0, "3": 6.0})
    assert not check.individually_rational
    assert not check.in_core
    assert check.most_violated == f("1")
    assert check.max_excess == pytest.approx(1.0)
    assert check.checked == 6


def test_missing_coalition_named() -> None:
    g = dict(THREE)
    del g[f("13")]
    with pytest.raises(InputError, match=r"\{1, 3\}"):
        shapley(g)


def test_sampled_shapley_converges() -> None:
    weight = {"a": 1.0, "b": 4.0, "c": 2.0, "d": 7.0, "e": 3.0}
    g = game_from("abcde", lambda c: max(weight[p] for p in c) + 0.5 * math.sqrt(
        sum(weight[p] for p in c)))
    exact = shapley(g)
    small = sampled_shapley(g, list("abcde"), 100, seed=3, confidence=0.99)
    large = sampled_shapley(g, list("abcde"), 1600, seed=3, confidence=0.99)
    for est in (small, large):
        assert sum(est.estimate.values()) == pytest.approx(g[f("abcde")])  # exact
        for p in "abcde":
            assert est.ci_low[p] <= exact[p] <= est.ci_high[p]
    for p in "abcd":  # e's marginal costs vary; all widths shrink as 1/sqrt(m)
        ratio = (large.ci_high[p] - large.ci_low[p]) / (small.ci_high[p] - small.ci_low[p])
        assert 0.15 < ratio < 0.4
    again = sampled_shapley(g.__getitem__, list("abcde"), 100, seed=3, confidence=0.99)
    assert again.estimate == small.estimate  # the seed fixes the orders


def test_deal_balances_ranks() -> None:
    # heaviest first, each to the lighter rank (ties to rank 0): loads 5 and 5
    assert deal([1, 1, 1, 2, 2, 3], 2) == [0, 0, 1, 1, 1, 0]
    assert deal([4, 3, 3], 1) == [0, 0, 0]


# --- coalition values on tiny systems --------------------------------------------------

# lossless storage, annuity factor 1: own storage costs 0.1 per kWh and 0.05 per kW and the
# station half that; buying at 0.1 in step 0 and 0.5 in step 1, each microgrid stores its
# whole step-1 load L: v(C) = 0.1 L(C) + m(C) * 0.15 L(C), m = 1 alone, 0.5 in a station.
# Coalitions share the system's default station, accounts. Nobody charges while another
# discharges in the same step, so accounts, pooled and the old gross-flow station all give
# these values (the game of test_coalition_values_by_architecture tells them apart).
LOADS = {"a": 10.0, "b": 6.0, "c": 4.0, "d": 2.0}


def tiny(names: str = "abc") -> tuple[Any, Any]:
    system = make_system(
        [{"name": n} for n in names],
        tariff={"price_buy_per_kwh": [0.1, 0.5], "price_sell_per_kwh": 0.0,
                "grid_co2_kg_per_kwh": 0.0},
        storage={**LOSSLESS, "lifetime_yr": 1.0, "discount_rate": 0.0,
                 "om_fraction_per_yr": 0.0, "capex_energy_per_kwh": 0.1,
                 "capex_power_per_kw": 0.05},
        shared={"capex_multiplier": 0.5})
    scenarios = make_scenarios([[[0.0] * len(names), [LOADS[n] for n in names]]],
                               microgrids=list(names))
    return system, scenarios


def by_hand(c: frozenset[str]) -> float:
    load = sum(LOADS[p] for p in c)
    return 0.1 * load + (1.0 if len(c) == 1 else 0.5) * 0.15 * load


@pytest.fixture
def count_solves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = ef.solve_ef

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(ef, "solve_ef", counting)
    return calls


def test_coalition_values_by_hand_and_cache(tmp_path: Path, count_solves: list[int]) -> None:
    system, scenarios = tiny()
    first = coalition_values(system, scenarios, cache_dir=tmp_path)
    assert count_solves[0] == 7 and first.stats.solved == 7 and first.stats.cache_hits == 0
    for c, value in first.values.items():
        assert value.annual_cost == pytest.approx(by_hand(c), abs=1e-6)
        assert value.cap_energy_kwh == pytest.approx(sum(LOADS[p] for p in c), abs=1e-6)
        assert value.mode == ("individual" if len(c) == 1 else "accounts")
    assert first.architecture == "accounts"
    # each account holds its own microgrid's step-1 load: L_i in and out again, unique
    # (with the old gross-flow station who bought for the others was a tie, only the total
    # 40 was unique)
    grand = first.values[f("abc")]
    assert grand.metered_kwh_per_yr == pytest.approx({p: 2 * LOADS[p] for p in "abc"})
    assert len(list(tmp_path.glob("*.json"))) == 7
    again = coalition_values(system, scenarios, cache_dir=tmp_path)
    assert count_solves[0] == 7  # nothing solved again
    assert again.stats.cache_hits == 7 and again.stats.solved == 0
    assert again.cost() == first.cost()
    # a system with one more microgrid reuses the coalitions it shares with this one
    sub = coalition_values(*tiny("abcd"), [("a",), ("a", "b")], cache_dir=tmp_path)
    assert sub.stats.cache_hits == 2 and count_solves[0] == 7
    # another storage price is another key
    cheaper = make_system([{"name": n} for n in "abc"], tariff={
        "price_buy_per_kwh": [0.1, 0.5], "price_sell_per_kwh": 0.0},
        storage={**LOSSLESS, "capex_energy_per_kwh": 0.2})
    coalition_values(cheaper, scenarios, [("a",)], cache_dir=tmp_path)
    assert count_solves[0] == 8


def test_allocation_on_solved_game(tmp_path: Path, count_solves: list[int]) -> None:
    system, scenarios = tiny()
    ds = allocate(system, scenarios, cache_dir=tmp_path)
    grand, alone = by_hand(f("abc")), {p: by_hand(f(p)) for p in "abc"}
    saving = sum(alone.values()) - grand
    assert ds.attrs["saving_of_sharing_per_yr"] == pytest.approx(saving, abs=1e-6)
    # By hand, with L = 20 in all: the core is the single point where every pair saves
    # exactly 0.075 L(C) (the three pair constraints add up to the total saving 1.5), so
    # saving_i = 0.075 L_i for the nucleolus, the least core and both proportional rules
    # (each account moves 2 L_i, so the energy weights are the loads too).
    # Shapley: i's marginal cost is 0.25 L_i first, 0.175 L_i - 0.075 L_j second and
    # 0.175 L_i last, so x_i = 0.2 L_i - 0.0125 (L - L_i), saving_i = 0.0375 L_i + 0.25,
    # and {a, b} saves 1.1 < 1.2: Shapley is not in the core.
    core = [0.075 * LOADS[p] for p in "abc"]
    assert ds["metered_kwh_per_yr"].values == pytest.approx([20.0, 12.0, 8.0], abs=1e-6)
    expected = {"shapley": [0.0375 * LOADS[p] + 0.25 for p in "abc"], "nucleolus": core,
                "least_core": core, "proportional_cost": core, "proportional_energy": core}
    for rule, values in expected.items():
        assert float(ds["allocation"].sel(rule=rule).sum()) == pytest.approx(grand, abs=1e-6)
        assert ds["saving"].sel(rule=rule).values == pytest.approx(values, abs=1e-5)
        assert int(ds["individually_rational"].sel(rule=rule)) == 1
    assert ds["in_core"].sel(rule=["shapley", "nucleolus", "least_core",
                                   "proportional_cost"]).values.tolist() == [0, 1, 1, 1]
    assert str(ds["most_violated"].sel(rule="shapley").values) == "a+b"
    assert float(ds["max_excess"].sel(rule="shapley")) == pytest.approx(0.1, abs=1e-6)
    assert ds["capacity_share_energy_kwh"].values == pytest.approx([10, 6, 4], abs=1e-6)
    assert ds.attrs["core_empty"] == 0
    assert (ds.attrs["architecture"], ds.attrs["saving_of_sharing_from"]) == (
        "accounts", "storage sharing")
    assert ds["coalition_mode"].values.tolist() == ["individual"] * 3 + ["accounts"] * 4
    assert allocation_table(ds).splitlines()[0] == (
        "coalitions share an accounts station (alone: an own battery): the saving is "
        "storage sharing")
    solved = count_solves[0]
    again = allocate(system, scenarios, ["nucleolus"], cache_dir=tmp_path)  # a second rule
    assert count_solves[0] == solved and again.attrs["cache_hits"] == 7
    # an allocation that puts everything on a: the core check names {a, c}
    values = coalition_values(system, scenarios, cache_dir=tmp_path)
    check = check_allocation(values.cost(), {"a": grand, "b": 0.0, "c": 0.0})
    assert check.most_violated == f("ac")
    assert check.max_excess == pytest.approx(grand - by_hand(f("ac")), abs=1e-6)
    # proportional rules need only the singletons and the grand coalition
    only = coalition_values(system, scenarios, [("a",), ("b",), ("c",), ("a", "b", "c")])
    ds = allocation_dataset(only, ["proportional_cost"])
    assert ds.attrs["core_check"] == "3 of 6 proper coalitions"
    with pytest.raises(InputError, match="need all 7"):
        allocation_dataset(only, ["shapley"])

def exchange_game(**planning: str) -> tuple[Any, Any]:
    """Two microgrids, the storage of :func:`tiny` (station at half price) and a fee of 0.02
    per kWh metered at a connection. Step 0: no load. Step 1: a has 10 kW of PV for a load
    of 4 (a surplus of 6), b a load of 10."""
    system = make_system(
        [{"name": "a", "pv_kw": 10.0}, {"name": "b"}],
        tariff={"price_buy_per_kwh": [0.1, 0.5], "price_sell_per_kwh": 0.0,
                "grid_co2_kg_per_kwh": 0.0},
        storage={**LOSSLESS, "lifetime_yr": 1.0, "discount_rate": 0.0,
                 "om_fraction_per_yr": 0.0, "capex_energy_per_kwh": 0.1,
                 "capex_power_per_kw": 0.05},
        shared={"capex_multiplier": 0.5, "exchange_fee_per_kwh": 0.02}, planning=planning)
    return system, make_scenarios([[[0.0, 0.0], [4.0, 10.0]]], pv_pu=[[[0.0, 0.0], [1.0, 0.0]]],
                                  microgrids=["a", "b"])


def test_coalition_values_by_architecture(tmp_path: Path, count_solves: list[int]) -> None:
    # Alone: a's PV covers its load (v = 0); b stores its 10 kWh in its own battery,
    # 0.1 * 10 + 0.15 * 10 = 2.5 (no fee on an own battery).
    # accounts: a's surplus cannot reach b's account; b stores 10 kWh at 0.1 (energy)
    # + 0.075 (half capex) + 2 * 0.02 (fee in and out) = 0.215 per kWh: v = 2.15.
    # pooled: a puts its 6 kWh on the bus in step 1 while b takes 10 out, the cells see
    # the net 4 out; b stores only 4 kWh bought in step 0. E = P = 4: capex 0.5 * 0.15 * 4
    # = 0.3, energy 0.4, fee 0.02 * (4 + 10 + 6) = 0.4: v = 1.1 (the old gross-flow
    # station needed P = 10 for the same dispatch: 1.25). accounts+p2p: a sends its 6 kWh
    # directly (fee 0.02 * 12) and b stores 4 in its account (0.3 + 0.4 + 0.02 * 8):
    # also 1.1, as the fee is the same on both channels.
    system, scenarios = exchange_game()
    expected = {"accounts": (2.15, 20.0), "pooled": (1.1, 20.0), "accounts+p2p": (1.1, 20.0)}
    choices = {"accounts": {}, "pooled": {"station": "pooled"},
               "accounts+p2p": {"exchange": "p2p"}}
    for n, (arch, (cost, metered)) in enumerate(expected.items()):
        chosen = replace(system, planning=replace(system.planning, **choices[arch]))
        values = coalition_values(chosen, scenarios, cache_dir=tmp_path)
        assert values.architecture == arch
        game = values.cost()
        assert (game[f("a")], game[f("b")]) == pytest.approx((0.0, 2.5), abs=1e-6)
        assert game[f("ab")] == pytest.approx(cost, abs=1e-6)
        pair = values.values[f("ab")]
        assert pair.mode == arch
        assert sum(pair.metered_kwh_per_yr.values()) == pytest.approx(metered, abs=1e-6)
        # the singletons (individual under every architecture) come from the cache after
        # the first game; the pair is solved again for every architecture
        assert (values.stats.cache_hits, values.stats.solved) == ((0, 3) if n == 0 else (2, 1))
    # under accounts b's account is the only one used: a meters nothing
    again = coalition_values(system, scenarios, cache_dir=tmp_path)
    assert again.stats.cache_hits == 3 and count_solves[0] == 5
    assert again.values[f("ab")].annual_cost == pytest.approx(2.15, abs=1e-6)
    assert again.values[f("ab")].metered_kwh_per_yr == pytest.approx({"a": 0.0, "b": 20.0},
                                                                       abs=1e-6)
    ds = allocation_dataset(coalition_values(replace(system, planning=replace(
        system.planning, station="pooled")), scenarios, cache_dir=tmp_path), ["shapley"])
    assert ds.attrs["architecture"] == "pooled"
    assert ds.attrs["saving_of_sharing_per_yr"] == pytest.approx(2.5 - 1.1, abs=1e-6)
    assert ds.attrs["saving_of_sharing_from"] == "storage sharing and energy exchange"
    assert "share a pooled station" in allocation_table(ds)
    # two players: Shapley splits the saving 1.4 equally
    assert ds["saving"].sel(rule="shapley").values == pytest.approx([0.7, 0.7], abs=1e-6)


def write_cli_inputs(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "days.csv").write_text("step,a,b\n0,0,0\n1,10,6\n")
    system = tmp_path / "system.toml"
    system.write_text(
        '[history]\nsource = "days"\npath = "days.csv"\nstep_h = 12.0\n'
        '[[microgrid]]\nname = "a"\ncolumns = { load_kw = "a" }\n'
        '[[microgrid]]\nname = "b"\ncolumns = { load_kw = "b" }\n'
        "[tariff]\nprice_buy_per_kwh = [0.1, 0.5]\nprice_sell_per_kwh = 0.0\n"
        "[storage]\ncapex_energy_per_kwh = 1.0\ncapex_power_per_kw = 0.5\n"
        "[shared]\ncapex_multiplier = 0.5\n[planning]\ndays_per_year = 1.0\n")
    scen = tmp_path / "s.nc"
    assert main(["-q", "scenarios", "--system", str(system), "-o", str(scen)]) == 0
    return system, scen


def test_cli_allocate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    system, scen = write_cli_inputs(tmp_path)
    capsys.readouterr()
    out = tmp_path / "alloc.nc"
    assert main(["-q", "allocate", str(system), "-s", str(scen), "--rules",
                 "shapley,nucleolus", "--cache", str(tmp_path / "cache"), "-o", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    shap = summary["rules"]["shapley"]["allocation"]
    assert sum(shap.values()) == pytest.approx(summary["grand_cost"])
    assert summary["rules"]["nucleolus"]["in_core"] is True
    assert {k: summary["coalitions"][k] for k in ("n", "cache_hits", "solved", "ranks")} == {
        "n": 3, "cache_hits": 0, "solved": 3, "ranks": 1}
    assert summary["architecture"] == "accounts"
    assert out.exists()
    # --station pooled: the singletons come from the cache, the pair is a new solve
    assert main(["-q", "allocate", str(system), "-s", str(scen), "--rules", "shapley",
                 "--station", "pooled", "--cache", str(tmp_path / "cache"), "-o", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["architecture"] == "pooled"
    assert {k: summary["coalitions"][k] for k in ("cache_hits", "solved")} == {
        "cache_hits": 2, "solved": 1}
    assert main(["allocate", str(system), "-s", str(scen), "--rules", "shapley,fair",
                 "-o", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rules" in err[0] and "fair" in err[0]
    assert not (tmp_path / "x.nc").exists()
    # by generation, the default rules sample Shapley instead of the exact value
    assert main(["-q", "allocate", str(system), "-s", str(scen), "--method", "generation",
                 "--cache", str(tmp_path / "cache"), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["allocation_method"] == "generation" and summary["certified"] is True
    assert summary["separation"] == "cuts"
    assert set(summary["rules"]) == {"sampled_shapley", "nucleolus", "least_core", "dual",
                                     "proportional_cost", "proportional_energy"}
    assert summary["rules"]["nucleolus"]["core_check_certified"] is True
    assert main(["allocate", str(system), "-s", str(scen), "--method", "generation",
                 "--rules", "shapley", "-o", str(tmp_path / "x.nc")]) == 2
    assert "sampled_shapley" in capsys.readouterr().err
    assert main(["-q", "allocate", str(system), "-s", str(scen), "--method", "generation",
                 "--separation", "milp", "--rules", "nucleolus", "--cache",
                 str(tmp_path / "cache"), "-o", str(tmp_path / "milp.nc"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["separation"] == "milp" and summary["certified"] is True


MPI_SCRIPT = """
import json, sys
from framework.game import coalition_values
from framework.game.values import rank_zero
from tests.framework.test_game import tiny
values = coalition_values(*tiny())
if rank_zero():
    json.dump({"ranks": values.stats.ranks, "solved": values.stats.solved,
               "per_rank": values.stats.solve_s_per_rank,
               "cost": {"+".join(sorted(c)): v.annual_cost for c, v in values.values.items()},
               "energy": {"+".join(sorted(c)): v.cap_energy_kwh
                          for c, v in values.values.items()}}, open(sys.argv[1], "w"))
"""


def test_coalition_values_on_two_ranks(tmp_path: Path) -> None:
    result = run_on_ranks(tmp_path, MPI_SCRIPT, timeout=180)
    assert result["ranks"] == 2 and result["solved"] == 7
    assert len(result["per_rank"]) == 2 and min(result["per_rank"]) > 0  # both worked
    serial = coalition_values(*tiny())
    assert serial.stats.ranks == 1
    for c, v in serial.values.items():
        assert result["cost"]["+".join(sorted(c))] == pytest.approx(v.annual_cost, abs=1e-9)
        assert result["energy"]["+".join(sorted(c))] == pytest.approx(v.cap_energy_kwh,
                                                                        abs=1e-9)


def test_allocate_wires_the_dual_and_the_adaptive_sampled_shapley() -> None:
    """v(C) = 0.175 L(C) for |C| >= 2 (grid 0.1, a station of 0.05/kWh + 0.025/kW per kWh of
    load), 0.25 L_i alone: the core is the single point 0.175 L_i (x_i >= 0.175 L_i from
    N minus i, summing to v(N)), which the dual prices give from one LP."""
    system, scenarios = tiny()
    ds = allocate(system, scenarios, ["nucleolus", "dual"])
    expected = [0.175 * LOADS[p] for p in "abc"]
    assert ds["allocation"].sel(rule="dual").values == pytest.approx(expected, rel=1e-6)
    assert ds["allocation"].sel(rule="nucleolus").values == pytest.approx(expected, rel=1e-6)
    assert int(ds["in_core"].sel(rule="dual")) == 1
    assert ds["dual_own_cost"].values == pytest.approx([0.1 * LOADS[p] for p in "abc"],
                                                       rel=1e-6)
    summary = allocation_summary(ds)
    assert summary["dual"]["in_core_guaranteed"] is True
    assert summary["dual"]["parts"]["a"]["capacity_charge"] == pytest.approx(
        0.075 * LOADS["a"], rel=1e-6)
    assert "dual: in the core of coalitions of two or more" in allocation_table(ds)
    # with a tolerance, sampling stops by its rule; three players: every coalition is
    # solved in the first batch, so the estimate is the exact Shapley value
    sampled = allocate(system, scenarios, ["sampled_shapley", "shapley"], tolerance=1e-3)
    assert sampled.attrs["shapley_stopped_by"] == "complete"
    assert sampled["allocation"].sel(rule="sampled_shapley").values == pytest.approx(
        sampled["allocation"].sel(rule="shapley").values, rel=1e-9)
    assert allocation_summary(sampled)["sampled_shapley"]["converged"] is True
    with pytest.raises(InputError, match="tolerance: applies to the rule sampled_shapley"):
        allocate(system, scenarios, ["shapley"], tolerance=1.0)


def test_allocate_by_generation_equals_enumeration(tmp_path: Path) -> None:
    """The same rules by enumeration and by constraint generation: the nucleolus and the
    least-core value agree, and every rule's core check, certified by separation, agrees
    with the enumerated one; generation solves fewer coalitions."""
    from tests.framework.test_game_generation import community

    system, scenarios = community("abcd")
    rules = ["nucleolus", "least_core", "dual", "proportional_cost"]
    cache = tmp_path / "cache"
    full = allocate(system, scenarios, rules, method="enumeration", cache_dir=cache)
    scale = float(abs(full["coalition_cost"]).max())
    for separation, words in (("cuts", "Lagrangian cuts"), ("milp", "a MILP")):
        gen = allocate(system, scenarios, rules, method="generation", cache_dir=cache,
                       separation=separation)
        assert gen.sizes["coalition"] < full.sizes["coalition"] == 15
        assert gen["allocation"].sel(rule="nucleolus").values == pytest.approx(
            full["allocation"].sel(rule="nucleolus").values, abs=1e-6 * scale)
        assert gen.attrs["least_core_epsilon"] == pytest.approx(
            full.attrs["least_core_epsilon"], abs=1e-6 * scale)
        assert gen["in_core"].values.tolist() == full["in_core"].values.tolist()
        assert gen["max_excess"].values == pytest.approx(full["max_excess"].values,
                                                         abs=1e-5 * scale)
        assert gen["core_check_certified"].values.tolist() == [1] * 4
        assert gen.attrs["core_check"] == (f"certified by separation ({words} over every "
                                           f"coalition)")
        assert gen.attrs["separation"] == separation
    summary = allocation_summary(gen)
    assert summary["rules"]["nucleolus"]["generation"]["certified"] is True
    assert summary["separation"] == "milp" and allocation_summary(full)["separation"] is None
    assert "nucleolus by generation:" in allocation_table(gen)
    with pytest.raises(InputError, match="rule shapley: the exact Shapley value needs all 15"):
        allocate(system, scenarios, ["shapley"], method="generation")
    with pytest.raises(InputError, match="method: expected one of"):
        allocate(system, scenarios, ["dual"], method="enumerate")
