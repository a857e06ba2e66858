"""C&CG with what couples the days of a year (a cycle life, demand charges): the year's
cells' discharge per representative day and the billing peaks are first-stage decisions,
committed before the worst case (``docs/robust.md``). Checked at Gamma 0 against the
extensive form and at Gamma > 0 against brute force over every vertex of the budget sets,
on the two-microgrid system of ``test_robust.py``."""

from __future__ import annotations

from dataclasses import replace

import pytest

from framework.evaluate import plan_capacity
from framework.robust import Termination
from framework.robust.storage import plan_ccg, robust_cost
from framework.solve.ef import solve_ef
from framework.system import System
from tests.framework.test_robust import EXACT, brute_force, scenarios, system


def coupled(cycle_life: float | None = None, demand: float = 0.0,
            coincident: float = 0.0) -> System:
    base = system()
    return replace(base, storage=replace(base.storage, cycle_life=cycle_life,
                                         cycle_life_dod=1.0, om_fraction_per_yr=0.1),
                   tariff=replace(base.tariff, demand_charge_per_kw=demand,
                                  coincident_demand_charge_per_kw=coincident))


CASES = {"cycle life": {"cycle_life": 0.5}, "demand charge": {"demand": 0.05},
         "coincident": {"coincident": 0.05},
         "both": {"cycle_life": 0.5, "demand": 0.05}}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", ["accounts", "individual"])
def test_gamma_zero_is_the_extensive_form(case: str, mode: str) -> None:
    sys_ = coupled(**CASES[case])
    ef = solve_ef(sys_, scenarios(), mode).sel(mode=mode)
    robust = plan_ccg(sys_, scenarios(), mode, gamma=0, config=EXACT).sel(mode=mode)
    assert float(robust["objective"]) == pytest.approx(float(ef["objective"]), rel=1e-8)
    assert float(robust["bound"]) == pytest.approx(float(ef["objective"]), rel=1e-8)
    assert float(robust["cap_energy_kwh"].sum()) == pytest.approx(
        float(ef["cap_energy_kwh"].sum()), rel=1e-5)


@pytest.mark.parametrize(("case", "mode", "gamma"), [
    ("cycle life", "accounts", 1), ("demand charge", "accounts", 2),
    ("both", "individual", 1), ("coincident", "accounts", 1)])
def test_robust_value_equals_brute_force(case: str, mode: str, gamma: int) -> None:
    sys_ = coupled(**CASES[case])
    robust = plan_ccg(sys_, scenarios(), mode, gamma=gamma, config=EXACT).sel(mode=mode)
    expected, _ = brute_force(sys_, mode, gamma)
    assert str(robust["termination"].values) == Termination.OPTIMAL.value
    assert float(robust["objective"]) == pytest.approx(expected, rel=1e-7)
    if "cycle_life" in CASES[case]:  # the cycles shorten the cells' 1-year life
        assert float(robust["implied_life_yr"].min()) < 0.7
    if CASES[case].get("demand"):
        assert float(robust["demand_charge_annual"]) > 0
    # the year's coupling costs something here: without it the robust optimum is lower
    free = plan_ccg(coupled(), scenarios(), mode, gamma=gamma, config=EXACT).sel(mode=mode)
    assert float(free["objective"]) < expected - 1e-6


@pytest.mark.parametrize("case", ["cycle life", "both"])
def test_robust_cost_of_the_plan_decides_what_couples_the_days(case: str) -> None:
    # the robust cost of the robust plan's capacities, with the days' discharge and the
    # peaks decided for them, is the robust optimum; of half the capacities it is higher
    sys_ = coupled(**CASES[case])
    robust = plan_ccg(sys_, scenarios(), "accounts", gamma=1, config=EXACT)
    capacity = plan_capacity(robust, "accounts", ("mg0", "mg1"))
    cost = robust_cost(sys_, scenarios(), "accounts", capacity, gamma=1)
    optimum = float(robust["objective"].sel(mode="accounts"))
    assert cost.found == pytest.approx(optimum, rel=1e-7)
    assert cost.bound == pytest.approx(optimum, rel=1e-7)
    half = {name: {k: 0.5 * v for k, v in values.items()} for name, values in capacity.items()}
    assert robust_cost(sys_, scenarios(), "accounts", half, gamma=1).found > optimum + 1e-6
