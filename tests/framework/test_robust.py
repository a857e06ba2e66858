"""Robust storage planning by C&CG on tiny systems, checked against brute force.

Two microgrids, four steps, two scenarios, every architecture with storage (an energy
account per microgrid in a shared station, a pooled station, own batteries, with and without
direct exchange). The brute force solves
``min_x capex + days * sum_s pi_s eta_s`` with ``eta_s >= daily_cost_s(vertex)`` for every
vertex of scenario ``s``'s budget set, one dispatch block per vertex built by the one model
builder from the worst-case profiles.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
import xarray as xr

from framework.architecture import architecture
from framework.cli import main
from framework.errors import InputError
from framework.model import ScenarioData, YearContext, define_dispatch, define_first_stage
from framework.model.build import define_scenario_coupling, define_year_coupling
from framework.robust import CCGConfig, Termination
from framework.robust.storage import (
    ccg_config,
    ccg_report,
    ccg_summary,
    deviations,
    plan_ccg,
    robust_cost,
    storage_problem,
)
from framework.solve.ef import solve_ef
from framework.solve.highs import solve_highs
from framework.system import System, system_from_dict
from tests.framework.conftest import find_mpiexec, make_scenarios

STEPS = 4
LOAD = [[[10, 14, 20, 8], [6, 9, 12, 5]], [[8, 12, 16, 10], [5, 7, 9, 6]]]  # [s][mg][t]
PV = [[[0.0, 0.6, 0.8, 0.1], [0.0, 0.5, 0.7, 0.0]], [[0.0, 0.3, 0.5, 0.0], [0.0, 0.2, 0.4, 0.1]]]
LOAD_UP = 0.3        # load quantile 0.9 = 1.3 * load
PV_DOWN = 0.5        # pv quantile 0.1 = 0.5 * pv


SYSTEM_TOML = """
name = "tiny-robust"
[history]
step_h = 1.0
[planning]
days_per_year = 1.0
[[microgrid]]
name = "mg0"
pv_kw = 20.0
import_limit_kw = 20.0
[[microgrid]]
name = "mg1"
pv_kw = 10.0
[tariff]
price_buy_per_kwh = [0.1, 0.3, 0.5, 0.2]
price_sell_per_kwh = 0.02
grid_co2_kg_per_kwh = 0.0
voll_per_kwh = 2.0
[storage]
capex_energy_per_kwh = 0.05
capex_power_per_kw = 0.02
om_fraction_per_yr = 0.0
lifetime_yr = 1.0
discount_rate = 0.0
eta_charge = 0.95
eta_discharge = 0.9
soc_min_frac = 0.0
soc_max_frac = 1.0
[shared]
capex_multiplier = 1.0
exchange_fee_per_kwh = 0.0
"""


def system() -> System:
    """Two microgrids; mg0's import limit makes it shed in its worst cases."""
    return system_from_dict(tomllib.loads(SYSTEM_TOML))


def scenarios() -> xr.Dataset:
    load = np.transpose(np.array(LOAD, dtype=float), (0, 2, 1))
    pv = np.transpose(np.array(PV), (0, 2, 1))
    ds = make_scenarios(load, pv_pu=pv, probability=[0.6, 0.4])
    dims = ("quantile", "scenario", "step", "microgrid")
    ds = ds.assign_coords(quantile=[0.1, 0.9])
    ds["load_kw_quantile"] = (dims, np.stack([0.8 * load, (1 + LOAD_UP) * load]))
    ds["pv_pu_quantile"] = (dims, np.stack([(1 - PV_DOWN) * pv, np.minimum(1.2 * pv, 1)]))
    ds["wind_pu_quantile"] = (dims, np.zeros((2, *load.shape)))
    # the rest of the scenario-file schema (a set of given days)
    ds = ds.assign_coords(day=np.array([], dtype="datetime64[ns]"))
    ds["membership"] = ("day", np.array([], dtype=int))
    ds["is_extreme"] = ("scenario", [False, False])
    ds["representative_day"] = ("scenario", np.array(["NaT", "NaT"], dtype="datetime64[ns]"))
    ds["scenario_label"] = ("scenario", ["c0", "c1"])
    ds["pv_kw"] = ("microgrid", [20.0, 10.0])
    ds["wind_kw"] = ("microgrid", [0.0, 0.0])
    return ds


def budget_vertices(gamma: int) -> list[np.ndarray]:
    """Every z in {0,1}^(mg x step) with at most gamma ones per microgrid (flattened)."""
    per_mg = [np.array(v, dtype=float) for v in itertools.product((0, 1), repeat=STEPS)
              if sum(v) <= gamma]
    return [np.concatenate(pair) for pair in itertools.product(per_mg, repeat=2)]


