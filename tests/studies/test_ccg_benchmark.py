"""The C&CG benchmark's per-block separation table on a small instance."""

from __future__ import annotations

import pytest

from framework.model import scenario_name
from framework.solve.ef import solve_ef
from framework.system import default_system
from scenarios_gen.pipeline import scenarios_for
from tests.studies.conftest import load_study_script


def test_separations_bound_the_worst_case_of_every_block() -> None:
    bench = load_study_script("benchmarks", "ccg.py")
    system = default_system()
    scenarios = scenarios_for(system, n_clusters=2)
    ef = solve_ef(system, scenarios, bench.MODE).sel(mode=bench.MODE)
    # the stochastic plan's whole first stage (capacities and, with the default cycle life,
    # each day's discharge at the cells): C&CG at Gamma 0, which is the extensive form
    stochastic = bench.convergence(system, scenarios, 0.0, 60.0, None)
    assert stochastic["objective"] == pytest.approx(float(ef["objective"]), rel=1e-6)
    assert stochastic["x"][:2] == pytest.approx([float(ef["cap_energy_kwh"].sum()),
                                                 float(ef["cap_power_kw"].sum())], rel=1e-4)
    rows = bench.separations(system, scenarios, 1.0, stochastic["x"], 60.0)
    assert [r["block"] for r in rows] == [scenario_name(k) for k in range(2)]
    assert sum(r["weight"] for r in rows) == pytest.approx(1.0)
    for r in rows:
        # the MILP starts from the ascent's worst case and proves its own to 1e-4
        assert r["value"] >= r["ascent"] - 1e-6 * abs(r["ascent"])
        assert r["value"] <= r["bound"] <= r["value"] + 1e-4 * abs(r["value"]) + 1e-6
        assert r["weighted_gap"] == pytest.approx(r["weight"] * (r["bound"] - r["value"]))
    # one deviating hour per microgrid costs more than the nominal day
    nominal = ef["daily_cost"].sum("cost_term").values * system.planning.days_per_year
    assert all(r["value"] > n for r, n in zip(rows, nominal))


def test_price_of_robustness_compares_at_the_worst_cases_found() -> None:
    bench = load_study_script("benchmarks", "ccg.py")
    system = default_system()
    scenarios = scenarios_for(system, n_clusters=2)
    (row,) = bench.price_of_robustness(system, scenarios, [0.0], 60.0, None)
    ef = solve_ef(system, scenarios, bench.MODE).sel(mode=bench.MODE)
    # Gamma = 0 is the stochastic plan: four equal values and a certified comparison
    for key in ("robust_found", "robust_objective", "stochastic_found", "stochastic_worst_case"):
        assert row[key] == pytest.approx(float(ef["objective"]), rel=1e-7)
    assert row["robust_cheaper"] == "certified"
    crafted = {"robust_found": 100.0, "robust_objective": 110.0, "stochastic_found": 105.0}
    assert bench.robust_cheaper(crafted) == "found"
    assert bench.robust_cheaper({**crafted, "stochastic_found": 110.0}) == "certified"
    assert bench.robust_cheaper({**crafted, "stochastic_found": 99.0}) == "no"
