"""Least core, nucleolus and core check by constraint generation, against enumeration.

Every game here is solved twice: by enumeration (all ``2^n - 1`` coalition values and the
rules of :mod:`framework.game.rules`) and by generation (the separation MILP and only the
coalitions it finds). The two share a cache, so a coalition is solved once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framework.errors import InputError
from framework.game import check_allocation, coalition_values, least_core, nucleolus, shapley
from framework.game.generation import (
    SEPARATORS,
    core_check_generation,
    least_core_generation,
    merge,
    nucleolus_generation,
    split_member,
)
from framework.game.separation import Separator, integer_null_space, no_storage_costs
from tests.framework.conftest import LOSSLESS, make_scenarios, make_system, run_on_ranks

f = frozenset
REL = 1e-6


def community(names: str, **planning: Any) -> tuple[Any, Any]:
    """Microgrids with random PV and loads on 2 days of 6 steps, time-of-use prices, lossy
    storage, a station at 60 % of the price and an exchange fee: a game where the coalitions
    differ (seeded)."""
    rng = np.random.default_rng(1)
    n = len(names)
    mgs = [{"name": p, "pv_kw": float(rng.uniform(0, 8)), "import_limit_kw": 30.0,
            "export_limit_kw": 20.0} for p in names]
    system = make_system(
        mgs, tariff={"price_buy_per_kwh": [0.12, 0.1, 0.3, 0.45, 0.5, 0.2],
                     "price_sell_per_kwh": 0.02, "grid_co2_kg_per_kwh": 0.0},
        storage={"capex_energy_per_kwh": 0.05, "capex_power_per_kw": 0.02, "lifetime_yr": 1.0,
                 "discount_rate": 0.0, "om_fraction_per_yr": 0.0, "eta_charge": 0.95,
                 "eta_discharge": 0.95},
        shared={"capex_multiplier": 0.6, "exchange_fee_per_kwh": 0.01}, planning=planning)
    load = rng.uniform(1, 10, (2, 6, n))
    pv = rng.uniform(0, 1, (2, 6, n)) * np.sin(np.linspace(0, np.pi, 6))[None, :, None]
    return system, make_scenarios(load, pv_pu=pv, microgrids=list(names))


CASES = {"accounts": ("abcde", {}), "pooled": ("abcd", {"station": "pooled"}),
         "accounts+p2p": ("abcd", {"exchange": "p2p"})}


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any, dict, Path]]:
    """Per architecture: the system, its scenarios, the enumerated game, and the cache."""
    out = {}
    for arch, (names, planning) in CASES.items():
        cache = tmp_path_factory.mktemp(arch.replace("+", "_"))
        system, scenarios = community(names, **planning)
        game = coalition_values(system, scenarios, cache_dir=cache).cost()
        out[arch] = (system, scenarios, game, cache)
    return out


def largest_excess(game: dict, x: dict, players: list[str]) -> float:
    """Enumeration: the largest excess over the coalitions of size 2 to n - 1."""
    n = len(players)
    return max(sum(x[p] for p in c) - v for c, v in game.items() if 2 <= len(c) < n)


def scale(game: dict) -> float:
    return max(1.0, max(abs(v) for v in game.values()))


@pytest.mark.parametrize("kind", list(SEPARATORS))
@pytest.mark.parametrize("arch", list(CASES))
def test_separation_equals_enumeration(solved: dict, arch: str, kind: str) -> None:
    system, scenarios, game, cache = solved[arch]
    players = system.names
    alone, _ = no_storage_costs(system, scenarios, cache_dir=cache)
    separator = SEPARATORS[kind](system, scenarios, alone)
    n = len(players)
    standalone = {p: game[f([p])] for p in players}
    equal = {p: game[f(players)] / n for p in players}
    for x in (standalone, equal, shapley(game)):
        sep = separator.separate(x)
        best = largest_excess(game, x, players)
        assert sep.status == "optimal"
        assert sep.bound == pytest.approx(best, abs=REL * scale(game))
        assert sep.excess == pytest.approx(best, abs=REL * scale(game))
        excess = sum(x[p] for p in sep.coalition) - game[sep.coalition]
        assert excess == pytest.approx(best, abs=REL * scale(game))
        assert 2 <= len(sep.coalition) < n
        assert sep.binding == ()  # no data-derived big-M binds
    # excluding the most violated coalition finds the second
    second = sorted(sum(equal[p] for p in c) - v for c, v in game.items() if 2 <= len(c) < n)
    separator.exclude([separator.separate(equal).coalition])
    assert separator.separate(equal).bound == pytest.approx(second[-2],
                                                            abs=REL * scale(game))
    separator.clear()
    assert separator.separate(equal).bound == pytest.approx(second[-1], abs=REL * scale(game))


@pytest.mark.parametrize("kind", list(SEPARATORS))
def test_split_cutoff_and_span(solved: dict, kind: str) -> None:
    system, scenarios, game, cache = solved["accounts"]
    players = system.names
    n, tol = len(players), REL * scale(game)
    alone, _ = no_storage_costs(system, scenarios, cache_dir=cache)
    separator = SEPARATORS[kind](system, scenarios, alone)
    equal = {p: game[f(players)] / n for p in players}
    best = largest_excess(game, equal, players)
    # the two halves of a split search, merged, are the whole search
    member = split_member(equal, separator)
    halves = [separator.separate(equal, fix=(member, v)) for v in (False, True)]
    assert [member in h.coalition for h in halves] == [False, True]
    for h, v in zip(halves, (False, True)):
        assert h.bound == pytest.approx(max(e for c, e in ((c, sum(equal[p] for p in c) - u)
                                                           for c, u in game.items())
                                            if 2 <= len(c) < n and (member in c) == v),
                                        abs=tol)
    both = merge(*halves)
    assert both.status == "optimal"
    assert both.bound == pytest.approx(best, abs=tol)
    assert both.excess == pytest.approx(best, abs=tol)
    # a cutoff above the largest excess proves it without finding it: the bound is the level
    above = separator.separate(equal, level=best + 1.0)
    assert above.status == "optimal" and above.bound == best + 1.0
    below = separator.separate(equal, level=best - 1.0)
    if kind == "milp":
        assert below.bound == pytest.approx(best, abs=tol)
        assert below.coalition == separator.separate(equal).coalition
    else:  # the cuts stop at the first coalition proven above the level
        assert below.status in ("violated", "optimal") and below.bound >= best - tol
        assert below.excess > best - 1.0
        assert below.excess == pytest.approx(
            sum(equal[p] for p in below.coalition) - game[below.coalition], abs=tol)
    # outside the span of N and {a, b}: {c, d, e} (its complement) and {a, b} are left out
    assert integer_null_space([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]) == [
        [-1, 1, 0, 0, 0], [0, 0, -1, 1, 0], [0, 0, -1, 0, 1]]
    separator.outside_span([f(players), f("ab")])
    free = max(sum(equal[p] for p in c) - v for c, v in game.items()
               if 2 <= len(c) < n and c not in (f("ab"), f("cde")))
    sep = separator.separate(equal)
    assert sep.bound == pytest.approx(free, abs=tol)
    assert sep.coalition not in (f("ab"), f("cde"))
    separator.clear()
    assert separator.separate(equal).bound == pytest.approx(best, abs=tol)


@pytest.mark.parametrize(("arch", "separation"), [("accounts", "cuts"), ("pooled", "cuts"),
                                                  ("accounts", "milp")])
def test_least_core_and_nucleolus_equal_enumeration(solved: dict, arch: str,
                                                    separation: str) -> None:
    system, scenarios, game, cache = solved[arch]
    players = system.names
    n = len(players)
    lc = least_core(game, players)
    gen = least_core_generation(system, scenarios, reference=shapley(game), cache_dir=cache,
                                separation=separation)
    assert gen.certified and gen.stopped == ""
    assert gen.epsilon == pytest.approx(lc.epsilon, abs=REL * scale(game))
    assert gen.epsilon_upper == pytest.approx(lc.epsilon, abs=REL * scale(game))
    for p in players:
        assert gen.allocation[p] == pytest.approx(lc.allocation[p], abs=REL * scale(game))
    nu = nucleolus_generation(system, scenarios, cache_dir=cache, separation=separation)
    assert nu.certified and nu.stages >= 2
    assert nu.epsilon == pytest.approx(lc.epsilon, abs=REL * scale(game))
    exact = nucleolus(game, players)
    for p in players:
        assert nu.allocation[p] == pytest.approx(exact[p], abs=REL * scale(game))
    if n == 5:  # fewer coalitions than enumeration (25 of size 2 to 4)
        assert len(gen.coalitions) < 2 ** n - 2 - n
        assert len(nu.coalitions) < 2 ** n - 2 - n
    assert nu.solved == 0  # every value came from the cache of the enumeration


@pytest.mark.parametrize("arch", list(CASES))
def test_stages_close_well_within_the_tolerance(solved: dict, arch: str) -> None:
    # a stage closes when its value is proven within 1 % of the tolerance: even at a coarse
    # tolerance (1 %) the nucleolus is the enumeration's and passes the core check at that
    # tolerance. Closed within the whole tolerance, the stage values' errors added up
    # through the coalitions the fixed ones span: 0.9 to 1.5 tolerances off, and outside the
    # core by the check
    system, scenarios, game, cache = solved[arch]
    coarse = 1e-2
    nu = nucleolus_generation(system, scenarios, cache_dir=cache, rel_tol=coarse)
    assert nu.certified
    exact = nucleolus(game, system.names)
    assert max(abs(nu.allocation[p] - exact[p]) for p in exact) <= 0.05 * coarse * scale(game)
    check = core_check_generation(system, scenarios, nu.allocation, cache_dir=cache,
                                  rel_tol=coarse)
    assert check.in_core is True and check.certified


def test_a_separation_coarser_than_the_stage_precision(
        solved: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # a MILP's solution may violate its rows within the feasibility tolerance, so its excess
    # and bound can overstate a coalition's by a little: here by a tenth of the tolerance,
    # above a stage's precision (a hundredth). A known coalition then comes back with
    # nothing new to add; the stage closes at the tolerance instead of stopping uncertified
    system, scenarios, game, cache = solved["accounts"]
    tol = REL * scale(game)
    exact = Separator.separate

    def noisy(self: Separator, *args: Any, **kwargs: Any) -> Any:
        sep = exact(self, *args, **kwargs)
        if sep.coalition is None:
            return sep
        return replace(sep, excess=sep.excess + tol / 10, bound=sep.bound + tol / 10,
                       candidates=tuple((c, e + tol / 10) for c, e in sep.candidates))

    monkeypatch.setattr(Separator, "separate", noisy)
    nu = nucleolus_generation(system, scenarios, cache_dir=cache, separation="milp")
    assert nu.certified and nu.stopped == ""
    assert nu.allocation == pytest.approx(nucleolus(game, system.names), abs=tol)


def test_core_check_equals_check_allocation(solved: dict) -> None:
    system, scenarios, game, cache = solved["accounts"]
    players = system.names
    equal = {p: game[f(players)] / len(players) for p in players}
    for x in (shapley(game), nucleolus(game, players), equal):
        check = check_allocation(game, x)
        gen = core_check_generation(system, scenarios, x, cache_dir=cache)
        assert gen.certified
        assert gen.max_excess == pytest.approx(check.max_excess, abs=REL * scale(game))
        assert gen.max_excess_upper == pytest.approx(check.max_excess, abs=REL * scale(game))
        assert gen.in_core is check.in_core
        assert gen.most_violated == check.most_violated
        assert gen.individually_rational is check.individually_rational
        assert gen.efficiency_gap == pytest.approx(check.efficiency_gap, abs=1e-9)
    # this game's Shapley value is not in the core, its nucleolus is
    assert check_allocation(game, shapley(game)).in_core is False
    assert check_allocation(game, nucleolus(game, players)).in_core is True


def capped(names: str = "abc") -> tuple[Any, Any]:
    """Each microgrid stores its step-1 load of 10 kWh bought at 0.1 instead of 0.5; storage
    costs 0.15 per kWh (E = P), the station half; every storage is capped at 25 kWh and
    25 kW: a pair fits in one station, three do not."""
    system = make_system(
        [{"name": n} for n in names],
        tariff={"price_buy_per_kwh": [0.1, 0.5], "price_sell_per_kwh": 0.0,
                "grid_co2_kg_per_kwh": 0.0},
        storage={**LOSSLESS, "lifetime_yr": 1.0, "discount_rate": 0.0,
                 "capex_energy_per_kwh": 0.1, "capex_power_per_kw": 0.05,
                 "energy_max_kwh": 25.0, "power_max_kw": 25.0},
        shared={"capex_multiplier": 0.5})
    return system, make_scenarios([[[0.0] * len(names), [10.0] * len(names)]],
                                  microgrids=list(names))


def test_empty_core(tmp_path: Path) -> None:
    # alone 0.1 * 10 + 0.15 * 10 = 2.5; a pair stores 20 at 0.1 + 0.075: 3.5; all three
    # store 25 (4.375) and buy 5 at 0.5 (2.5): 6.875 > 1.5 * 3.5, so the core is empty.
    # Least core: every pair pays 3.5 + eps, the three pairs pay 2 * 6.875: eps = 13/12,
    # x_i = 6.875 / 3 (symmetric, unique); the nucleolus is that point.
    system, scenarios = capped()
    game = coalition_values(system, scenarios, cache_dir=tmp_path).cost()
    assert game[f("ab")] == pytest.approx(3.5, abs=1e-7)
    assert game[f("abc")] == pytest.approx(6.875, abs=1e-7)
    assert least_core(game).epsilon == pytest.approx(13 / 12, abs=1e-7)
    lc = least_core_generation(system, scenarios, cache_dir=tmp_path)
    assert lc.certified and lc.epsilon == pytest.approx(13 / 12, abs=1e-6)
    assert lc.allocation == pytest.approx({p: 6.875 / 3 for p in "abc"}, abs=1e-6)
    nu = nucleolus_generation(system, scenarios, cache_dir=tmp_path)
    assert nu.certified and nu.allocation == pytest.approx(nucleolus(game), abs=1e-6)
    check = core_check_generation(system, scenarios, nu.allocation, cache_dir=tmp_path)
    assert check.in_core is False and check.certified
    assert check.max_excess == pytest.approx(13 / 12, abs=1e-6)
    assert len(check.most_violated) == 2


def test_limits_report_what_is_proven(solved: dict) -> None:
    system, scenarios, game, cache = solved["accounts"]
    exact = least_core(game).epsilon
    once = least_core_generation(system, scenarios, cache_dir=cache, max_iterations=1)
    assert not once.certified and once.stopped == "iteration limit"
    assert once.iterations == 1
    # the master's value is a lower bound, the largest excess of its allocation an upper one
    assert once.epsilon <= exact + REL * scale(game)
    assert once.epsilon_upper >= exact - REL * scale(game)
    assert once.epsilon < exact - 1e-3  # one coalition is not enough here
    timed = nucleolus_generation(system, scenarios, cache_dir=cache, time_limit_s=1e-3)
    assert not timed.certified and timed.stopped == "time limit"
    assert timed.epsilon <= exact + REL * scale(game) and timed.epsilon_upper == np.inf


def test_bad_input() -> None:
    system, scenarios = community("abc")
    unlimited = replace(system, microgrids=tuple(replace(mg, export_limit_kw=None)
                                                 for mg in system.microgrids))
    with pytest.raises(InputError, match=r"separation: no bound on discharge_kw\[a\]"):
        Separator(unlimited, scenarios, {p: 0.0 for p in "abc"})
    with pytest.raises(InputError, match="allocation: .* missing"):
        core_check_generation(system, scenarios, {"a": 1.0})
    coincident = replace(system, tariff=replace(system.tariff,
                                                coincident_demand_charge_per_kw=1.0))
    with pytest.raises(InputError, match="coincident_demand_charge_per_kw"):
        Separator(coincident, scenarios, {p: 0.0 for p in "abc"})
    with pytest.raises(InputError, match="separation: expected one of"):
        nucleolus_generation(system, scenarios, separation="simplex")


MPI_SCRIPT = """
import json, sys
from mpi4py import MPI
from framework.game.generation import least_core_generation, nucleolus_generation
from tests.framework.test_game_generation import capped, community
ranks = []
for system, scenarios in (capped(), community("abcde")):
    nu = nucleolus_generation(system, scenarios)
    lc = least_core_generation(system, scenarios)
    ranks.append({"allocation": nu.allocation, "epsilon": nu.epsilon,
                  "certified": nu.certified and lc.certified, "least_core": lc.epsilon})
