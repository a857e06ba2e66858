"""Progressive hedging under MPI, started from pytest: bounds bracket the EF optimum."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framework.solve.ef import solve_ef
from framework.system import load_system
from scenarios_gen.scenarios import write_scenarios
from tests.framework.conftest import make_scenarios

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
    "mpiexec")

SYSTEM = """
[history]
source = "days"
path = "unused.csv"
[[microgrid]]
name = "a"
pv_kw = 10.0
[[microgrid]]
name = "b"
[tariff]
price_buy_per_kwh = [0.1, 0.3, 0.5, 0.2]
price_sell_per_kwh = 0.0
[storage]
capex_energy_per_kwh = 20.0
capex_power_per_kw = 10.0
"""


def _case(tmp_path: Path) -> tuple[Path, Path]:
    system = tmp_path / "system.toml"
    system.write_text(SYSTEM)
    rng = np.random.default_rng(3)
    scenarios = make_scenarios(rng.uniform(1, 5, (4, 4, 2)), rng.uniform(0, 1, (4, 4, 2)),
                               probability=[0.1, 0.2, 0.3, 0.4], microgrids=["a", "b"])
    path = tmp_path / "s.nc"
    write_scenarios(_complete(scenarios), path)
    return system, path


def _complete(ds):
    """The optional variables of a scenario file, for a set made from arrays."""

    q = ds[["load_kw", "pv_pu", "wind_pu"]].expand_dims(quantile=[0.1, 0.9])
    out = ds.assign(
        load_kw_quantile=q["load_kw"], pv_pu_quantile=q["pv_pu"], wind_pu_quantile=q["wind_pu"],
        pv_kw=("microgrid", [10.0, 0.0]), wind_kw=("microgrid", [0.0, 0.0]),
        membership=("day", np.zeros(0, dtype="int64")),
        is_extreme=("scenario", np.zeros(ds.sizes["scenario"], dtype=bool)),
        representative_day=("scenario", np.full(ds.sizes["scenario"], np.datetime64("NaT"),
                                                dtype="datetime64[ns]")))
    out = out.assign_coords(day=np.array([], dtype="datetime64[ns]"),
                            scenario_label=("scenario", [f"s{k}" for k in out["scenario"].values]))
    out.attrs.update(sesplan_version="test", n_clusters=ds.sizes["scenario"], n_extreme_days=0)
    return out


def _mpi(args: list[str], ranks: int, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPICH_ASYNC_PROGRESS": "1"}
    return subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, "-m", "mpi4py", "-m",
                           "framework.cli", "-q", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


@pytest.mark.skipif(MPIEXEC is None, reason="needs mpiexec (the 'mpi' extra)")
@pytest.mark.parametrize("ranks", [2, 3])
def test_ph_bounds_bracket_the_ef_optimum(tmp_path: Path, ranks: int) -> None:
    system, scen = _case(tmp_path)
    out = tmp_path / "ph.nc"
    run = _mpi(["plan", str(system), "--scenarios", str(scen), "--method", "ph", "--mode",
                "shared", "-o", str(out), "--json"], ranks)
    assert run.returncode == 0, run.stderr[-2000:]
    printed = json.loads(run.stdout)
    ph = printed["ph"]["shared"]
    from scenarios_gen.scenarios import read_scenarios

    ef = solve_ef(load_system(system), read_scenarios(scen), "shared")
    optimum = float(ef["objective"].item())
    tol = 1e-6 * abs(optimum)
    assert ph["outer_bound"] <= optimum + tol
    assert optimum <= ph["inner_bound"] + tol
    # the plan written is the incumbent: its dispatch costs the inner bound
    assert printed["modes"]["shared"]["annual_cost"] == pytest.approx(ph["inner_bound"],
                                                                      rel=1e-6)
    assert ph["rel_gap"] == pytest.approx(
        (ph["inner_bound"] - ph["outer_bound"]) / abs(ph["inner_bound"]), rel=1e-6)
    assert out.exists()


@pytest.mark.skipif(MPIEXEC is None, reason="needs mpiexec (the 'mpi' extra)")
def test_bad_scenario_file_stops_every_rank(tmp_path: Path) -> None:
    system, scen = _case(tmp_path)
    scen.write_bytes(b"not a netcdf file")
    run = _mpi(["plan", str(system), "--scenarios", str(scen), "--method", "ph", "-o",
                str(tmp_path / "ph.nc")], 2, timeout=120)
    assert run.returncode != 0
    assert "s.nc" in run.stderr
    assert not (tmp_path / "ph.nc").exists()
