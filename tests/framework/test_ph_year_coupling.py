"""What couples the days of a year (a cycle life, demand charges) in the models of one
scenario that progressive hedging solves (``framework/model/build.py``
``build_scenario_model`` with a ``YearContext``), on tiny systems computed by hand.

The first stage holds the billing peaks and every scenario's day of cell discharge; each
scenario model bounds its own. Their extensive form (the project's bundle of every
scenario, built by mpi-sppy from the scenario models) is the extensive form of
``build_extensive_model``: the same optimum, here the hand-computed one. Progressive hedging
brackets it and returns a plan within its gap.

Systems: the ageing system of ``test_ageing.py`` (one microgrid, two 1-h steps, day A
without sun, day B with 1 kW of PV to store; cells 1000 per kWh, 10 years at ``r = 0``, a
cycle life of 1460 cycles: B days alone wear them in 8 years, 126.000101 a year with O&M),
and the demand-charge systems of ``test_tariffs.py`` (``days_per_year = 1``, flat price 1.0,
nearly free storage: 0.01 per kWh and 0.001 per kW a year).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
import xarray as xr

from framework.errors import InputError
from framework.model import (
    YearContext,
    build_extensive_model,
    build_scenario_model,
    first_stage_vars,
    scenario_data,
)
from framework.model.build import year_needs
from framework.model.stochastic import scenario_creator
from framework.solve.ef import solve_ef
from framework.solve.highs import solve_highs
from framework.solve.ph import bundle_name, ph_subproblem, solve_ph
from tests.framework.conftest import make_scenarios, make_system, run_on_ranks
from tests.framework.test_ageing import STORAGE, TARIFF, plan_inputs
from tests.framework.test_tariffs import system as tariff_system
from tests.framework.test_tariffs import with_days


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-6, abs=1e-6)


def cycle_case() -> tuple[Any, xr.Dataset, float]:
    """The ageing system with 1460 cycles: E = 1, cells 1000 / 8 + O&M 1 + converter, A
    days buy their 1 kWh at 1.0: 126.000101 + 365 / 2 (``test_ageing.py``)."""
    system, days = plan_inputs(cycle_life=1460.0, cycle_life_dod=1.0, om_fraction_per_yr=0.001)
    return system, days, 126.000101 + 365 * 0.5 * 1.0


def monthly_case() -> tuple[Any, xr.Dataset, float]:
    """Demand charges of 1 per kW per month for each of two microgrids. Day 0 (January):
    mg0 loads 0 then 2 kW, mg1 2 then 0; day 1 (February): mg0 1 and 1, mg1 0 and 2. Each
    of the two months is billed 12 / 2 = 6 times a year. One kWh moved by storage brings
    every peak to 1 kW: 6 * (1 + 1 + 1 + 1) = 24, energy 4 a day; own batteries of 1 kWh and
    1 kW each cost 2 * 0.011, a station of accounts of 1 kWh and 1 kW serves both (mg0's
    account is full after the first hour, mg1's after the second): 0.011."""
    system = tariff_system([{"name": "mg0"}, {"name": "mg1"}], demand_charge_per_kw=1.0,
                           billing_period="month")
    days = with_days(make_scenarios([[[0.0, 2.0], [2.0, 0.0]], [[1.0, 0.0], [1.0, 2.0]]]),
                     ["2016-01-05", "2016-02-01"], [0, 1])
    return system, days, 24.0 + 4.0


def coincident_case() -> tuple[Any, xr.Dataset, float]:
    """A coincident charge of 1 per kW a year on the community's import: mg0 loads 0 then
    2 kW, mg1 0 then 1; storage of 1.5 kWh and 1.5 kW levels the sum at 1.5 kW: energy 3,
    charge 1.5, storage 1.5 * 0.011."""
    system = tariff_system([{"name": "mg0"}, {"name": "mg1"}],
                           coincident_demand_charge_per_kw=1.0)
    return system, make_scenarios([[[0.0, 0.0], [2.0, 1.0]]]), 3.0 + 1.5 + 1.5 * 0.011


CASES = {"cycle life": (cycle_case, {"individual": 0.0, "accounts": 0.0}),
         "monthly demand charges": (monthly_case, {"individual": 0.022, "accounts": 0.011}),
         "coincident charge": (coincident_case, {"individual": 0.0, "accounts": 0.0})}


def _extensive(system: Any, days: xr.Dataset, mode: str) -> float:
    data = [scenario_data(days, k) for k in range(days.sizes["scenario"])]
    return solve_highs(build_extensive_model(system, data, mode)).objective


def _from_scenario_models(system: Any, days: xr.Dataset, mode: str) -> pyo.ConcreteModel:
    """The project's bundle of every scenario: mpi-sppy's extensive form of the scenario
    models (``scenario_creator``), their first stages made equal."""
    return ph_subproblem(bundle_name(list(range(days.sizes["scenario"]))), system=system,
                         scenarios=days, mode=mode)


@pytest.mark.parametrize("mode", ["individual", "accounts"])
@pytest.mark.parametrize("case", list(CASES))
def test_scenario_models_make_the_extensive_form(case: str, mode: str) -> None:
    make, storage = CASES[case]
    system, days, cost = make()
    expected = cost + storage[mode]
    assert _extensive(system, days, mode) == approx(expected)
    bundle = _from_scenario_models(system, days, mode)
    assert solve_highs(bundle).objective == approx(expected)


def test_the_first_stage_holds_the_year() -> None:
    # the ageing system with a monthly demand charge: each scenario model has every
    # scenario's cell discharge and both months' peaks as first-stage variables, and rows
    # for its own only
    _, days, _ = cycle_case()
    system = make_system([{"name": "mg0", "pv_kw": 1.0}],
                         tariff={**TARIFF, "demand_charge_per_kw": 2.0, "billing_period": "month"},
                         storage={**STORAGE, "cycle_life": 1460.0, "cycle_life_dod": 1.0},
                         planning={"days_per_year": 365.0})
    days = with_days(days, ["2016-01-05", "2016-02-01"], [0, 1])
    year = YearContext.of(system, [scenario_data(days, k) for k in range(2)])
    assert year.periods == (1, 2) and year.member_of == ((1,), (2,))
    assert year.bills_per_period == 6.0 and year.probabilities == (0.5, 0.5)
    m = scenario_creator("scen1", system=system, scenarios=days, mode="individual")
    names = [(v.parent_component().local_name, v.index())
             for v in m._mpisppy_node_list[0].nonant_vardata_list]
    assert names == [("cap_energy_kwh", "mg0"), ("cap_power_kw", "mg0"),
                     ("cell_discharge_kwh", ("mg0", 0)), ("cell_discharge_kwh", ("mg0", 1)),
                     ("peak_import_kw", ("mg0", 1)), ("peak_import_kw", ("mg0", 2))]
    assert [c.local_name for c in first_stage_vars(m)] == [
        "cap_energy_kwh", "cap_power_kw", "cell_discharge_kwh", "peak_import_kw"]
    assert list(m.dispatch.cell_discharge) == ["mg0"]
    assert {(i, b) for i, b, _ in m.dispatch.peak_import} == {("mg0", 2)}
    # the first-stage cost of the root node prices the peaks: 6 bills of 2 per kW
    m.peak_import_kw["mg0", 1].set_value(1.0)
    m.peak_import_kw["mg0", 2].set_value(0.5)
    assert pyo.value(m.demand_charge_annual) == approx(6 * 2 * 1.5)
    assert m._mpisppy_node_list[0].cost_expression is m.first_stage_cost
    # alone, day B stores its 1 kWh of PV and imports nothing: it needs 1 kWh of the
    # cells' day and a February peak of 0 (what PH's plan is held at, year_needs)
    solve_highs(m)
    needs = {(v.parent_component().local_name, v.index()): value for v, value in year_needs(m)}
    assert needs == {("cell_discharge_kwh", ("mg0", 1)): approx(1.0),
                     ("peak_import_kw", ("mg0", 2)): approx(0.0)}


# ---- progressive hedging --------------------------------------------------------------

def ph_system() -> tuple[Any, xr.Dataset]:
    """The ageing system at ``r = 5 %`` (chords), with converters of 10 per kW and a demand
    charge of 2 per kW per month; four days: A (January, 1 kW of load), B (January, PV
    to store), a cloudy day of 1.2 kW and a sunny one of 0.8 kW (February). The cycle life
    binds (the cells last 7.1 years) and each month's peak is 1 kW: the extensive form
    stores 0.8 kWh for 363.1755 a year."""
    system = make_system(
        [{"name": "mg0", "pv_kw": 1.0}],
        tariff={**TARIFF, "demand_charge_per_kw": 2.0, "billing_period": "month"},
        storage={**STORAGE, "cycle_life": 1460.0, "cycle_life_dod": 1.0,
                 "om_fraction_per_yr": 0.001, "discount_rate": 0.05, "capex_power_per_kw": 10.0},
        planning={"days_per_year": 365.0})
    load = np.array([[[0.0], [1.0]], [[0.0], [1.0]], [[0.0], [1.2]], [[0.0], [0.8]]])
    pv = np.array([[[0.0], [0.0]], [[1.0], [0.0]], [[0.2], [0.0]], [[0.9], [0.0]]])
    days = with_days(make_scenarios(load, pv_pu=pv),
                     ["2016-01-05", "2016-01-06", "2016-02-01", "2016-02-02"], [0, 1, 2, 3])
    return system, days


@pytest.fixture(scope="module")
def ph_case() -> dict[str, Any]:
    system, days = ph_system()
    ef = solve_ef(system, days, "individual").sel(mode="individual")
    return {"system": system, "days": days, "ef": ef}


def test_the_extensive_form_of_the_ph_system(ph_case: dict[str, Any]) -> None:
    # the reference of the PH runs below: both months' peaks stay at 1 kW (6 bills of 2
    # each), the storage of 0.8 kWh cycles on the sunny days and wears out in 7.1 years
    ef = ph_case["ef"]
    assert float(ef["objective"]) == pytest.approx(363.1755191, rel=1e-8)
    assert float(ef["cap_energy_kwh"].sel(storage="mg0")) == approx(0.8)
    assert float(ef["demand_charge_annual"]) == approx(6 * 2 * (1.0 + 1.0))
    assert float(ef["implied_life_yr"].sel(storage="mg0")) == pytest.approx(7.111111, rel=1e-6)


@pytest.mark.parametrize(("bundles", "rel_gap"), [(0, 0.005), (2, 0.002)])
def test_ph_brackets_the_optimum_with_a_cycle_life_and_demand_charges(
        ph_case: dict[str, Any], bundles: int, rel_gap: float) -> None:
    """PH (one rank; every day alone, or two bundles of two days) stops at a certified gap
    of 0.5 % (40 iterations) or 0.2 % (10): its lower bound lies below the optimum, its plan
    costs at most 0.1 % more, with the same peaks and charges. (Two bundles reach a 1 % gap
    in 8 iterations with the bound 0.15 % below the optimum, before the plan is refined to
    0.1 %.) The cost is flat in the storage here (a larger one cycles less and lasts
    longer: 0.85 kWh cost 0.04 % more), so the storage is only within 10 %."""
    system, days, ef = ph_case["system"], ph_case["days"], ph_case["ef"]
    optimum = float(ef["objective"])
    ds = solve_ph(system, days, "individual", rel_gap=rel_gap, max_iterations=60,
                  bundles_per_rank=bundles).sel(mode="individual")
    outer, inner = float(ds["outer_bound"]), float(ds["inner_bound"])
    assert outer <= optimum * (1 + 1e-9) and optimum <= inner * (1 + 1e-9)
    assert (inner - outer) / inner <= rel_gap
    assert (inner - optimum) / optimum <= 1e-3
    assert float(ds["annual_cost"]) == pytest.approx(inner, rel=1e-9)
    assert float(ds["cap_energy_kwh"].sel(storage="mg0")) == pytest.approx(0.8, rel=0.1)
    # reported as the extensive form reports them, over every scenario
    assert float(ds["demand_charge_annual"]) == approx(24.0)
    assert ds["billing_peak_kw"].sel(microgrid="mg0").values.tolist() == approx([1.0, 1.0])
    assert float(ds["implied_life_yr"].sel(storage="mg0")) == pytest.approx(7.11, rel=0.05)
    assert ds["grid_import_kw"].sizes["scenario"] == 4


def test_ph_with_one_bundle_is_the_extensive_form(ph_case: dict[str, Any]) -> None:
    # one bundle of every day is the extensive form itself: solved at once, exactly
    system, days, ef = ph_case["system"], ph_case["days"], ph_case["ef"]
    ds = solve_ph(system, days, "accounts", rel_gap=1e-6, max_iterations=5,
                  bundles_per_rank=1).sel(mode="accounts")
    optimum = float(solve_ef(system, days, "accounts")["objective"].item())
    assert optimum == approx(float(ef["objective"]))  # one microgrid: same storage
    assert float(ds["outer_bound"]) == approx(optimum)
    assert float(ds["inner_bound"]) == approx(optimum)
    assert float(ds["cap_energy_kwh"].sel(storage="station")) == approx(0.8)


MPI_SCRIPT = """
import json, sys
from framework._mpisppy import MPI
from framework.solve.ph import solve_ph
from tests.framework.test_ph_year_coupling import ph_system

system, days = ph_system()
ds = solve_ph(system, days, "individual", rel_gap=0.01, max_iterations=60)
if MPI.COMM_WORLD.Get_rank() == 0:
    r = ds.sel(mode="individual")
    json.dump({"outer": float(r["outer_bound"]), "inner": float(r["inner_bound"]),
               "peaks": r["billing_peak_kw"].values.ravel().tolist(),
               "scenarios": int(r["grid_import_kw"].sizes["scenario"])}, open(sys.argv[1], "w"))
"""


def test_two_ranks_share_the_year(tmp_path: Path, ph_case: dict[str, Any]) -> None:
    # the hub over two ranks (two days each): the plan held at what the days on both ranks
    # need, the billing peaks over every day, the same bracket as on one rank
    result = run_on_ranks(tmp_path, MPI_SCRIPT, ranks=2, timeout=180)
    optimum = float(ph_case["ef"]["objective"])
    assert result["outer"] <= optimum * (1 + 1e-9) <= result["inner"] * (1 + 2e-9)
    assert (result["inner"] - result["outer"]) / result["inner"] <= 0.01
    assert (result["inner"] - optimum) / optimum <= 1e-3
    assert result["peaks"] == approx([1.0, 1.0]) and result["scenarios"] == 4


# ---- what still refuses ---------------------------------------------------------------

def test_without_its_year_a_model_of_one_day_refuses_the_cycle_life() -> None:
    system, days, _ = cycle_case()
    with pytest.raises(InputError, match=r"^storage\.cycle_life: .*a model of one day needs "
                                         r"its year \(build_scenario_model\(\.\.\., year="):
        build_scenario_model(system, scenario_data(days, 0), "individual")


def test_ccg_and_mmw_price_demand_charges() -> None:
    # C&CG at Gamma 0 is the extensive form, monthly peaks included; the MMW gap solves
    # each batch of drawn days as an extensive form, the batch's peaks decided with it
    from framework.mmw import GapInterval, mmw_gap
    from framework.robust import CCGConfig
    from framework.robust.storage import plan_ccg

    system, days, _ = monthly_case()
    for q in ("load_kw", "pv_pu", "wind_pu"):
        days[f"{q}_quantile"] = days[q].expand_dims(quantile=[0.1, 0.9])
    robust = plan_ccg(system, days, "individual", gamma=0, config=CCGConfig(rel_gap=1e-9))
    ef = solve_ef(system, days, "individual")
    assert float(robust["objective"].sel(mode="individual")) == pytest.approx(
        float(ef["objective"].sel(mode="individual")), rel=1e-8)
    assert float(robust["demand_charge_annual"].sel(mode="individual")) == pytest.approx(
        float(ef["demand_charge_annual"].sel(mode="individual")), rel=1e-6)
    capacity = {"cap_energy_kwh": {"mg0": 1.0, "mg1": 1.0},
                "cap_power_kw": {"mg0": 1.0, "mg1": 1.0}}
    gap = mmw_gap(system, capacity, days, "individual", batch_size=1, batches=2)
    assert isinstance(gap, GapInterval) and len(gap.batch_gaps) == 2
    assert np.isfinite([gap.estimate, gap.std, gap.ci_low, gap.ci_high]).all()
    assert min(gap.batch_gaps) >= -1e-6 and gap.ci_high >= gap.estimate >= 0.0
