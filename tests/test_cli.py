"""The ``sesplan`` command end to end: outputs, JSON summaries and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from framework.cli import main
from framework.solve.ef import solve_ef
from framework.system import default_system

DAYS_CSV = "scenario,step,load_kw\n" + "".join(
    f"{s},{t},{10 + 5 * (t >= 12) + s}\n" for s in (0, 1) for t in range(24))


def write_days_system(tmp_path: Path, csv_text: str = DAYS_CSV) -> Path:
    (tmp_path / "days.csv").write_text(csv_text)
    system = tmp_path / "system.toml"
    system.write_text(
        '[history]\nsource = "days"\npath = "days.csv"\n'
        '[[microgrid]]\nname = "a"\ncolumns = { load_kw = "load_kw" }\n'
        '[tariff]\nprice_buy_per_kwh = [' + ", ".join(["0.1"] * 12 + ["0.5"] * 12) + "]\n"
        "[storage]\ncapex_energy_per_kwh = 1.0\ncapex_power_per_kw = 1.0\n")
    return system


def test_scenarios_then_plan_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    system = write_days_system(tmp_path)
    scen = tmp_path / "s.nc"
    assert main(["-q", "scenarios", "--system", str(system), "-o", str(scen), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_scenarios"] == 2
    assert summary["probability"] == [0.5, 0.5]
    out = tmp_path / "r.nc"
    assert main(["-q", "plan", str(system), "--scenarios", str(scen), "--mode", "both",
                 "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # one microgrid and the default station (capex multiplier 1, no exchange fee): the
    # station is the microgrid's own battery, so both modes cost the same
    ind, sh = result["modes"]["individual"], result["modes"]["shared"]
    assert ind["annual_cost"] == pytest.approx(sh["annual_cost"], rel=1e-9)
    assert result["saving_of_sharing_per_yr"] == pytest.approx(0.0, abs=1e-6)
    with xr.open_dataset(out) as ds:
        assert ds.attrs["method"] == "ef"
        assert json.loads(ds.attrs["config"])["microgrid"][0]["name"] == "a"
        assert float(ds["annual_cost"].sel(mode="shared")) == pytest.approx(sh["annual_cost"])


def test_evaluate_own_plan_reproduces_cost(tmp_path: Path, capsys: pytest.CaptureFixture
                                           ) -> None:
    system = write_days_system(tmp_path)
    scen, plan, ev = tmp_path / "s.nc", tmp_path / "p.nc", tmp_path / "e.nc"
    main(["-q", "scenarios", "--system", str(system), "-o", str(scen)])
    main(["-q", "plan", str(system), "-s", str(scen), "--mode", "shared", "-o", str(plan)])
    capsys.readouterr()
    assert main(["-q", "evaluate", str(system), "--plan", str(plan), "-s", str(scen),
                 "-o", str(ev), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    with xr.open_dataset(plan) as p:
        assert evaluated["modes"]["shared"]["annual_cost"] == pytest.approx(
            float(p["annual_cost"].sel(mode="shared")), rel=1e-9)


def test_bad_system_is_one_line_and_writes_nothing(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    system = tmp_path / "bad.toml"
    system.write_text('[[microgrid]]\nname = "a"\n[storage]\neta_charge = 1.5\n')
    out = tmp_path / "s.nc"
    assert main(["scenarios", "--system", str(system), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "bad.toml" in err and "storage.eta_charge" in err and "(0, 1]" in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [system]


def test_bad_days_file_names_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    system = write_days_system(tmp_path, DAYS_CSV.replace("0,5,10", "0,5,ten"))
    assert main(["scenarios", "--system", str(system), "-o", str(tmp_path / "s.nc")]) == 2
    err = capsys.readouterr().err
    assert "days.csv" in err and "load_kw" in err and "ten" in err
    assert not (tmp_path / "s.nc").exists()


def test_console_script_help() -> None:
    out = subprocess.run([sys.executable, "-m", "framework.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for command in ("scenarios", "plan", "evaluate", "demo"):
        assert command in out


def test_demo_runs_default_system(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["-q", "demo", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Saving of sharing" in out
    with xr.open_dataset(tmp_path / "plan.nc") as ds:
        assert list(ds["mode"].values) == ["individual", "shared"]
        # on the default system the station saves about a fifth of the annual cost
        assert ds.attrs["saving_of_sharing_per_yr"] > 0
        assert float(ds["shed_kwh_per_yr"].max()) == pytest.approx(0.0, abs=1e-6)
        saving = ds.attrs["saving_of_sharing_per_yr"]
        individual = float(ds["annual_cost"].sel(mode="individual"))
        shared = float(ds["annual_cost"].sel(mode="shared"))
    with xr.open_dataset(tmp_path / "allocation.nc") as a:
        # the grand coalition's cost is the shared plan's, the singletons' sum the individual
        assert float(a["standalone_cost"].sum()) == pytest.approx(individual, rel=1e-6)
        shapley = a["saving"].sel(rule="shapley")
        assert float(shapley.sum()) == pytest.approx(saving, rel=1e-6)
        assert float(a["allocation"].sel(rule="nucleolus").sum()) == pytest.approx(shared,
                                                                                   rel=1e-6)
        assert bool(a["in_core"].sel(rule="nucleolus"))
    with xr.open_dataset(tmp_path / "lease.nc") as lease:
        e, p = lease.attrs["chosen_energy_price"], lease.attrs["chosen_power_price"]
        at = lease.sel(energy_price=e, power_price=p)
        assert float(at["saving"].min()) >= -1e-6
        assert float(at["profit"]) >= -1e-6
    with xr.open_dataset(tmp_path / "robust.nc") as r, \
            xr.open_dataset(tmp_path / "scenarios.nc") as s:
        # Gamma = 24: every hour at its worst, so the robust plan is the extensive form on
        # the days at their quantiles, and it costs more than the stochastic one on the
        # representative days
        assert str(r["termination"].item()) == "optimal"
        high = s["load_kw_quantile"].sel(quantile=0.9).transpose(*s["load_kw"].dims)
        np.testing.assert_allclose(r["worst_load_kw"].sel(mode="shared").values,
                                   np.maximum(s["load_kw"], high).values, rtol=1e-9)
        worst = s.copy()
        for q in ("load_kw", "pv_pu", "wind_pu"):
            worst[q] = r[f"worst_{q}"].sel(mode="shared").transpose(*s[q].dims)
        ef = solve_ef(default_system(), worst, "shared")
        assert float(r["objective"].item()) == pytest.approx(float(ef["objective"].item()),
                                                             rel=1e-6)
        assert float(r["nominal_annual_cost"].item()) >= shared - 1e-6
    assert "Price of robustness" in out
    for name in ("representative_days", "soc", "capacity_cost", "allocation",
                 "bound_convergence"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (tmp_path / "figures" / f"{name}.pdf").exists()
    with xr.open_dataset(tmp_path / "scenarios.nc") as s:
        assert s.sizes["scenario"] == 8
        assert float(s["probability"].sum()) == pytest.approx(1.0, abs=1e-12)
