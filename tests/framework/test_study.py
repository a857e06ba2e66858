"""The study runner: case expansion and hashing, caching, failures, kill and restart.

Every study here is two microgrids on two given days (a ``days`` source), so a case solves
in a fraction of a second.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from framework.cli import main
from framework.errors import InputError
from framework.solve.ef import plan_ef
from framework.study import load_study, planner_for, run_study, runner
from framework.study.tasks import PLANNERS, check_case
from scenarios_gen.sources import load_days

DAYS = "scenario,step,load_a,load_b,pv\n" + "".join(
    f"{s},{t},{10 + 6 * (17 <= t <= 20) + 2 * s},{5 + 8 * (t < 6)},"
    f"{max(0.0, 1 - abs(t - 12) / 6) * (0.5 + 0.4 * s):.4f}\n"
    for s in (0, 1) for t in range(24))
SYSTEM = """name = "tiny"
[history]
source = "days"
path = "days.csv"
[[microgrid]]
name = "a"
pv_kw = 20.0
export_limit_kw = 0.0
columns = { load_kw = "load_a", pv_pu = "pv" }
[[microgrid]]
name = "b"
columns = { load_kw = "load_b" }
[tariff]
price_buy_per_kwh = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2,
                     0.2, 0.2, 0.2, 0.2, 0.2, 0.5, 0.5, 0.5, 0.5, 0.2, 0.2, 0.1]
price_sell_per_kwh = 0.0
[storage]
capex_energy_per_kwh = 2.0
capex_power_per_kw = 1.0
lifetime_yr = 10.0
[shared]
capex_multiplier = 0.9
"""
STUDY = """[study]
name = "tiny"
title = "A tiny study"
description = "Two microgrids, two days."

[defaults]
system = "system.toml"

[[case]]
name = "base"
mode = "both"
evaluate = { out_of_sample = "all_days", vss_evpi = true }

[[case]]
name = "price"
mode = "accounts"
[case.sweep]
"set.storage.capex_energy_per_kwh" = [1.0, 4.0]

