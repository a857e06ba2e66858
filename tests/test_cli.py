"""The ``sesplan`` command end to end: outputs, JSON summaries and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from framework.architecture import LADDER
from framework.cli import main
from framework.lease import lease_game_summary
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
    assert main(["-q", "plan", str(system), "--scenarios", str(scen), "--storage", "both",
                 "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # one microgrid and the default station of accounts (capex multiplier 1, no exchange
    # fee): the station is the microgrid's own battery, so both architectures cost the same
    ind, sh = result["modes"]["individual"], result["modes"]["accounts"]
    assert ind["annual_cost"] == pytest.approx(sh["annual_cost"], rel=1e-9)
    assert result["saving_of_sharing_per_yr"] == pytest.approx(0.0, abs=1e-6)
    with xr.open_dataset(out) as ds:
        assert ds.attrs["method"] == "ef"
        assert json.loads(ds.attrs["config"])["microgrid"][0]["name"] == "a"
        assert float(ds["annual_cost"].sel(mode="accounts")) == pytest.approx(sh["annual_cost"])


def test_evaluate_own_plan_reproduces_cost(tmp_path: Path, capsys: pytest.CaptureFixture
                                           ) -> None:
    system = write_days_system(tmp_path)
    scen, plan, ev = tmp_path / "s.nc", tmp_path / "p.nc", tmp_path / "e.nc"
    main(["-q", "scenarios", "--system", str(system), "-o", str(scen)])
    main(["-q", "plan", str(system), "-s", str(scen), "--storage", "shared", "-o", str(plan)])
    capsys.readouterr()
    assert main(["-q", "evaluate", str(system), "--plan", str(plan), "-s", str(scen),
                 "-o", str(ev), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    with xr.open_dataset(plan) as p:
        assert evaluated["modes"]["accounts"]["annual_cost"] == pytest.approx(
            float(p["annual_cost"].sel(mode="accounts")), rel=1e-9)
    # the evaluation carries its out-of-sample statistics, so the figure can be drawn
    with xr.open_dataset(ev) as e:
        assert float(e["oos_annual_cost"].sel(mode="accounts")) == pytest.approx(
            evaluated["modes"]["accounts"]["annual_cost"], rel=1e-9)
    assert main(["-q", "figures", str(ev), "-o", str(tmp_path / "f"), "--only",
                 "out_of_sample"]) == 0
    assert (tmp_path / "f" / "out_of_sample-e.png").is_file()


def write_exchange_system(tmp_path: Path) -> Path:
    """Two microgrids over a day of two 12-h steps, one day a year: ``a`` needs 10 kW in the
    dear step (price 0.5, 0.1 in the cheap one) when ``b`` has 6 kW of PV and no load;
    lossless storage at 0.1/kWh + 0.05/kW a year, nothing paid for export."""
    (tmp_path / "days.csv").write_text("step,a,b,pv_b\n0,0,0,0\n1,10,0,1\n")
    system = tmp_path / "system.toml"
    system.write_text(
        '[history]\nsource = "days"\npath = "days.csv"\nstep_h = 12.0\n'
        '[[microgrid]]\nname = "a"\ncolumns = { load_kw = "a" }\n'
        '[[microgrid]]\nname = "b"\npv_kw = 6.0\ncolumns = { load_kw = "b", pv_pu = "pv_b" }\n'
        "[tariff]\nprice_buy_per_kwh = [0.1, 0.5]\nprice_sell_per_kwh = 0.0\n"
        "[storage]\ncapex_energy_per_kwh = 0.1\ncapex_power_per_kw = 0.05\n"
        "lifetime_yr = 1.0\ndiscount_rate = 0.0\nom_fraction_per_yr = 0.0\n"
        "eta_charge = 1.0\neta_discharge = 1.0\nsoc_min_frac = 0.0\nsoc_max_frac = 1.0\n"
        "[planning]\ndays_per_year = 1.0\n")
    return system


# The ladder of write_exchange_system by hand: no storage, a buys 120 kWh at 0.5 = 60; each
# kW that a battery moves to the dear step costs 12 kWh * 0.1 + 0.05 + 12 kWh * 0.1 = 2.45
# instead of 6, so individual = accounts = 10 * 2.45 = 24.5; b's 6 kW of PV to a saves
# 72 kWh * 0.5 = 36 (p2p: 24) and leaves 4 kW to store: 4 * 2.45 = 9.8 for individual+p2p,
# accounts+p2p and pooled. S = 24.5 - 9.8 = 14.7, all energy exchange in both orders.
EXCHANGE_LADDER = {"none": 60.0, "p2p": 24.0, "individual": 24.5, "individual+p2p": 9.8,
                   "accounts": 24.5, "accounts+p2p": 9.8, "pooled": 9.8}


def test_plan_compare_json_text_and_figure(tmp_path: Path, capsys: pytest.CaptureFixture
                                           ) -> None:
    system = write_exchange_system(tmp_path)
    scen, out = tmp_path / "s.nc", tmp_path / "ladder.nc"
    assert main(["-q", "scenarios", "--system", str(system), "-o", str(scen)]) == 0
    capsys.readouterr()
    assert main(["-q", "plan", str(system), "-s", str(scen), "--compare", "-o", str(out),
                 "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert list(s["rungs"]) == list(EXCHANGE_LADDER)
    for mode, cost in EXCHANGE_LADDER.items():
        assert s["rungs"][mode]["annual_cost"] == pytest.approx(cost, abs=1e-6), mode
        assert set(s["rungs"][mode]) >= {"total_energy_kwh", "total_power_kw",
                                         "equivalent_full_cycles_per_yr",
                                         "exchange_station_kwh_per_yr",
                                         "exchange_p2p_kwh_per_yr", "warnings"}
    assert s["saving_per_yr"] == pytest.approx(14.7, abs=1e-6)
    assert s["saving_from_exchange_per_yr"] == pytest.approx(14.7, abs=1e-6)
    assert s["saving_from_storage_sharing_per_yr"] == pytest.approx(0.0, abs=1e-6)
    for order in ("split_storage_first", "split_exchange_first"):
        assert s[order] == {"saving_from_exchange_per_yr": pytest.approx(14.7, abs=1e-6),
                            "saving_from_storage_sharing_per_yr": pytest.approx(0.0, abs=1e-6)}
    # a's battery: 10 kW, 120 kWh, one cycle a day; pooled passes b's 72 kWh to a at the bus
    assert s["rungs"]["individual"]["cap_energy_kwh"] == {"a": pytest.approx(120.0)}
    assert s["rungs"]["individual"]["equivalent_full_cycles_per_yr"] == {
        "a": pytest.approx(1.0)}
    assert s["rungs"]["pooled"]["exchange_station_kwh_per_yr"] == pytest.approx(72.0)
    assert s["rungs"]["p2p"]["exchange_p2p_kwh_per_yr"] == pytest.approx(72.0)
    with xr.open_dataset(out) as ds:
        assert list(ds["mode"].values) == list(EXCHANGE_LADDER)
        assert ds.attrs["ladder_saving_per_yr"] == pytest.approx(14.7, abs=1e-6)
    for suffix in ("png", "pdf"):
        assert (tmp_path / f"ladder_ladder.{suffix}").stat().st_size > 10_000
    assert main(["-q", "plan", str(system), "-s", str(scen), "--compare", "-o",
                 str(tmp_path / "again.nc")]) == 0
    text = capsys.readouterr().out
    assert "| pooled | 9.80 | 14.70 |" in text
    assert ("Of the 14.70/yr that the pooled station saves against individual batteries, "
            "0.00 (0%) is storage sharing and 14.70 (100%) energy exchange") in text


@pytest.mark.parametrize("extra, message", [
    (["--method", "ph"], "--compare: the ladder is solved by the extensive form only, not "
                         "--method ph"),
    (["--method", "ccg", "--gamma", "1"], "not --method ccg"),
    (["--station", "pooled"], "--compare: solves every architecture of the ladder; drop "
                              "--station")])
def test_plan_compare_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                         extra: list[str], message: str) -> None:
    out = tmp_path / "r.nc"
    assert main(["plan", "-s", str(tmp_path / "missing.nc"), "--compare", *extra,
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sesplan: error: ") and message in err
    assert not out.exists()


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
        assert list(ds["mode"].values) == ["individual", "accounts"]
        # a station of accounts shares storage only: on the default system it saves a
        # little (1.9 %); the exchange that the old shared station counted is not in it
        assert ds.attrs["saving_of_sharing_per_yr"] > 0
        assert ds.attrs["saving_of_sharing_from"] == "storage sharing"
        assert float(ds["shed_kwh_per_yr"].max()) == pytest.approx(0.0, abs=1e-6)
        saving = ds.attrs["saving_of_sharing_per_yr"]
        individual = float(ds["annual_cost"].sel(mode="individual"))
        shared = float(ds["annual_cost"].sel(mode="accounts"))
    with xr.open_dataset(tmp_path / "allocation.nc") as a:
        # the grand coalition's cost is the shared plan's, the singletons' sum the individual
        assert float(a["standalone_cost"].sum()) == pytest.approx(individual, rel=1e-6)
        shapley = a["saving"].sel(rule="shapley")
        assert float(shapley.sum()) == pytest.approx(saving, rel=1e-6)
        assert float(a["allocation"].sel(rule="nucleolus").sum()) == pytest.approx(shared,
                                                                                   rel=1e-6)
        assert bool(a["in_core"].sel(rule="nucleolus"))
    with xr.open_dataset(tmp_path / "lease.nc") as lease:
        game = lease_game_summary(lease.load())
    # the leasing game: the operator does not lose, no microgrid leases at a loss, the
    # station serves every lease, and the cooperative optimum is the shared plan's cost
    assert game["operator_profit_per_yr"] >= -1e-6
    assert min(m["saving_per_yr"] for m in game["microgrids"].values()) >= -1e-6
    assert game["overbooking_ratio"] is None or game["overbooking_ratio"] >= 1 - 1e-9
    assert game["cooperative_cost_per_yr"] == pytest.approx(shared, rel=1e-6)
    with xr.open_dataset(tmp_path / "robust.nc") as r, \
            xr.open_dataset(tmp_path / "scenarios.nc") as s:
        # Gamma = 24: every hour at its worst, so the robust plan is the extensive form on
        # the days at their quantiles, and it costs more than the stochastic one on the
        # representative days
        assert str(r["termination"].item()) == "optimal"
        high = s["load_kw_quantile"].sel(quantile=0.9).transpose(*s["load_kw"].dims)
        np.testing.assert_allclose(r["worst_load_kw"].sel(mode="accounts").values,
                                   np.maximum(s["load_kw"], high).values, rtol=1e-9)
        worst = s.copy()
        for q in ("load_kw", "pv_pu", "wind_pu"):
            worst[q] = r[f"worst_{q}"].sel(mode="accounts").transpose(*s[q].dims)
        ef = solve_ef(default_system(), worst, "accounts")
        assert float(r["objective"].item()) == pytest.approx(float(ef["objective"].item()),
                                                             rel=1e-6)
        assert float(r["nominal_annual_cost"].item()) >= shared - 1e-6
    assert "Price of robustness" in out
    with xr.open_dataset(tmp_path / "ladder.nc") as ladder:
        assert list(ladder["mode"].values) == list(LADDER)
        cost = {str(m): float(ladder["annual_cost"].sel(mode=m)) for m in LADDER}
        # the ladder reuses the plan of step 2
        assert cost["individual"] == individual and cost["accounts"] == shared
        # containment under the default system's exchange fee (no station limits): p2p
        # never costs more, and pooled never more than accounts + p2p, which meters stored
        # energy four times where pooled meters it twice (docs/formulation.md)
        for more, less in (("none", "individual"), ("none", "p2p"),
                           ("individual", "individual+p2p"), ("accounts", "accounts+p2p"),
                           ("accounts+p2p", "pooled")):
            assert cost[more] >= cost[less] * (1 - 1e-8), (more, less)
        total = cost["individual"] - cost["pooled"]
        assert ladder.attrs["ladder_saving_per_yr"] == pytest.approx(total, rel=1e-9)
        assert ladder.attrs["ladder_saving_from_exchange_per_yr"] + ladder.attrs[
            "ladder_saving_from_storage_sharing_per_yr"] == pytest.approx(total, rel=1e-9)
    assert "that the pooled station saves against individual batteries" in out
    for name in ("representative_days", "soc", "capacity_cost", "allocation",
                 "bound_convergence", "ladder"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (tmp_path / "figures" / f"{name}.pdf").exists()
    with xr.open_dataset(tmp_path / "scenarios.nc") as s:
        assert s.sizes["scenario"] == 8
        assert float(s["probability"].sum()) == pytest.approx(1.0, abs=1e-12)