ranks = MPI.COMM_WORLD.gather(ranks, root=0)
if MPI.COMM_WORLD.Get_rank() == 0:
    json.dump(ranks, open(sys.argv[1], "w"))
"""


def test_generation_on_two_ranks(tmp_path: Path, solved: dict) -> None:
    # each separation split in two halves, one per rank: the enumeration's results
    ranks = run_on_ranks(tmp_path, MPI_SCRIPT, timeout=300)
    assert ranks[0] == ranks[1]  # the same result on every rank
    empty, accounts = ranks[0]
    assert empty["certified"] and empty["epsilon"] == pytest.approx(13 / 12, abs=1e-6)
    assert empty["allocation"] == pytest.approx({p: 6.875 / 3 for p in "abc"}, abs=1e-6)
    system, _, game, _ = solved["accounts"]
    assert accounts["certified"]
    assert accounts["least_core"] == pytest.approx(least_core(game).epsilon,
                                                   abs=REL * scale(game))
    exact = nucleolus(game, system.names)
    assert accounts["allocation"] == pytest.approx(exact, abs=REL * scale(game))


@pytest.mark.parametrize("arch", ["accounts", "pooled"])
def test_the_dual_allocation_ends_the_least_core_stage(
        solved: dict, arch: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # where the dual allocation's core guarantee holds, its largest excess (at most 0 for
    # every coalition of two or more, by LP duality) bounds the least-core value: stage 1
    # ends when the master reaches it (here the least-core value is 0), with the same
    # nucleolus and no more separations
    from framework.game import generation
    from framework.game.dual import dual_allocation

    system, scenarios, game, cache = solved[arch]
    dual = dual_allocation(system, scenarios, cache_dir=cache)
    assert dual.in_core and all(dual.individually_rational.values())
    with caplog.at_level("INFO", logger="framework.game.generation"):
        with_dual = nucleolus_generation(system, scenarios, cache_dir=cache)
    assert "stage 1: t -0 reaches the dual allocation's bound 0" in caplog.text
    assert with_dual.epsilon == pytest.approx(0.0, abs=REL * scale(game))
    monkeypatch.setattr(generation, "_dual_in_core", lambda *args: None)
    without = nucleolus_generation(system, scenarios, cache_dir=cache)
    assert with_dual.certified and without.certified
    assert with_dual.allocation == pytest.approx(without.allocation, abs=REL * scale(game))
    assert with_dual.epsilon == pytest.approx(without.epsilon, abs=REL * scale(game))
    assert with_dual.iterations <= without.iterations