[outputs]
figures = ["capacity_cost"]
figure_cases = ["base"]
"""
LIGHT = STUDY.replace('evaluate = { out_of_sample = "all_days", vss_evpi = true }\n', "")


def write_study(folder: Path, study: str = LIGHT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "days.csv").write_text(DAYS)
    (folder / "system.toml").write_text(SYSTEM)
    (folder / "study.toml").write_text(study)
    return folder / "study.toml"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_sweep_expansion_and_names(tmp_path: Path) -> None:
    study = load_study(write_study(tmp_path, STUDY))
    assert [c.name for c in study.cases] == [
        "base", "price[capex_energy_per_kwh=1]", "price[capex_energy_per_kwh=4]"]
    assert study.cases[1].overrides == {"storage.capex_energy_per_kwh": 1.0}
    assert study.cases[0].modes() == ["individual", "accounts"]
    assert study.cases[1].modes() == ["accounts"]
    assert study.cases[1].load_system().storage.capex_energy_per_kwh == 1.0
    assert study.cases[0].evaluate.vss_evpi is True


def test_mode_names_architectures_or_the_system_choices(tmp_path: Path) -> None:
    """``mode``: a name, a list of names, ``both`` (the system's individual and shared
    architecture) or nothing (the system's [planning] choices)."""
    study = load_study(write_study(tmp_path, '[defaults]\nsystem = "system.toml"\n'
                                   '[[case]]\nname = "default"\n'
                                   '[[case]]\nname = "ladder"\nmode = ["none", "pooled+p2p"]\n'
                                   '[[case]]\nname = "both"\nmode = "both"\n'
                                   'set = { "planning.station" = "pooled", '
                                   '"planning.exchange" = "p2p" }\n'
                                   '[[case]]\nname = "system"\n'
                                   'set = { "planning.storage" = "shared" }\n'))
    assert [c.modes() for c in study.cases] == [
        ["individual", "accounts"], ["none", "pooled+p2p"], ["individual+p2p", "pooled+p2p"],
        ["accounts"]]
    # the key holds the architectures solved: a list naming the system's choices is the
    # same case as leaving them to the system
    assert [c.key()["architectures"] for c in study.cases] == [c.modes() for c in study.cases]
    same = load_study(write_study(tmp_path / "same", '[defaults]\nsystem = "system.toml"\n'
                                  '[[case]]\nname = "default"\n'
                                  'mode = ["individual", "accounts"]\n'))
    assert same.cases[0].digest() == study.cases[0].digest()


def test_hash_is_content_not_location(tmp_path: Path) -> None:
    """The same study in another folder has the same hashes; another data file or another
    value has another hash; a comment does not change it."""
    digests = [c.digest() for c in load_study(write_study(tmp_path / "one", STUDY)).cases]
    assert len(set(digests)) == 3
    moved = [c.digest() for c in load_study(write_study(tmp_path / "two", STUDY)).cases]
    assert moved == digests
    commented = write_study(tmp_path / "three", "# a comment\n" + STUDY)
    assert [c.digest() for c in load_study(commented).cases] == digests
    (tmp_path / "two" / "days.csv").write_text(DAYS.replace(",10,", ",11,", 1))
    changed = [c.digest() for c in load_study(tmp_path / "two" / "study.toml").cases]
    assert all(a != b for a, b in zip(changed, digests))


def test_run_then_rerun_solves_nothing_and_is_byte_identical(tmp_path: Path) -> None:
    path = write_study(tmp_path / "study", STUDY)
    out = tmp_path / "out"
    first = run_study(path, out)
    assert first.solved == [c.case.name for c in first.outcomes] and not first.failed
    files = snapshot(out)
    assert {"summary.csv", "summary.md", "figures/capacity_cost-base.pdf",
            "figures/capacity_cost-base.png"} <= set(files)
    assert len([f for f in files if f.startswith("cases/")]) == 3
    second = run_study(path, out)
    assert second.solved == [] and second.names("cached") == first.solved
    assert snapshot(out) == files

    # the numbers are those of the planning API on the same system and days
    system = first.study.cases[0].load_system()
    direct = plan_ef(system, load_days(system))
    s = first.summary
    rows = np.flatnonzero(s["case"].values == "base")
    for k in rows:
        mode = str(s["mode"].values[k])
        assert float(s["annual_cost"].values[k]) == pytest.approx(
            float(direct["annual_cost"].sel(mode=mode)), rel=1e-9)
        assert float(s["oos_annual_cost"].values[k]) == pytest.approx(
            float(s["annual_cost"].values[k]), rel=1e-7)  # evaluated on the same two days
        assert float(s["vss"].values[k]) >= -1e-6 and float(s["evpi"].values[k]) >= -1e-6
    assert float(s["saving_of_sharing_per_yr"].values[rows[0]]) == pytest.approx(
        direct.attrs["saving_of_sharing_per_yr"], rel=1e-9)
    assert s["saving_of_sharing_versus"].values[rows[0]] == "accounts"
    assert s["saving_of_sharing_from"].values[rows[0]] == "storage sharing"
    price = np.flatnonzero(s["base_case"].values == "price")
    energy = s["energy_kwh"].values[price]
    assert energy[0] >= energy[1]  # dearer storage, no larger station
    text = (out / "summary.md").read_text()
    assert "# A tiny study" in text and "VSS" in text
    assert "Saving of sharing (accounts against individual batteries)" in text
    assert "from storage sharing." in text and "| architecture |" in text


def test_fixed_capacity_zero_on_every_architecture(tmp_path: Path) -> None:
    """Nothing built: individual batteries and accounts cost what no storage costs; a pooled
    station of zero size is exchange only (its bus nets the flows), as p2p is. Microgrid a
    may not export, so at noon its PV beyond its load is curtailed unless b takes it: the
    exchange saves, per day, sum_t min(surplus_a, load_b) * price_buy (by hand from DAYS:
    401.5 per year over the two equally likely days, 2,007.5 kWh)."""
    study = LIGHT + ('\n[[case]]\nname = "zero"\n'
                     'mode = ["none", "p2p", "individual", "accounts", "pooled"]\n'
                     'fixed_capacity = { energy_kwh = 0.0, power_kw = 0.0 }\n')
    result = run_study(write_study(tmp_path / "study", study), tmp_path / "out")
    s = result.summary
    rows = np.flatnonzero(s["case"].values == "zero")
    cost = dict(zip(s["mode"].values[rows], s["annual_cost"].values[rows]))
    exchanged = dict(zip(s["mode"].values[rows], s["exchanged_kwh_per_yr"].values[rows]))
    for mode in ("individual", "accounts"):
        assert cost[mode] == pytest.approx(cost["none"], rel=1e-9)
        assert exchanged[mode] == 0.0
    price = [0.1] * 6 + [0.2] * 11 + [0.5] * 4 + [0.2, 0.2, 0.1]
    saving = kwh = 0.0
    for day in (0, 1):
        for t in range(24):
            pv = 20 * round(max(0.0, 1 - abs(t - 12) / 6) * (0.5 + 0.4 * day), 4)
            moved = min(max(0.0, pv - (10 + 6 * (17 <= t <= 20) + 2 * day)), 5 + 8 * (t < 6))
            saving += 365 * 0.5 * moved * price[t]
            kwh += 365 * 0.5 * moved
    assert saving == pytest.approx(401.5) and kwh == pytest.approx(2007.5)
    for mode in ("p2p", "pooled"):
        # the least-exchange solve holds the cost within 1e-9 of its optimum
        assert cost["none"] - cost[mode] == pytest.approx(saving, rel=1e-6)
        assert exchanged[mode] == pytest.approx(kwh, rel=1e-6)


def test_changed_case_is_redone_and_its_old_file_removed(tmp_path: Path) -> None:
    path = write_study(tmp_path / "study")
    out = tmp_path / "out"
    first = run_study(path, out)
    old = first.outcome("price", **{"set.storage.capex_energy_per_kwh": "4"}).file
    path.write_text(LIGHT.replace("[1.0, 4.0]", "[1.0, 3.0]"))
    second = run_study(path, out)
    assert second.solved == ["price[capex_energy_per_kwh=3]"]
    assert sorted(second.names("cached")) == ["base", "price[capex_energy_per_kwh=1]"]
    assert not old.exists()
    assert len(list((out / "cases").iterdir())) == 3


def test_failed_case_is_reported_and_the_others_run(tmp_path: Path) -> None:
    """Sampling 5 of the 2 days fails when the case runs; the other cases still solve, the
    summary has the error, and a rerun tries the failed case again."""
    study = LIGHT + '\n[[case]]\nname = "bad"\nscenarios = { sample_days = 5 }\n'
    path = write_study(tmp_path / "study", study)
    out = tmp_path / "out"
    result = run_study(path, out)
    assert result.failed == ["bad"]
    assert len(result.solved) == 3
    s = result.summary
    bad = np.flatnonzero(s["case"].values == "bad")[0]
    assert s["status"].values[bad] == "failed"
    assert "sample_days" in s["error"].values[bad]
    assert "## Failed cases" in (out / "summary.md").read_text()
    again = run_study(path, out)
    assert again.failed == ["bad"] and again.solved == []


def test_killed_run_restarts_without_corrupt_files(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupt the run while it solves the second case; leave behind what a kill during a
    write would leave (a temporary file) and a damaged result file. The restart removes the
    temporary, solves the damaged and the missing cases, and keeps the finished one."""
    path = write_study(tmp_path / "study")
    out = tmp_path / "out"
    real = runner.run_case
    calls = []

    def interrupted(case):
        calls.append(case.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(case)

    monkeypatch.setattr(runner, "run_case", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_study(path, out)
    monkeypatch.setattr(runner, "run_case", real)
    done = list((out / "cases").iterdir())
    assert len(done) == 1 and not list(out.rglob(".*.tmp"))
    assert not (out / "summary.csv").exists()
    (out / "cases" / ".abc.nc.x1y2.tmp").write_bytes(b"half a file")
    study = load_study(path)
    damaged = out / "cases" / f"{study.cases[2].digest()}.nc"
    damaged.write_bytes(b"CDF\x01 not really")
    result = run_study(path, out)
    assert result.names("cached") == ["base"]
    assert sorted(result.solved) == ["price[capex_energy_per_kwh=1]",
                                     "price[capex_energy_per_kwh=4]"]
    assert not list(out.rglob(".*.tmp"))
    assert (result.summary["status"].values == "ok").all()
    for case in result.outcomes:
        assert runner.read_case(case.file).attrs["case_hash"] == case.digest


def test_method_dispatch_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert planner_for("ef") is plan_ef
    with pytest.raises(InputError, match="expected one of"):
        planner_for("simplex")
    monkeypatch.setitem(PLANNERS, "future", ("framework.no_such_module", "plan_future"))
    with pytest.raises(InputError, match="'future' is not available"):
        planner_for("future")
    path = write_study(tmp_path / "s", LIGHT.replace('mode = "both"',
                                                     'mode = "both"\nmethod = "future"'))
    with pytest.raises(InputError, match=r"study.toml: case 'base': method"):
        run_study(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing is solved or written
    # a new method plugs in through the table alone
    monkeypatch.setitem(PLANNERS, "future", ("framework.solve.ef", "plan_ef"))
    result = run_study(path, tmp_path / "out")
    assert not result.failed and set(result.summary["method"].values) == {"ef", "future"}


@pytest.mark.parametrize(("text", "message"), [
    ('[[case]]\nname = "x"\nsolver = "ef"\n', "unknown key(s) ['solver']"),
    ('[[case]]\nname = "x"\nmode = "all"\n', "mode: expected an architecture among"),
    ('[[case]]\nname = "x"\nmode = "shared"\n', "'shared' is now 'accounts' or 'pooled'"),
    ('[[case]]\nname = "x"\nmode = ["accounts", "accounts"]\n', "a list of distinct ones"),
    ('[[case]]\nname = "x"\nmode = []\n', "mode: expected an architecture among"),
    ('[[case]]\nname = "x"\ntask = "allocate"\nmode = "accounts"\n',
     "mode, evaluate and fixed_capacity apply to task 'plan' only"),
    ('[[case]]\nname = "x"\nmode = "pooled"\n'
     'fixed_capacity = { energy_kwh = { shared = 1.0 }, power_kw = 1.0 }\n',
     "fixed_capacity.energy_kwh: no storage ['shared'] in architectures ['pooled']"),
    ('[[case]]\nname = "x"\nscenarios = { clusters = 0 }\n', "clusters: expected an integer"),
    ('[[case]]\nname = "x"\noptions = { time_limit = 5 }\n', "options: unknown key(s)"),
    ('[[case]]\nname = "x"\n[case.sweep]\nmode = [{ mode = "accounts" }]\n', "'label'"),
    ('[[case]]\nname = "x"\n[[case]]\nname = "x"\n', "repeated: ['x']"),
    ('[[case]]\nname = "x"\nevaluate = { out_of_sample = "held_out" }\n', "sample_days > 0"),
    ('[[case]]\nname = "x"\ntask = "lease"\noptions = { grid = 3 }\n',
     "'grid' is an option of the baseline sweep only"),
    ('[[case]]\nname = "x"\ntask = "lease"\noptions = { method = "baseline", full = true }\n',
     "'full' is not an option of the baseline sweep"),
    ('[[case]]\nname = "x"\ntask = "lease"\noptions = { method = "sweep" }\n',
     "method: expected one of ['search', 'exact', 'both', 'baseline']"),
])
def test_study_file_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write_study(tmp_path, '[defaults]\nsystem = "system.toml"\n' + text)
    with pytest.raises(InputError) as err:
        run_study(path, tmp_path / "out")
    assert message in str(err.value) and "study.toml" in str(err.value)


def test_a_lease_case_runs_the_game_or_the_baseline(tmp_path: Path) -> None:
    # the lease case is the leader-follower game by default (its equilibrium in the summary
    # row), the former partition sweep with method = "baseline"; the game's profit is its
    # income less the station's cost
    path = write_study(tmp_path / "s", '[defaults]\nsystem = "system.toml"\n'
                       '[[case]]\nname = "game"\ntask = "lease"\n'
                       '[[case]]\nname = "sweep"\ntask = "lease"\n'
                       'options = { method = "baseline", grid = 3 }\n')
    # a lease is bounded by the station's power
    (path.parent / "system.toml").write_text(SYSTEM.replace("lifetime_yr = 10.0",
                                                            "lifetime_yr = 10.0\npower_max_kw = 30.0"))
    result = run_study(path, tmp_path / "out")
    assert not result.failed
    s = result.summary
    row = {c: int(np.flatnonzero(s["case"].values == c)[0]) for c in ("game", "sweep")}
    assert s["lease_method"].values[row["game"]] == "search"
    assert s["lease_participants"].values[row["game"]] == 1  # the station serves one
    assert s["n_price_pairs"].values[row["sweep"]] == 9
    with xr.open_dataset(tmp_path / "out" / str(s["file"].values[row["game"]])) as ds:
        assert float(ds["profit"]) == pytest.approx(float(ds["income"] - ds["station_cost"]
                                                          - ds["wear"]), abs=1e-6)
        assert float(ds["profit"]) > 0
        assert s["lease_profit"].values[row["game"]] == pytest.approx(float(ds["profit"]))


def test_cli_study_and_figures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_study(tmp_path / "study")
    out = tmp_path / "out"
    assert main(["-q", "study", str(path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 cases, 3 solved" in printed and "summary.md" in printed
    case = next((out / "cases").glob("*.nc"))
    assert main(["-q", "figures", str(case), "-o", str(tmp_path / "figs"),
                 "--only", "capacity_cost"]) == 0
    written = capsys.readouterr().out.split()
    assert [Path(p).name for p in written] == [f"capacity_cost-{case.stem}.pdf",
                                               f"capacity_cost-{case.stem}.png"]
    shutil.rmtree(out / "figures")
    assert main(["-q", "figures", str(out), "--only", "capacity_cost"]) == 0
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "capacity_cost-base.pdf", "capacity_cost-base.png",
        "capacity_cost-price_capex_energy_per_kwh=1.pdf",
        "capacity_cost-price_capex_energy_per_kwh=1.png",
        "capacity_cost-price_capex_energy_per_kwh=4.pdf",
        "capacity_cost-price_capex_energy_per_kwh=4.png"]


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].glob("studies/*/study.toml")),
                         ids=lambda p: p.parent.name)
def test_shipped_studies_pass_the_checks(path: Path) -> None:
    # what run_study checks before solving: methods, options, systems, evaluations
    study = load_study(path)
    assert study.cases
    for case in study.cases:
        check_case(case)
