"""The command line keeps its promises: ``--json`` is one JSON document whatever a solver
prints, no input file is ever replaced, and options are not silently ignored."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from framework.cli import main
from tests.test_cli import write_days_system


def test_json_is_the_only_thing_on_stdout_when_the_solver_prints(inputs: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    """A solver that writes to file descriptor 1 from C (as HiGHS 1.16 does with its banner)
    cannot break the JSON: everything but the document goes to stderr."""
    system, scen = inputs
    script = textwrap.dedent(f"""
        import os, sys
        import highspy
        run = highspy.Highs.run
        def noisy(self):
            os.write(1, b"Running HiGHS (banner on fd 1)\\n")
            print("a Python print on stdout")
            return run(self)
        highspy.Highs.run = noisy
        from framework.cli import main
        sys.exit(main(["-q", "plan", {str(system)!r}, "-s", {str(scen)!r},
                       "-o", {str(tmp_path / "r.nc")!r}, "--json"]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert set(summary["modes"]) == {"individual", "accounts"}
    assert "banner on fd 1" in done.stderr and "a Python print" in done.stderr


@pytest.mark.parametrize("command", [
    ["plan", "{system}", "-s", "{scen}", "-o", "{scen}"],
    ["plan", "{system}", "-s", "{scen}", "-o", "{system}"],
    ["evaluate", "{system}", "--plan", "{scen}", "-s", "{scen}", "-o", "{scen}"],
    ["allocate", "{system}", "-s", "{scen}", "-o", "{scen}"],
    ["scenarios", "--system", "{system}", "-o", "{days}"],
])
def test_an_output_onto_an_input_is_refused_and_the_input_kept(
        inputs: tuple[Path, Path], capsys: pytest.CaptureFixture, command: list[str]) -> None:
    system, scen = inputs
    paths = {"system": system, "scen": scen, "days": system.parent / "days.csv"}
    before = {p: p.read_bytes() for p in paths.values()}
    assert main([part.format(**paths) for part in command]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "it would be replaced" in err
    assert {p: p.read_bytes() for p in paths.values()} == before


def test_an_output_that_cannot_be_written_is_refused_before_solving(
        inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    system, scen = inputs
    assert main(["plan", str(system), "-s", str(scen), "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["plan", str(system), "-s", str(scen), "-o", str(scen / "r.nc")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--gamma", "2"], "--gamma: applies to --method ccg, not --method ef"),
    (["--rho", "1"], "--rho: applies to --method ph, not --method ef"),
    (["--method", "ccg", "--gamma", "0", "--spokes", "none"],
     "--spokes: applies to --method ph, not --method ccg"),
    (["--method", "ph", "--quantile", "0.8"], "--quantile: applies to --method ccg"),
])
def test_an_option_of_another_method_is_an_error(inputs: tuple[Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture,
                                                 extra: list[str], message: str) -> None:
    system, scen = inputs
    out = tmp_path / "r.nc"
    assert main(["plan", str(system), "-s", str(scen), "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "soon"])
def test_a_time_limit_must_be_a_positive_number(inputs: tuple[Path, Path], value: str,
                                                capsys: pytest.CaptureFixture) -> None:
    system, scen = inputs
    with pytest.raises(SystemExit) as stop:
        main(["plan", str(system), "-s", str(scen), "--time-limit", value])
    assert stop.value.code == 2
    assert f"--time-limit: expected a number > 0, got '{value}'" in capsys.readouterr().err


def test_a_scenario_file_knows_its_system(inputs: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    """Planned without a system file, the scenarios are planned with the system they were
    made for (not the shipped default of four microgrids)."""
    system, scen = inputs
    out = tmp_path / "r.nc"
    assert main(["-q", "plan", "-s", str(scen), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    with_file = tmp_path / "r2.nc"
    assert main(["-q", "plan", str(system), "-s", str(scen), "-o", str(with_file),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == summary
    import xarray as xr
    with xr.open_dataset(out) as ds:
        assert [mg["name"] for mg in json.loads(ds.attrs["config"])["microgrid"]] == ["a"]


def test_a_system_with_other_profiles_is_refused_naming_the_difference(
        inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    system, scen = inputs
    other = tmp_path / "other.toml"
    other.write_text(system.read_text().replace('name = "a"\n', 'name = "a"\npv_kw = 5.0\n'))
    out = tmp_path / "r.nc"
    assert main(["plan", str(other), "-s", str(scen), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "microgrid 'a'.pv_kw: 0.0 -> 5.0" in err
    assert not out.exists()
    # prices and storage costs do not shape the profiles: a sensitivity run is accepted
    cheaper = tmp_path / "cheaper.toml"
    cheaper.write_text(system.read_text().replace("capex_energy_per_kwh = 1.0",
                                                  "capex_energy_per_kwh = 0.5"))
    assert main(["-q", "plan", str(cheaper), "-s", str(scen), "-o", str(out)]) == 0


def test_a_result_that_is_not_certified_says_so_everywhere(
        inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A C&CG run that stopped without an upper bound (objective inf, a finite cost from the
    last master): the table marks it, the JSON says why, the saving is not certified, and
    the exit status is 4 with the result written."""
    import numpy as np

    import framework.solve.ef as ef

    system, scen = inputs
    solved = ef.plan_ef

    def stopped(*args, **kwargs):
        ds = solved(*args, **kwargs)
        return ds.assign(termination=("mode", ["optimal", "time_limit"]),
                         objective=("mode", [float(ds["objective"][0]), np.inf]),
                         gap=("mode", [0.0, np.inf]))

    monkeypatch.setattr(ef, "plan_ef", stopped)
    out = tmp_path / "r.nc"
    assert main(["-q", "plan", str(system), "-s", str(scen), "-o", str(out), "--json"]) == 4
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["certified"] is False
    assert summary["modes"]["individual"]["certified"] is True
    assert summary["modes"]["accounts"]["not_certified_because"] == (
        "ended with 'time_limit', no finite cost (no feasible plan was proven)")
    assert summary["saving_of_sharing_certified"] is False
    assert "NOT CERTIFIED: accounts: ended with 'time_limit'" in captured.err
    assert out.exists()
    assert main(["-q", "plan", str(system), "-s", str(scen), "-o", str(out)]) == 4
    table = capsys.readouterr().out
    assert "| accounts (NOT CERTIFIED) |" in table
    assert "NOT CERTIFIED: a cost it compares is not proven" in table


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is a directory; expected a system TOML file"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary"),
     "not a text file (expected a system TOML file in UTF-8)"),
    (lambda p: p.write_text("[[microgrid]\nname = 'a'\n"), "not valid TOML"),
])
def test_a_system_file_that_is_not_toml_is_one_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture,
                                                     make: Any, message: str) -> None:
    bad = tmp_path / "bad.toml"
    make(bad)
    assert main(["scenarios", "--system", str(bad), "-o", str(tmp_path / "s.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and message in err
    assert not (tmp_path / "s.nc").exists()


def test_a_study_file_that_is_a_directory_is_one_line(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    assert main(["study", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a directory; expected a study TOML file" in err


def test_version_names_the_commit() -> None:
    out = subprocess.run([sys.executable, "-m", "framework.cli", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("sesplan ") and "(git " in out


def test_verbose_is_sesplans_details_and_the_solver_log_not_pyomos(
        inputs: tuple[Path, Path], tmp_path: Path) -> None:
    """``-v`` (accepted after the command too) shows sesplan's debug lines and HiGHS's log,
    and no Pyomo debug line; ``-q`` after the command is accepted as well."""
    system, scen = inputs
    run = [sys.executable, "-m", "framework.cli", "plan", str(system), "-s", str(scen),
           "-o", str(tmp_path / "r.nc")]
    loud = subprocess.run([*run, "-v"], capture_output=True, text=True, check=True)
    text = loud.stdout + loud.stderr
    assert "DEBUG framework" in text or "INFO framework" in text
    assert "HiGHS" in text and "DEBUG pyomo" not in text
    quiet = subprocess.run([*run, "-q"], capture_output=True, text=True, check=True)
    assert quiet.stderr == ""


def test_under_mpiexec_the_extensive_form_runs_on_rank_0_only(inputs: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    from tests.framework.conftest import find_mpiexec

    system, scen = inputs
    out = tmp_path / "r.nc"
    done = subprocess.run([find_mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", "-m",
                           "framework.cli", "plan", str(system), "-s", str(scen), "-o",
                           str(out), "--json"], capture_output=True, text=True, timeout=300,
                          check=False, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["modes"]) == {"individual", "accounts"}  # printed once
    assert "runs in one process: rank 0 of 2 does it" in done.stderr
    assert out.exists()


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty; expected a header line and rows"),
    ("step,load_kw,caf\u00e9\n0,1,2\n".encode("latin-1"),
     "not UTF-8 text (byte 16: invalid continuation byte); save it as UTF-8"),
])
def test_an_empty_or_latin1_csv_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                            content: bytes, message: str) -> None:
    system = write_days_system(tmp_path)
    (tmp_path / "days.csv").write_bytes(content)
    assert main(["scenarios", "--system", str(system), "-o", str(tmp_path / "s.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "days.csv" in err and message in err


def test_columns_must_be_a_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    system = write_days_system(tmp_path)
    system.write_text(system.read_text().replace('columns = { load_kw = "load_kw" }',
                                                 'columns = "load_kw"'))
    assert main(["scenarios", "--system", str(system), "-o", str(tmp_path / "s.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "microgrid[0].columns: expected a table" in err


def test_a_csv_as_the_plan_is_one_line(inputs: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    system, scen = inputs
    days = system.parent / "days.csv"
    assert main(["evaluate", str(system), "--plan", str(days), "-s", str(scen),
                 "-o", str(tmp_path / "e.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a NetCDF result file" in err


def test_help_loads_no_solver_code() -> None:
    """``sesplan --help`` imports neither HiGHS, Pyomo nor xarray (it took 2-7 s when it did)."""
    code = ("import sys; from framework.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('highspy', 'pyomo', 'xarray', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_an_unbounded_plan_names_its_cause(inputs: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    """A negative buy price with no import limit pays for every kWh bought, which lossy
    storage burns: HiGHS's 'Unbounded' comes with that cause."""
    system, scen = inputs
    text = system.read_text().replace("[tariff]\n", "[tariff]\nprice_sell_per_kwh = -0.2\n")
    text = text.replace('price_buy_per_kwh = [' + ", ".join(["0.1"] * 12 + ["0.5"] * 12) + "]",
                        "price_buy_per_kwh = -0.1\nvoll_per_kwh = 10")
    negative = tmp_path / "negative.toml"
    negative.write_text(text)
    out = tmp_path / "r.nc"
    assert main(["-q", "plan", str(negative), "-s", str(scen), "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert ("HiGHS ended with 'Unbounded' on 'extensive form (individual)': tariff."
            "price_buy_per_kwh is negative at step(s) [0], where ['a'] import without limit"
            ) in err
    assert not out.exists()
