"""Progressive hedging: valid bounds, the same answer as the extensive form, MPI runs.

The MPI tests start ``mpiexec -n 2`` / ``-n 3`` (``python -m mpi4py``) from pytest on a tiny
two-microgrid system of four days, and compare with the extensive form solved here, for
individual batteries and the two shared stations (accounts and pooled).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
import xarray as xr

from framework._mpisppy import sputils
from framework.errors import InputError
from framework.model import build_scenario_model, scenario_data
from framework.solve.ef import solve_ef
from framework.solve.highs import solve_highs
from framework.solve.ph import check_layout, default_spokes, solve_ph
from framework.solve.ph_guard import BoundError, OptimalOnlyBounds, check_bounds
from framework.solve.ph_hub import cost_scaled_rho
from framework.solve.ph_solver import NAME
from framework.system import load_system
from scenarios_gen.pipeline import scenarios_for
from scenarios_gen.scenarios import write_scenarios
from tests.framework.conftest import find_mpiexec, make_scenarios, make_system

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
MPIEXEC = find_mpiexec()
TIMEOUT = 120

PRICES = ", ".join(["0.10"] * 7 + ["0.25"] * 10 + ["0.45"] * 5 + ["0.25"] * 2)
SYSTEM = f"""name = "tiny"
[history]
source = "days"
path = "days.csv"
[[microgrid]]
name = "a"
pv_kw = 60.0
columns = {{ load_kw = "load_a", pv_pu = "pv_a" }}
[[microgrid]]
name = "b"
columns = {{ load_kw = "load_b" }}
[tariff]
price_buy_per_kwh = [{PRICES}]
price_sell_per_kwh = 0.02
[storage]
capex_energy_per_kwh = 200.0
capex_power_per_kw = 100.0
[planning]
days_per_year = 365.0
"""


def _days_csv() -> str:
    rows = ["scenario,step,load_a,pv_a,load_b"]
    for s in range(4):
        for t in range(24):
            pv = max(0.0, math.sin(math.pi * (t - 6) / 12)) * (0.4 + 0.2 * s)
            rows.append(f"{s},{t},{20 + 10 * (17 <= t <= 21) + 2 * s},{pv:.4f},"
                        f"{15 + 8 * (t >= 17) - s}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two microgrids (one with PV), four days with time-of-use prices; files and EF."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "days.csv").write_text(_days_csv())
    (folder / "system.toml").write_text(SYSTEM)
    system = load_system(folder / "system.toml")
    scenarios = scenarios_for(system)
    write_scenarios(scenarios, folder / "scenarios.nc")
    ef = {mode: solve_ef(system, scenarios, mode) for mode in ("individual", "accounts", "pooled")}
    return {"dir": folder, "system": system, "scenarios": scenarios, "ef": ef}


def _ef_objective(tiny: dict, mode: str) -> float:
    return float(tiny["ef"][mode]["objective"].item())


def _brackets(outer: float, inner: float, optimum: float, gap: float) -> None:
    """outer <= EF optimum <= inner, and the PH plan within the gap of the optimum."""
    assert outer <= optimum * (1 + 1e-9)
    assert optimum <= inner * (1 + 1e-9)
    assert (inner - outer) / inner <= gap + 1e-12
    assert (inner - optimum) / optimum <= gap


# ---- the mpi-sppy defect and its guard --------------------------------------------------

DEMAND = {"scen0": 10.0, "scen1": 20.0}


def _toy(name: str) -> pyo.ConcreteModel:
    """min x + 3 y, x + y >= d_s, x >= 0 unbounded above; optimum x = 20, cost 20."""
    m = pyo.ConcreteModel(name)
    m.x = pyo.Var(within=pyo.NonNegativeReals)
    m.y = pyo.Var(within=pyo.NonNegativeReals)
    m.cover = pyo.Constraint(expr=m.x + m.y >= DEMAND[name])
    m.obj = pyo.Objective(expr=m.x + 3 * m.y)
    sputils.attach_root_node(m, m.x, [m.x])
    m._mpisppy_probability = 0.5
    return m


def _lagrangian_after_unbounded(solver: str, extensions: type | None) -> tuple[float, float]:
    """What mpi-sppy's Lagrangian spoke does: bound with W = 0, then with W = (2, -2)."""
    from mpisppy.phbase import PHBase

    opt = PHBase({"solver_name": solver, "PHIterLimit": 1, "defaultPHrho": 1.0,
                  "convthresh": 0.0, "verbose": False, "display_progress": False,
                  "iter0_solver_options": {}, "iterk_solver_options": {}},
                 list(DEMAND), _toy, extensions=extensions)
    opt.PH_Prep(attach_prox=False, defer_attach=False)
    opt._reenable_W()
    opt._create_solvers()
    opt.solve_loop()
    first = opt.Ebound()
    opt.W_from_flat_list([2.0, -2.0])  # sum_s p_s W_s = 0; scenario 1: min -x + 3y
    opt.solve_loop(need_solution=False)
    return first, opt.Ebound()


