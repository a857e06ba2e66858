"""Tiny inline systems and scenario sets for the framework tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from framework.system import System, system_from_dict

LOSSLESS = {"capex_energy_per_kwh": 0.0, "capex_power_per_kw": 0.0, "om_fraction_per_yr": 0.0,
            "eta_charge": 1.0, "eta_discharge": 1.0, "soc_min_frac": 0.0, "soc_max_frac": 1.0}


def find_mpiexec() -> str:
    """The ``mpiexec`` beside this Python (the ``mpich`` wheel of the ``mpi`` extra), else the
    one on the ``PATH``. The test environment (``.[all]``) has one: a missing launcher is a
    broken install, so it fails the test rather than skipping it."""
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
        "mpiexec")
    assert found is not None, "mpiexec not found: install the 'mpi' extra (pip install -e .[all])"
    return found


def run_on_ranks(tmp_path: Path, script: str, ranks: int = 2, timeout: float = 300) -> Any:
    """Run ``script`` (Python text that writes JSON to ``sys.argv[1]`` on rank 0) under
    ``mpiexec -n ranks python -m mpi4py`` from the repository root; returns the JSON."""
    path, out = tmp_path / "mpi_script.py", tmp_path / "mpi_out.json"
    path.write_text(script)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([find_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", str(path),
                    str(out)], cwd=root, env=env, check=True, timeout=timeout,
                   capture_output=True)
    return json.loads(out.read_text())


def make_system(microgrids: list[dict[str, Any]], step_h: float = 1.0, **sections: Any) -> System:
    """A system from inline tables; ``days_per_year`` defaults to 1 for hand checks."""
    data: dict[str, Any] = {"microgrid": microgrids, "history": {"step_h": step_h}}
    data["planning"] = {"days_per_year": 1.0, **sections.pop("planning", {})}
    data.update(sections)
    return system_from_dict(data)


def make_scenarios(load_kw: Any, pv_pu: Any = None, wind_pu: Any = None,
                   probability: Any = None, microgrids: list[str] | None = None,
                   step_h: float = 1.0) -> xr.Dataset:
    """A scenario set from arrays shaped (scenario, step, microgrid)."""
    load = np.asarray(load_kw, dtype=float)
    k, t, n = load.shape
    pv = np.zeros_like(load) if pv_pu is None else np.asarray(pv_pu, dtype=float)
    wind = np.zeros_like(load) if wind_pu is None else np.asarray(wind_pu, dtype=float)
    prob = np.full(k, 1.0 / k) if probability is None else np.asarray(probability, dtype=float)
    names = microgrids or [f"mg{j}" for j in range(n)]
    dims = ("scenario", "step", "microgrid")
    return xr.Dataset(
        {"probability": ("scenario", prob), "load_kw": (dims, load), "pv_pu": (dims, pv),
         "wind_pu": (dims, wind)},
        coords={"scenario": np.arange(k), "step": np.arange(t), "microgrid": names},
        attrs={"step_h": step_h, "method": "given", "seed": 0, "source": "test"},
    )


@pytest.fixture
def lossless() -> dict[str, float]:
    return dict(LOSSLESS)
