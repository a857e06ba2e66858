"""The CSEE 2024 problem A study: reference numbers without storage, sanity of the optimum.

The reference table (``studies/csee2024a/README.md``) was computed independently of
sesplan; the model's dispatch must reproduce it to 0.01 kWh/day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from framework.solve.ef import solve_ef
from scenarios_gen.sources import load_days
from tests.studies.conftest import STUDIES, load_study_script

STUDY = STUDIES / "csee2024a"


run = load_study_script("csee2024a", "run.py")
make_data = load_study_script("csee2024a", "make_data.py")


@pytest.fixture(scope="module")
def solved():
    """Solve each (system, days, storage, mode, fixed) once for the whole module."""
    cache = {}

    def get(name, days="typical", storage=True, mode="individual", fixed=None):
        key = (name, days, storage, mode, None if fixed is None else tuple(fixed))
        if key not in cache:
            system = run.variant(name, days, storage)
            kwargs = {}
            if fixed is not None:
                kwargs["fixed_capacity"] = run.fixed_plan(fixed, run.FIXED_ENERGY_KWH,
                                                          run.FIXED_POWER_KW)
            cache[key] = solve_ef(system, load_days(system), mode, **kwargs)
        return cache[key]

    return get


@pytest.mark.parametrize("case", ["A", "B", "C", "joint"])
def test_no_storage_matches_reference(solved, case):
    name = "joint" if case == "joint" else f"park_{case}"
    ds = solved(name, storage=False)
    ref = run.REFERENCE[case]
    assert run.daily_kwh(ds, "grid_import_kw", "individual") == pytest.approx(
        ref["grid_kwh"], abs=0.01)
    assert run.daily_kwh(ds, "curtailed_kw", "individual") == pytest.approx(
        ref["curtailed_kwh"], abs=0.01)
    assert float(ds["cap_energy_kwh"].sum()) == 0.0
    assert float(ds["shed_kw"].max()) == pytest.approx(0.0, abs=1e-9)
    assert float(ds["grid_export_kw"].max()) == pytest.approx(0.0, abs=1e-9)


def test_joint_is_one_balance_of_the_three_parks(solved):
    """The joint microgrid carries the summed load and the parks' renewable capacities."""
    joint = solved("joint", storage=False)
    parks = solved("three_parks", storage=False)
    assert float(joint["load_kw"].sum()) == pytest.approx(float(parks["load_kw"].sum()))
    available = {
        key: float((ds["pv_kw"] * ds["pv_pu"] + ds["wind_kw"] * ds["wind_pu"]).sum())
        for key, ds in (("joint", joint), ("parks", parks))}
    assert available["joint"] == pytest.approx(available["parks"], rel=1e-9)


def test_optimal_storage_sanity(solved):
    parks = {p: solved(f"park_{p}") for p in run.PARKS}
    individual_cost = sum(float(ds["annual_cost"].sel(mode="individual")) for ds in
                          parks.values())
    individual_energy = sum(float(ds["cap_energy_kwh"].sum()) for ds in parks.values())
    # the three-park system in individual mode is the three parks side by side
    both = solved("three_parks")
    assert float(both["annual_cost"].sel(mode="individual")) == pytest.approx(
        individual_cost, rel=1e-7)
    shared = solved("three_parks", mode="shared")
    shared_cost = float(shared["annual_cost"].sel(mode="shared"))
    shared_energy = float(shared["cap_energy_kwh"].sel(mode="shared").sum())
    assert individual_energy > 1.0
    assert shared_energy < individual_energy
    assert shared_cost <= individual_cost + 1e-6 * individual_cost
    # storage never makes a park worse off than without it
    for p, ds in parks.items():
        none = solved(f"park_{p}", storage=False)
        assert float(ds["annual_cost"].sel(mode="individual")) <= float(
            none["annual_cost"].sel(mode="individual")) * (1 + 1e-9)