@pytest.mark.parametrize("solver", ["appsi_highs", NAME])
def test_mpisppy_keeps_bound_of_unbounded_subproblem(solver: str) -> None:
    """mpi-sppy 0.14 adds the stale bound of a failed (unbounded) subproblem: 25 > 20."""
    first, second = _lagrangian_after_unbounded(solver, None)
    assert first == pytest.approx(15.0)  # wait-and-see: (10 + 20) / 2
    assert second == pytest.approx(25.0)  # 0.5 * 30 + 0.5 * (stale) 20 > optimum 20


def test_optimal_only_bounds_discards_failed_subproblem() -> None:
    first, second = _lagrangian_after_unbounded(NAME, OptimalOnlyBounds)
    assert first == pytest.approx(15.0)
    assert second == -math.inf


def test_check_bounds() -> None:
    check_bounds(99.0, 100.0)
    check_bounds(100.0 + 1e-5, 100.0)  # round-off
    with pytest.raises(BoundError, match="exceeds inner"):
        check_bounds(101.0, 100.0)


def test_cost_scaled_rho() -> None:
    rho = cost_scaled_rho(np.array([30.0, 12.0, 0.0]), np.array([50.0, 0.0, 0.0]),
                          np.array([200.0, 40.0, 0.2]), multiplier=0.5)
    assert rho == pytest.approx([0.5 * 30 / 200, 0.5 * 12 / 40, 0.5 * 1 / 1])


def test_layout() -> None:
    assert default_spokes(1) == () and default_spokes(2) == ()
    assert default_spokes(3) == default_spokes(6) == ("lagrangian", "xhatxbar")
    assert default_spokes(4) == ()
    assert check_layout(2, (), 10, 0) == (2, None)
    per, bundles = check_layout(3, ("lagrangian", "xhatxbar"), 10, 3)
    assert per == 1 and bundles == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(InputError, match="multiple of 3"):
        check_layout(4, ("lagrangian", "xhatxbar"), 10, 0)
    with pytest.raises(InputError, match="expected distinct names"):
        check_layout(2, ("outer",), 10, 0)
    with pytest.raises(InputError, match="cannot be spread"):
        check_layout(2, (), 10, 6)


@pytest.mark.parametrize("mode", ["none", "p2p"])
def test_no_storage_leaves_nothing_to_decide(tiny: dict, mode: str) -> None:
    with pytest.raises(InputError, match=f"architecture '{mode}' has no storage to plan: "
                       "progressive hedging .* use the extensive form"):
        solve_ph(tiny["system"], tiny["scenarios"], mode)


def test_plugin_solves_like_highs(tiny: dict) -> None:
    """The mpi-sppy plugin: same optimum as the EF bridge, then a fixed capacity and a
    changed mutable cost coefficient, each re-solved warm."""
    system, scenarios = tiny["system"], tiny["scenarios"]
    m = build_scenario_model(system, scenario_data(scenarios, 1), "accounts")
    plugin = pyo.SolverFactory(NAME)
    plugin.set_instance(m)
    res = plugin.solve(m, load_solutions=True)
    reference = build_scenario_model(system, scenario_data(scenarios, 1), "accounts")
    assert res.problem.lower_bound == pytest.approx(solve_highs(reference).objective, rel=1e-9)
    assert pyo.value(m.objective) == pytest.approx(res.problem.upper_bound, rel=1e-9)
    m.cap_energy_kwh["station"].fix(50.0)
    plugin.update_var(m.cap_energy_kwh["station"])
    reference.cap_energy_kwh["station"].fix(50.0)
    assert plugin.solve(m).problem.lower_bound == pytest.approx(
        solve_highs(reference).objective, rel=1e-9)
    m.price = pyo.Param(mutable=True, initialize=0.0)
    m.objective.expr = m.objective.expr + m.price * m.cap_power_kw["station"]
    plugin.set_objective(m.objective)
    m.price.value = 1e6  # power now too dear to build
    plugin.solve(m, load_solutions=True)
    assert m.cap_power_kw["station"].value == pytest.approx(0.0, abs=1e-7)