def profiles(s: int, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    zz = z.reshape(2, STEPS).T
    load = np.array(LOAD[s], dtype=float).T
    pv = np.array(PV[s]).T
    return load * (1 + LOAD_UP * zz), pv * (1 - PV_DOWN * zz)


def brute_force(sys_: Any, mode: str, gamma: int, single: bool = False) -> tuple[float, Any]:
    """``min_x first_stage_cost + days * AGG_s max_vertex daily_cost``, one dispatch copy per
    vertex; what couples the days (a cycle life, demand charges) in the first stage, every
    copy of scenario ``s`` under its rows (``define_scenario_coupling``)."""
    arch, names = architecture(mode), ("mg0", "mg1")
    nominal = [ScenarioData(f"scen{s}", p, 1.0, names, *profiles(s, np.zeros(2 * STEPS)),
                            np.zeros((STEPS, 2))) for s, p in enumerate((0.6, 0.4))]
    year = YearContext.of(sys_, nominal)
    m = pyo.ConcreteModel()
    define_first_stage(m, sys_, arch.storages(names), arch.shared)
    define_year_coupling(m, sys_, arch, names, year)
    vertices = budget_vertices(gamma)
    m.eta = pyo.Var(range(2))
    m.copy = pyo.Block(range(2), range(len(vertices)))
    for s, (v, z) in itertools.product(range(2), enumerate(vertices)):
        load, pv = profiles(s, z)
        data = ScenarioData(f"scen{s}", 1.0, 1.0, names, load, pv, np.zeros_like(pv))
        define_dispatch(m.copy[s, v], m, sys_, data, arch, names)
        define_scenario_coupling(m.copy[s, v], m, sys_, year, s)
        m.copy[s, v].worst = pyo.Constraint(expr=m.eta[0 if single else s]
                                            >= m.copy[s, v].daily_cost)
    days = sys_.planning.days_per_year
    m.objective = pyo.Objective(expr=m.first_stage_cost + days * (
        m.eta[0] if single else 0.6 * m.eta[0] + 0.4 * m.eta[1]))
    info = solve_highs(m)
    return info.objective, m


def capacity(ds: xr.Dataset, mode: str) -> dict[str, dict[str, float]]:
    r = ds.sel(mode=mode)
    return {name: {str(k): float(r[name].sel(storage=k)) for k in r["storage"].values}
            for name in ("cap_energy_kwh", "cap_power_kw")}


EXACT = CCGConfig(rel_gap=1e-9)


@pytest.mark.parametrize("mode", ["accounts", "pooled", "individual", "individual+p2p"])
def test_gamma_zero_is_the_stochastic_model(mode: str) -> None:
    ef = solve_ef(system(), scenarios(), mode).sel(mode=mode)
    robust = plan_ccg(system(), scenarios(), mode, gamma=0, config=EXACT).sel(mode=mode)
    assert float(robust["objective"]) == pytest.approx(float(ef["objective"]), rel=1e-9)
    assert float(robust["bound"]) == pytest.approx(float(ef["objective"]), rel=1e-9)
    for name in ("cap_energy_kwh", "cap_power_kw"):
        assert float(robust[name].sum()) == pytest.approx(float(ef[name].sum()), rel=1e-6)
        if not architecture(mode).p2p:  # with p2p at fee 0 a battery may sit at either mg
            assert robust[name].values == pytest.approx(ef[name].values, rel=1e-6, abs=1e-6)
    # the plan is optimal for the extensive form: its annual cost there is the optimum
    assert float(robust["nominal_annual_cost"]) == pytest.approx(float(ef["objective"]),
                                                                 rel=1e-9)
    assert int(robust["iterations"]) == 1
    assert np.all(robust["worst_z"].values == 0)


@pytest.mark.parametrize(("mode", "gamma", "single"), [
    ("accounts", 1, False), ("accounts", 2, False), ("individual", 2, False),
    ("accounts", 4, False), ("accounts", 2, True), ("pooled", 2, False),
    ("accounts+p2p", 1, False), ("individual+p2p", 2, False)])
def test_robust_value_equals_brute_force(mode: str, gamma: int, single: bool) -> None:
    sys_ = system()
    robust = plan_ccg(sys_, scenarios(), mode, gamma=gamma, single_worst_case=single,
                      config=EXACT).sel(mode=mode)
    expected, _ = brute_force(sys_, mode, gamma, single)
    assert str(robust["termination"].values) == Termination.OPTIMAL.value
    assert float(robust["objective"]) == pytest.approx(expected, rel=1e-7)
    lower = robust["ccg_lower_bound"].values
    upper = robust["ccg_upper_bound"].values
    assert np.all(np.diff(lower) >= 0) and np.all(np.diff(upper) <= 0)
    assert upper[-1] - lower[-1] <= 1e-9 * abs(upper[-1])
    if not single:
        # the dispatch at the worst case of every scenario prices the robust objective
        assert float(robust["annual_cost"]) == pytest.approx(expected, rel=1e-7)
    # per scenario: the worst cost, proven exactly, is that dispatch's annual cost
    cost, bound = robust["worst_case_cost"].values, robust["worst_case_bound"].values
    assert bound == pytest.approx(cost, rel=1e-7, abs=1e-9)
    days = sys_.planning.days_per_year
    assert cost == pytest.approx(days * robust["daily_cost"].sum("cost_term").values, rel=1e-7)
    weights = np.ones(2) if single else robust["probability"].values
    capex = float(robust["capex_annual"].sum())
    aggregate = np.max(cost) if single else weights @ cost
    assert capex + aggregate == pytest.approx(expected, rel=1e-7)
    # worst-case profiles are those of the reported z
    z = robust["worst_z"].values
    assert np.all(z.sum(axis=1) <= gamma)
    assert robust["worst_load_kw"].values == pytest.approx(
        robust["load_kw"].values * (1 + LOAD_UP * z))


def test_modular_first_stage_equals_brute_force() -> None:
    # modules of 4 kWh / 2 kW with a fixed cost: an integer first stage (MILP master)
    base = system()
    sys_ = dataclasses.replace(base, storage=dataclasses.replace(
        base.storage, module_energy_kwh=4.0, module_power_kw=2.0, fixed_cost=0.5))
    robust = plan_ccg(sys_, scenarios(), "accounts", gamma=1, config=EXACT).sel(mode="accounts")
    expected, _ = brute_force(sys_, "accounts", 1)
    assert float(robust["objective"]) == pytest.approx(expected, rel=1e-7)
    energy = float(robust["cap_energy_kwh"].sel(storage="station"))
    assert energy / 4.0 == pytest.approx(round(energy / 4.0)) and energy > 0


def test_price_of_robustness() -> None:
    sys_ = system()
    ef = solve_ef(sys_, scenarios(), "accounts")
    robust = plan_ccg(sys_, scenarios(), "accounts", gamma=2, config=EXACT,
                      compare_stochastic=True)
    ef_value, robust_value = float(ef["objective"].item()), float(robust["objective"].item())
    stochastic = robust_cost(sys_, scenarios(), "accounts", capacity(ef, "accounts"), gamma=2)
    robust_worst = robust_cost(sys_, scenarios(), "accounts", capacity(robust, "accounts"),
                               gamma=2)
    # solved to 1e-9: the cost at the worst cases found is the certified bound
    for cost in (stochastic, robust_worst):
        assert cost.found == pytest.approx(cost.bound, rel=1e-7)
    assert robust_worst.bound == pytest.approx(robust_value, rel=1e-7)
    assert robust_worst.bound < stochastic.found - 1e-6
    # the same comparison inside plan_ccg, with its separations' gap of 1e-4
    assert float(robust["compare_s"].item()) > 0
    found = float(robust["stochastic_worst_case_cost"].item())
    bound = float(robust["stochastic_worst_case_bound"].item())
    assert found == pytest.approx(stochastic.found, rel=1e-4)
    assert found - 1e-6 <= bound <= found * (1 + 1e-4) + 1e-6
    nominal = float(robust["nominal_annual_cost"].item())
    assert nominal > ef_value + 1e-6
    assert float(robust["cap_energy_kwh"].sum()) > float(ef["cap_energy_kwh"].sum())


def test_deviations_from_the_spread() -> None:
    dev = deviations(scenarios(), 0.9)
    load = np.transpose(np.array(LOAD, dtype=float), (0, 2, 1))
    assert dev["load_dev_kw"].values == pytest.approx(LOAD_UP * load)
    assert dev["pv_dev_pu"].values == pytest.approx(
        PV_DOWN * np.transpose(np.array(PV), (0, 2, 1)))
    assert np.all(dev["wind_dev_pu"].values == 0)


def test_bad_inputs_are_input_errors() -> None:
    with pytest.raises(InputError, match=r"quantile 0\.95 is not in the scenario set .*0\.1, 0\.9"):
        deviations(scenarios(), 0.95)
    with pytest.raises(InputError, match="no cluster spread"):
        deviations(make_scenarios(np.ones((1, 2, 2))), 0.9)
    with pytest.raises(InputError, match="gamma"):
        storage_problem(system(), scenarios(), "accounts", -1.0)
    # without storage there is no first stage: nothing for C&CG to decide
    for mode in ("none", "p2p"):
        with pytest.raises(InputError, match=f"architecture '{mode}' has no storage to plan: "
                           r"C&CG .* use the extensive form"):
            plan_ccg(system(), scenarios(), mode, gamma=1)
    strict = system()
    strict = dataclasses.replace(strict, planning=dataclasses.replace(
        strict.planning, forbid_simultaneous=True))
    with pytest.raises(InputError, match="forbid_simultaneous.*linear recourse"):
        storage_problem(strict, scenarios(), "pooled", 1.0)
    assert main(["plan", "--scenarios", "missing.nc", "--method", "ccg"]) == 2


def test_cli_plan_ccg(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "system.toml").write_text(SYSTEM_TOML)
    scen = tmp_path / "scenarios.nc"
    scenarios().to_netcdf(scen)
    out = tmp_path / "robust.nc"
    code = main(["plan", str(tmp_path / "system.toml"), "--scenarios", str(scen), "--method",
                 "ccg", "--gamma", "2", "--storage", "shared", "-o", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    expected, _ = brute_force(system(), "accounts", 2)
    assert summary["method"] == "ccg"
    assert list(summary["modes"]) == ["accounts"]  # the system's station (default accounts)
    assert summary["modes"]["accounts"]["annual_cost"] == pytest.approx(expected, rel=1e-6)
    ccg = summary["ccg"]["accounts"]
    assert ccg["termination"] == "optimal" and ccg["gap"] <= 1e-3
    assert ccg["objective"] == pytest.approx(expected, rel=1e-6)
    assert ccg["lower_bound"] <= ccg["objective"] * (1 + 1e-12)  # equal, up to round-off
    with xr.open_dataset(out) as ds:
        assert "ccg_upper_bound" in ds and float(ds.attrs["gamma"]) == 2.0
        # a gap of 30 on the first day and 10 on the second (weighted): 75 % and 25 %
        held = ds.load()
    prob = held["probability"].values
    held["worst_case_bound"] = held["worst_case_cost"] + np.array([30.0, 10.0]) / prob
    held["termination"] = ("mode", ["time_limit"])
    shares = ccg_summary(held)["accounts"]["gap_by_day"]
    days = [str(k) for k in held["scenario"].values]
    assert shares == pytest.approx({days[0]: 0.75, days[1]: 0.25})
    assert ccg_report(held).endswith(
        f"the gap is held by scenario {days[0]} (75%), scenario {days[1]} (25%)")
    # one iteration: the nominal master, whose worst cases end the round without a bound
    code = main(["plan", str(tmp_path / "system.toml"), "--scenarios", str(scen), "--method",
                 "ccg", "--gamma", "2", "--storage", "shared", "-o", str(out),
                 "--max-iterations", "1", "--rel-gap", "0.5"])
    assert code == 4  # written, but not certified: the exit status and the table say so
    captured = capsys.readouterr()
    printed = captured.out
    assert "| accounts (NOT CERTIFIED) |" in printed
    assert "NOT CERTIFIED: accounts: ended with 'iteration_limit'" in captured.err
    assert "C&CG accounts: iteration_limit after 1 iterations" in printed
    assert (f"the gap is held by scenario {days[0]} (no bound), scenario {days[1]} "
            "(no bound)") in printed
    with xr.open_dataset(out) as ds:
        assert str(ds["termination"].item()) == "iteration_limit"
        assert ds.sizes["iteration"] == 1
        assert np.all(np.isinf(ds["worst_case_bound"].values))


MPI_SCRIPT = """
import json, sys
from tests.framework.test_robust import scenarios, system
from framework.robust import CCGConfig
from framework.robust.storage import plan_ccg
from mpi4py import MPI
ds = plan_ccg(system(), scenarios(), "accounts", gamma=2, config=CCGConfig(rel_gap=1e-9))
ds = ds.sel(mode="accounts")
if MPI.COMM_WORLD.Get_rank() == 0:
    print(json.dumps({"objective": float(ds["objective"]), "bound": float(ds["bound"]),
                      "energy": float(ds["cap_energy_kwh"].sum()),
                      "ranks": MPI.COMM_WORLD.Get_size()}))
"""


def test_mpi_separation_matches_serial() -> None:
    mpiexec = find_mpiexec()
    serial = plan_ccg(system(), scenarios(), "accounts", gamma=2, config=EXACT).sel(
        mode="accounts")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", "-c", MPI_SCRIPT],
                         cwd=root, env=env, capture_output=True, text=True, timeout=240,
                         check=False)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["ranks"] == 2
    assert got["objective"] == pytest.approx(float(serial["objective"]), rel=1e-9)
    assert got["bound"] == pytest.approx(float(serial["bound"]), rel=1e-9)
    assert got["energy"] == pytest.approx(float(serial["cap_energy_kwh"].sum()), rel=1e-6)


def test_dual_bounds_per_step_where_no_import_limit_binds() -> None:
    # mg1 has no import limit: a kWh of its load or lost PV at step t costs at most the
    # import price buy_t; mg0's limit (20 kW) is below its worst-case load (26 kW), so its
    # entries keep the bound valid for every plan (value of lost load)
    problem, _ = storage_problem(system(), scenarios(), "accounts", 1.0)
    bounds = problem.blocks[0].dual_bounds
    x = np.zeros(problem.first_stage.size)
    low, high = bounds(x)
    loose_low, loose_high = bounds.loose
    assert np.all(low == 0) and np.all(loose_low == 0)
    # scenario 0, mg1, t = 2: load 12 kW + 30 %, PV 0.7 pu of 10 kW - 50 %, buy 0.5
    assert high[STEPS + 2] == pytest.approx(0.5 * (0.3 * 12 + 0.5 * 0.7 * 10))
    assert np.all(high <= loose_high) and np.all(high[:STEPS] == loose_high[:STEPS])
    assert high[STEPS + 2] < loose_high[STEPS + 2]


def test_config_from_a_study_table() -> None:
    assert ccg_config({"rel_gap": 0.01, "time_limit_s": 5.0}) == CCGConfig(rel_gap=0.01,
                                                                          time_limit_s=5.0)
    with pytest.raises(InputError, match=r"unknown key\(s\) \['time_limit'\]; valid keys: "):
        ccg_config({"time_limit": 5.0})


@pytest.mark.parametrize(("mode", "mg1", "threshold"), [
    # mg1's import limit 40 kW less its worst-case load 15.6 kW (12 kW + 30 %) leaves 24.4
    ("accounts", {}, 24.4),
    # it may also send 10 kW to mg0 directly, which its imports may have to cover
    ("accounts+p2p", {"p2p_limit_kw": 10.0}, 14.4),
    ("individual+p2p", {}, -np.inf),  # no p2p limit: it may import for mg0 without bound
    # at a pooled bus its charge feeds mg0's discharge: bounded by its connection only
    ("pooled", {"station_limit_kw": 5.0}, 19.4),
    ("pooled", {}, -np.inf),
])
def test_dual_bounds_count_what_a_microgrid_sends(mode: str, mg1: dict, threshold: float
                                                  ) -> None:
    # the per-step bound of mg1 holds while the power of the storage it charges stays below
    # its import limit less its worst-case load and what it can send to other microgrids
    data = tomllib.loads(SYSTEM_TOML)
    data["microgrid"][1].update(import_limit_kw=40.0, **mg1)
    data["shared"]["exchange_fee_per_kwh"] = 0.01
    sys_ = system_from_dict(data)
    problem, layout = storage_problem(sys_, scenarios(), mode, 1.0)
    bounds = problem.blocks[0].dual_bounds
    power = [p for p, (name, k) in enumerate(layout.first_stage)
             if name == "cap_power_kw" and k in ("mg1", "station")][0]
    mg1_entries = slice(STEPS, 2 * STEPS)
    assert np.all(bounds.tight[mg1_entries] < bounds.loose[1][mg1_entries])
    x = np.zeros(problem.first_stage.size)
    for p in (threshold - 0.1, threshold + 0.1) if np.isfinite(threshold) else (0.0,):
        x[power] = p
        expected = bounds.tight if p < threshold else bounds.loose[1]
        assert bounds(x)[1][mg1_entries] == pytest.approx(expected[mg1_entries], rel=1e-12)
    # the loose bound pays the fee at every meter a kWh may pass: 2 at a station, 2 with p2p
    arch = architecture(mode)
    meters = 2 * arch.shared + 2 * arch.p2p
    plain = dataclasses.replace(sys_, shared=dataclasses.replace(sys_.shared,
                                                                 exchange_fee_per_kwh=0.0))
    base, _ = storage_problem(plain, scenarios(), mode, 1.0)
    dev = LOAD_UP * 12 + PV_DOWN * 0.7 * 10  # scenario 0, mg1, t = 2 (days = dt = 1)
    assert bounds.loose[1][STEPS + 2] - base.blocks[0].dual_bounds.loose[1][STEPS + 2] == (
        pytest.approx(meters * 0.01 * dev))
