"""``plan --chronological`` and ``evaluate --chronological`` on a history of consecutive days
(issue 16, chronological operation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.chronological import solve_chronological
from framework.cli import main
from framework.system import load_system
from scenarios_gen.pipeline import scenarios_for


def write_history(tmp_path: Path, days: int = 3) -> Path:
    """One microgrid, hourly CSV over consecutive days: PV all day on day 0, none after; a
    flat load; a dear evening."""
    hours = np.arange(24 * days)
    pv = np.where(hours < 24, np.clip(np.sin((hours % 24 - 6) / 12 * np.pi), 0, 1), 0.0)
    lines = ["time,load,pv"] + [
        f"2021-03-{1 + h // 24:02d} {h % 24:02d}:00,{5.0:.1f},{p:.4f}" for h, p in zip(hours, pv)]
    (tmp_path / "h.csv").write_text("\n".join(lines) + "\n")
    system = tmp_path / "system.toml"
    system.write_text(
        '[history]\nsource = "csv"\npath = "h.csv"\n'
        '[[microgrid]]\nname = "a"\npv_kw = 20.0\ncolumns = { load_kw = "load", pv_pu = "pv" }\n'
        "[tariff]\nprice_buy_per_kwh = 0.3\nprice_sell_per_kwh = 0.0\n"
        "[storage]\ncapex_energy_per_kwh = 1.0\ncapex_power_per_kw = 1.0\n"
        "[planning]\nstorage = \"individual\"\ndays_per_year = 3.0\n")
    return system


def test_plan_and_evaluate_in_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    system = write_history(tmp_path)
    days, plan, ev = tmp_path / "d.nc", tmp_path / "p.nc", tmp_path / "e.nc"
    assert main(["-q", "scenarios", "--system", str(system), "--all-days", "-o", str(days)]) == 0
    assert main(["-q", "plan", str(system), "-s", str(days), "--chronological", "-o", str(plan),
                 "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)["modes"]["individual"]["annual_cost"]
    assert main(["-q", "evaluate", str(system), "--plan", str(plan), "-s", str(days),
                 "--chronological", "-o", str(ev), "--json"]) == 0
    chrono = json.loads(capsys.readouterr().out)["chronology"]["individual"]
    # the linked plan operated on its own days in order costs what it planned; as cyclic days
    # the day-0 PV cannot reach days 1 and 2, so the same capacities cost more
    assert chrono["chronological_annual_cost"] == pytest.approx(planned, rel=1e-6)
    assert chrono["planning_gap"] == pytest.approx(0.0, abs=1e-6 * planned)
    assert chrono["chronology_gap"] < -1.0
    # clustered days cannot be run in order: one line, nothing written
    clustered = tmp_path / "k.nc"
    assert main(["-q", "scenarios", "--system", str(system), "-k", "2", "-o",
                 str(clustered)]) == 0
    assert main(["-q", "plan", str(system), "-s", str(clustered), "--chronological", "-o",
                 str(tmp_path / "x.nc")]) == 2
    assert "scenarios" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()
    assert main(["-q", "plan", str(system), "-s", str(days), "--chronological", "--method",
                 "ccg", "--gamma", "1", "-o", str(tmp_path / "x.nc")]) == 2
    assert "--chronological: applies to --method ef" in capsys.readouterr().err


def test_a_study_reports_the_chronology_gap(tmp_path: Path) -> None:
    system = write_history(tmp_path)
    study = tmp_path / "study.toml"
    study.write_text('[study]\nname = "chrono"\n[defaults]\nsystem = "system.toml"\n'
                     'scenarios = { clusters = 2 }\n'
                     '[[case]]\nname = "base"\nevaluate = { chronological = true }\n')
    assert main(["-q", "study", str(study), "-o", str(tmp_path / "out")]) == 0
    rows = pd.read_csv(tmp_path / "out" / "summary.csv")
    row = rows[rows["mode"] == "individual"].iloc[0]
    assert row["planning_gap"] == pytest.approx(row["chronological_annual_cost"]
                                                - row["annual_cost"], rel=1e-9)
    # the plan of 2 clustered days operated on the 3 days in order never beats the plan
    # made on those days in order
    days = scenarios_for(load_system(system), all_days=True)
    linked = float(solve_chronological(load_system(system), days, "individual")[
        "annual_cost"].item())
    assert row["chronological_annual_cost"] >= linked - 1e-6 * linked
    assert "every day in order" in (tmp_path / "out" / "summary.md").read_text()


def test_plan_with_linked_days(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Every day its own cluster: linked representative days are the days in order."""
    system = write_history(tmp_path)
    days = tmp_path / "d.nc"
    assert main(["-q", "scenarios", "--system", str(system), "--all-days", "-o", str(days)]) == 0
    costs = {}
    for option in ("--linked-days", "--chronological"):
        assert main(["-q", "plan", str(system), "-s", str(days), option, "-o",
                     str(tmp_path / f"{option}.nc"), "--json"]) == 0
        costs[option] = json.loads(capsys.readouterr().out)["modes"]["individual"][
            "annual_cost"]
    assert costs["--linked-days"] == pytest.approx(costs["--chronological"], rel=1e-6)
    assert main(["-q", "plan", str(system), "-s", str(days), "--linked-days",
                 "--chronological", "-o", str(tmp_path / "x.nc")]) == 2
    assert "choose one" in capsys.readouterr().err


def test_the_chronology_figure(tmp_path: Path) -> None:
    """``sesplan figures`` draws a chronological evaluation: one bar group per
    architecture whose heights are the three costs of the file."""
    from framework.plotting import available, plot_chronology
    from framework.results import read_result

    system = write_history(tmp_path)
    days, plan, ev = tmp_path / "d.nc", tmp_path / "p.nc", tmp_path / "e.nc"
    assert main(["-q", "scenarios", "--system", str(system), "-k", "2", "-o", str(days)]) == 0
    assert main(["-q", "plan", str(system), "-s", str(days), "-o", str(plan)]) == 0
    assert main(["-q", "scenarios", "--system", str(system), "--all-days", "-o",
                 str(days)]) == 0
    assert main(["-q", "evaluate", str(system), "--plan", str(plan), "-s", str(days),
                 "--chronological", "-o", str(ev)]) == 0
    ds = read_result(ev)
    assert "chronology" in available(ds)
    ax = plot_chronology(ds).axes[0]
    heights = [p.get_height() for p in ax.patches]
    expected = [float(ds[name].sel(mode="individual")) for name in (
        "planned_annual_cost", "cyclic_annual_cost", "chronological_annual_cost")]
    assert heights == pytest.approx(expected, rel=1e-9)
    assert main(["-q", "figures", str(ev), "-o", str(tmp_path / "f"), "--only",
                 "chronology"]) == 0
    assert (tmp_path / "f" / "chronology-e.png").is_file()