# ---- PH in this process (one rank) --------------------------------------------------


@pytest.mark.parametrize("mode", ["individual", "accounts", "pooled"])
def test_one_rank_brackets_ef(tiny: dict, mode: str) -> None:
    ds = solve_ph(tiny["system"], tiny["scenarios"], mode, rel_gap=0.01)
    ef = tiny["ef"][mode]
    _brackets(float(ds["outer_bound"].item()), float(ds["inner_bound"].item()),
              _ef_objective(tiny, mode), 0.01)
    assert set(ef.data_vars) <= set(ds.data_vars)
    for name in ("cap_energy_kwh", "grid_import_kw", "soc_kwh", "annual_cost",
                 "cell_charge_kw", "exchanged_kwh_per_yr"):
        assert ds[name].dims == ef[name].dims
    assert float(ds["objective"].item()) == pytest.approx(float(ds["annual_cost"].item()))
    assert ds.attrs["method"] == "ph"
    assert ds["ph_outer_bound"].sizes["iteration"] == int(ds["ph_iterations"].item())
    # the capacity bound is valid: the EF's capex lies within the capex budget
    assert float(ef["capex_annual"].item()) <= ds.attrs["ph_capex_bound"]
    _diagnostics_over_all_scenarios(ds.sel(mode=mode), tiny["system"])


def _diagnostics_over_all_scenarios(r: xr.Dataset, system) -> None:
    """The diagnostics of a PH result weigh every scenario (the hub assembles them one
    subproblem at a time): the exchange through a pooled bus, ``sum_t min(sum_i charge,
    sum_i discharge)``, and the cells' equivalent full cycles, from the reported dispatch."""
    days, p = system.planning.days_per_year, r["probability"]
    charge, discharge = r["charge_kw"].sum("microgrid"), r["discharge_kw"].sum("microgrid")
    passing = np.minimum(charge, discharge) if str(r["mode"].item()) == "pooled" else 0 * charge
    assert float(r["exchanged_kwh_per_yr"]) == pytest.approx(
        days * float((p * passing.sum("step")).sum()), rel=1e-9, abs=1e-6)
    usable = r["cap_energy_kwh"] * (system.storage.soc_max_frac - system.storage.soc_min_frac)
    cycles = days * (p * r["cell_discharge_kw"].sum("step")).sum("scenario") / usable
    assert r["equivalent_full_cycles_per_yr"].values == pytest.approx(cycles.values, rel=1e-9)
    assert float(cycles.max()) > 0  # the tiny system builds and uses storage


def test_bundles_one_rank(tiny: dict) -> None:
    ds = solve_ph(tiny["system"], tiny["scenarios"], "accounts", rel_gap=0.005,
                  bundles_per_rank=2)
    assert ds.attrs["ph_bundles"] == 2
    _brackets(float(ds["outer_bound"].item()), float(ds["inner_bound"].item()),
              _ef_objective(tiny, "accounts"), 0.005)
    assert ds["grid_import_kw"].sizes["scenario"] == 4


def test_unequal_probabilities(lossless: dict) -> None:
    """Scenarios of probability 0.1 .. 0.4 (bundles and single scenarios weigh them)."""
    rng = np.random.default_rng(3)
    system = make_system([{"name": "a", "pv_kw": 10.0}, {"name": "b"}],
                         tariff={"price_buy_per_kwh": [0.1, 0.3, 0.5, 0.2],
                                 "price_sell_per_kwh": 0.0},
                         storage={"capex_energy_per_kwh": 20.0, "capex_power_per_kw": 10.0},
                         planning={"days_per_year": 365.0})
    scenarios = make_scenarios(rng.uniform(1, 5, (4, 4, 2)), rng.uniform(0, 1, (4, 4, 2)),
                               probability=[0.1, 0.2, 0.3, 0.4], microgrids=["a", "b"])
    optimum = float(solve_ef(system, scenarios, "accounts")["objective"].item())
    for bundles in (0, 2):
        ds = solve_ph(system, scenarios, "accounts", rel_gap=0.002, bundles_per_rank=bundles)
        _brackets(float(ds["outer_bound"].item()), float(ds["inner_bound"].item()),
                  optimum, 0.002)