@pytest.mark.parametrize("park", run.PARKS)
def test_fixed_50kw_100kwh_costs_more_than_optimum(solved, park):
    fixed = solved(f"park_{park}", fixed=(park,))
    optimal = solved(f"park_{park}")
    assert float(fixed["cap_energy_kwh"].sel(mode="individual", storage=park)) == pytest.approx(100.0)
    assert float(fixed["cap_power_kw"].sel(mode="individual", storage=park)) == pytest.approx(50.0)
    assert float(fixed["annual_cost"].sel(mode="individual")) > float(
        optimal["annual_cost"].sel(mode="individual")) + 1.0


def test_monthly_days(solved):
    system = run.variant("three_parks", "monthly")
    scen = load_days(system)
    assert scen.sizes["scenario"] == 12
    np.testing.assert_allclose(scen["probability"], 1.0 / 12)
    typical = load_days(run.variant("three_parks", "typical"))
    # loads: the typical-day loads in every month
    np.testing.assert_array_equal(scen["load_kw"].values,
                                  np.repeat(typical["load_kw"].values, 12, axis=0))
    # the published quirk is kept: month 2, hour 23, wind_B_pu 0.4347 (0 in the typical day)
    assert float(scen["wind_pu"].isel(scenario=1).sel(step=23, microgrid="B")) == 0.4347
    assert float(typical["wind_pu"].sel(step=23, microgrid="B").squeeze()) == 0.0


def test_derived_files_are_up_to_date():
    data = STUDY / "data"
    typical = pd.read_csv(data / "typical_day.csv")
    monthly = make_data.monthly_days(typical, pd.read_csv(data / "monthly_typical_days.csv"))
    expected = {"monthly_days.csv": monthly, "joint_typical_day.csv": make_data.joint(typical),
                "joint_monthly_days.csv": make_data.joint(monthly)}
    for name, table in expected.items():
        stored = pd.read_csv(data / name)
        assert list(stored.columns) == list(table.columns), name
        np.testing.assert_allclose(stored.to_numpy(float), table.to_numpy(float), rtol=1e-9,
                                   atol=1e-12, err_msg=name)


def test_study_toml_lists_every_solve():
    """``study.toml`` holds the 24 solves of the study; its overrides give the systems that
    ``run.variant`` builds."""
    from framework.study import load_study

    study = load_study(STUDY / "study.toml")
    assert len(study.cases) == 24
    none = next(c for c in study.cases if c.labels == {
        "system": "park_B.toml", "days": "monthly", "storage": "none"})
    system = none.load_system()
    expected = run.variant("park_B", "monthly", storage=False)
    assert system.storage == expected.storage
    assert system.history.path == expected.history.path == "data/monthly_days.csv"
    fixed = next(c for c in study.cases if c.labels.get("storage") == "fixed_50kW_100kWh")
    assert fixed.fixed_capacity == {"energy_kwh": run.FIXED_ENERGY_KWH,
                                    "power_kw": run.FIXED_POWER_KW}
    assert study.outputs.report == "run.py"


@pytest.mark.slow
def test_study_runner_reproduces_reference(tmp_path):
    """The whole study through the runner: reference numbers, tables, and a rerun that
    solves nothing."""
    import json

    from framework.study import run_study

    result = run_study(STUDY / "study.toml", tmp_path)
    assert not result.failed and len(result.solved) == 24
    data = json.loads((tmp_path / "summary.json").read_text())
    for row in data["reference_check"]:
        assert row["grid_kwh"] == pytest.approx(row["grid_ref"], abs=0.01)
        assert row["curtailed_kwh"] == pytest.approx(row["curtailed_ref"], abs=0.01)
    tables = (tmp_path / "tables.md").read_text()
    assert "## (a) No storage, typical day: model vs. reference" in tables
    again = run_study(STUDY / "study.toml", tmp_path)
    assert again.solved == [] and (tmp_path / "tables.md").read_text() == tables