# ---- MPI runs ------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "MPICH_ASYNC_PROGRESS": "1", "PYTHONPATH": str(ROOT)}


def _mpirun(ranks: int, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cmd = [MPIEXEC, "-n", str(ranks), PYTHON, "-m", "mpi4py", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                          env=_env(), check=False)


def _plan(tiny: dict, ranks: int, *options: str) -> tuple[dict, xr.Dataset]:
    out = tiny["dir"] / f"ph_{ranks}_{len(options)}.nc"
    proc = _mpirun(ranks, ["-m", "framework.cli", "-q", "plan", "system.toml", "-s",
                           "scenarios.nc", "--method", "ph", "--json", "-o", out.name,
                           *options], tiny["dir"])
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out) as ds:
        return json.loads(proc.stdout), ds.load()


def test_cli_two_ranks_brackets_ef(tiny: dict) -> None:
    summary, ds = _plan(tiny, 2)
    assert ds.attrs["ph_ranks"] == 2 and ds.attrs["ph_spokes"] == "none"
    # the system's planning defaults: individual batteries and a station of accounts
    assert sorted(summary["ph"]) == ["accounts", "individual"]
    for mode in ("individual", "accounts"):
        ph = summary["ph"][mode]
        _brackets(ph["outer_bound"], ph["inner_bound"], _ef_objective(tiny, mode), 0.01)
        assert summary["modes"][mode]["annual_cost"] == pytest.approx(ph["inner_bound"])
    assert summary["saving_of_sharing_per_yr"] == pytest.approx(
        summary["modes"]["individual"]["annual_cost"] - summary["modes"]["accounts"]
        ["annual_cost"])


def test_cli_three_ranks_hub_and_spokes(tiny: dict) -> None:
    summary, ds = _plan(tiny, 3, "--storage", "shared", "--station", "pooled", "--rel-gap",
                        "0.005")
    assert ds.attrs["ph_spokes"] == "lagrangian,xhatxbar"
    assert list(summary["ph"]) == ["pooled"]
    ph = summary["ph"]["pooled"]
    _brackets(ph["outer_bound"], ph["inner_bound"], _ef_objective(tiny, "pooled"), 0.005)
    assert float(ds["rel_gap"].sel(mode="pooled")) == pytest.approx(ph["rel_gap"])
    # the hub gathers the scenarios from its ranks: diagnostics over all of them
    _diagnostics_over_all_scenarios(ds.sel(mode="pooled"), tiny["system"])


def test_one_bad_rank_stops_all_with_one_line(tiny: dict) -> None:
    (tiny["dir"] / "broken.nc").write_text("not a NetCDF file")
    rank = ["-m", "mpi4py", "-m", "framework.cli", "plan", "system.toml", "--method", "ph",
            "-o", "never.nc", "-s"]
    cmd = [MPIEXEC, "-n", "1", PYTHON, *rank, "scenarios.nc", ":",
           "-n", "1", PYTHON, *rank, "broken.nc"]
    proc = subprocess.run(cmd, cwd=tiny["dir"], capture_output=True, text=True,
                          timeout=TIMEOUT, env=_env(), check=False)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("sesplan")]
    assert len(lines) == 1 and lines[0].startswith("sesplan: error: MPI rank 1: ")
    assert "broken.nc" in lines[0]
    assert "Traceback" not in proc.stderr and "Abort" not in proc.stderr
    assert not (tiny["dir"] / "never.nc").exists()


def test_mpisppy_generic_driver(tiny: dict) -> None:
    """mpi-sppy's own driver on the model module: its final bounds bracket the EF."""
    proc = _mpirun(3, ["-m", "mpisppy.generic_cylinders", "--module-name",
                       "framework.solve.ph_module", "--system", "system.toml", "--scenarios",
                       "scenarios.nc", "--mode", "accounts", "--solver-name", NAME,
                       "--linearize-proximal-terms", "--default-rho", "0.05",
                       "--max-iterations", "200", "--rel-gap", "0.01", "--lagrangian",
                       "--xhatxbar"], tiny["dir"])
    assert proc.returncode == 0, proc.stderr
    rows = re.findall(r"^\[\s*[\d.]+\]\s+\d+\s+\S*\s*\S*\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%",
                      proc.stdout, flags=re.MULTILINE)
    outer, inner, gap = (float(v) for v in rows[-1])
    assert gap <= 1.0
    _brackets(outer, inner, _ef_objective(tiny, "accounts"), 0.01)


@pytest.mark.parametrize("script", ["ph.slurm", "sweep.slurm"])
def test_hpc_scripts(tiny: dict, script: str) -> None:
    """Each Slurm script runs its command under mpiexec -n 2 with the Slurm variables set."""
    folder = tiny["dir"]
    (folder / "cases.txt").write_text(
        "# name  arguments of 'sesplan plan'\n"
        "shared_ef   system.toml -s scenarios.nc --storage shared\n\n"
        "shared_ph   system.toml -s scenarios.nc --method ph --storage shared\n")
    env = {**_env(), "LAUNCH": MPIEXEC, "PYTHON": PYTHON, "SLURM_NTASKS": "2",
           "SLURM_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": "2", "CASES": "cases.txt",
           "SCENARIOS": "scenarios.nc", "SYSTEM": "system.toml", "STORAGE": "shared",
           "STATION": "accounts"}
    proc = subprocess.run(["bash", str(ROOT / "hpc" / script)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    out = folder / ("results/ph/4242.nc" if script == "ph.slurm"
                    else "results/sweep/shared_ph.nc")
    with xr.open_dataset(out) as ds:
        assert ds.attrs["method"] == "ph" and ds.attrs["ph_ranks"] == 2
        assert [str(m) for m in ds["mode"].values] == ["accounts"]
        _brackets(float(ds["outer_bound"].item()), float(ds["inner_bound"].item()),
                  _ef_objective(tiny, "accounts"), 0.01)


@pytest.mark.slow
def test_default_system_four_days(tmp_path: Path) -> None:
    """The shipped system on four clustered days, two ranks, its two architectures
    (individual batteries and a station of accounts)."""
    from framework.system import default_system

    system = default_system()
    scenarios = scenarios_for(system, n_clusters=4)
    write_scenarios(scenarios, tmp_path / "s.nc")
    proc = _mpirun(2, ["-m", "framework.cli", "-q", "plan", "-s", "s.nc", "--method", "ph",
                       "--json", "-o", "r.nc"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    for mode in system.planning.architectures:
        optimum = float(solve_ef(system, scenarios, mode)["objective"].item())
        ph = summary["ph"][mode]
        _brackets(ph["outer_bound"], ph["inner_bound"], optimum, 0.01)


def test_the_report_says_why_the_final_gap_differs_from_the_last_iteration() -> None:
    """The history's last gap (1.29 %, the run's incumbent) and the certified gap (0.60 %,
    the plan returned evaluated on every scenario) are both reported, with the reason."""
    import xarray as xr

    from framework.solve.ph import ph_report, ph_summary

    outer, inner = 99.4, 100.0
    ds = xr.Dataset({
        "outer_bound": ("mode", [outer]), "inner_bound": ("mode", [inner]),
        "rel_gap": ("mode", [(inner - outer) / inner]), "ph_iterations": ("mode", [7]),
        "ph_rel_gap": (("mode", "iteration"), [[np.inf, 0.05, 0.0129]])},
        coords={"mode": ["accounts"], "iteration": [1, 4, 7]})
    row = ph_summary(ds)["accounts"]
    assert row["rel_gap"] == pytest.approx(0.006)
    assert row["last_iteration_rel_gap"] == pytest.approx(0.0129)
    assert ph_report(ds) == (
        "PH accounts: 7 iterations, lower bound 99.40, plan cost 100.00, certified gap 0.600% "
        "(the last iteration's gap was 1.290%, with the incumbent of the run; the certified "
        "gap uses the exact cost of the plan returned, evaluated on every scenario)")
