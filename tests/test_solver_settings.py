"""Solver settings for every method, Ctrl-C during a solve, and writes that fail or are killed
(issue 14, items 9, 10 and 12)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import highspy
import numpy as np
import pytest
import scipy.sparse as sp
import xarray as xr

from framework.cli import main
from framework.errors import InputError, WriteError
from framework.io import atomic_path, remove_stale_temporaries, write_netcdf
from framework.solve import lp, settings


def slow_lp() -> highspy.Highs:
    """A random LP that takes HiGHS thousands of simplex iterations."""
    rng = np.random.default_rng(0)
    n, m = 3000, 2000
    a = sp.random(m, n, density=0.01, random_state=1, format="csc")
    h = lp.new_highs()
    lp.pass_model(h, -rng.random(n), np.zeros(n), np.full(n, np.inf), a, np.full(m, -np.inf),
                  np.ones(m))
    return h


def interrupt_at_first_callback(h: highspy.Highs) -> list[int]:
    """Send SIGINT to this process from HiGHS's first interrupt check (a user pressing
    Ctrl-C once the solve runs); returns the list that counts the checks."""
    calls: list[int] = []

    def press(event: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    h.cbSimplexInterrupt.subscribe(press)
    return calls


# -- item 10: Ctrl-C during a HiGHS solve --------------------------------------------------

def test_ctrl_c_stops_a_highs_solve_at_once() -> None:
    h = slow_lp()
    interrupt_at_first_callback(h)
    with pytest.raises(KeyboardInterrupt):
        settings.run_highs(h)
    # HiGHS stopped where the interrupt found it, not at the optimum
    assert h.getModelStatus() == highspy.HighsModelStatus.kInterrupt
    assert h.getInfo().simplex_iteration_count < 2000
    # the same instance solves to the end afterwards (no interrupt flag left behind)
    assert settings.run_highs(h) == highspy.HighsModelStatus.kOptimal


def test_ctrl_c_during_plan_exits_130_and_writes_nothing(
        inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    system, scen = inputs
    configure = settings.configure

    def pressing(h: highspy.Highs, *args: object, **kwargs: object) -> highspy.Highs:
        interrupt_at_first_callback(h)
        return configure(h, *args, **kwargs)

    monkeypatch.setattr(settings, "configure", pressing)
    out = tmp_path / "r.nc"
    assert main(["-q", "plan", str(system), "-s", str(scen), "-o", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "sesplan: interrupted; the result in progress was not written"
    assert not out.exists()
    assert not list(tmp_path.glob(".r.nc.*"))


# -- item 12: solver settings ---------------------------------------------------------------

def test_settings_reach_every_highs_instance(tmp_path: Path) -> None:
    with settings.solver_settings(threads=1, mip_rel_gap=0.02,
                                  highs_options={"presolve": "off",
                                                 "primal_feasibility_tolerance": 1e-8}):
        for h in (lp.new_highs(), settings.configure(highspy.Highs())):
            assert settings.option_value(h, "threads") == 1
            assert settings.option_value(h, "mip_rel_gap") == pytest.approx(0.02)
            assert settings.option_value(h, "presolve") == "off"
            assert settings.option_value(h, "primal_feasibility_tolerance") == pytest.approx(1e-8)
        assert settings.describe() == {"threads": 1, "mip_rel_gap": 0.02, "highs_options": {
            "presolve": "off", "primal_feasibility_tolerance": 1e-8}}
    assert settings.option_value(highspy.Highs(), "presolve") == "choose"
    assert settings.describe() == {}


def test_total_time_limit_caps_each_solve() -> None:
    with settings.solver_settings(total_time_limit_s=50.0):
        assert 49.0 < settings.time_limit(None) <= 50.0
        assert settings.time_limit(7.0) == 7.0
        assert 49.0 < settings.time_limit(400.0) <= 50.0
        h = settings.configure(highspy.Highs(), 400.0)
        assert 49.0 < settings.option_value(h, "time_limit") <= 50.0
    assert settings.time_limit(7.0) == 7.0
    assert settings.time_limit(None) is None


@pytest.mark.parametrize(("options", "message"), [
    ({"presolv": "off"}, "presolv='off': HiGHS has no option of this name"),
    ({"presolve": 3}, "presolve=3: HiGHS has no option of this name, or it does not take"),
    ({"time_limit": 5}, "time_limit: set by sesplan itself"),
])
def test_a_bad_highs_option_is_one_line(options: dict, message: str) -> None:
    with pytest.raises(InputError, match=message), settings.solver_settings(
            highs_options=options):
        pass


def test_parse_highs_option() -> None:
    assert settings.parse_option("presolve=off") == ("presolve", "off")
    assert settings.parse_option("threads=2") == ("threads", 2)
    assert settings.parse_option("mip_rel_gap = 1e-3") == ("mip_rel_gap", 1e-3)
    assert settings.parse_option("mip_detect_symmetry=false") == ("mip_detect_symmetry", False)
    with pytest.raises(InputError, match="expected KEY=VALUE"):
        settings.parse_option("presolve")


def test_cli_solver_log_options_and_provenance(inputs: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    system, scen = inputs
    log_file, out = tmp_path / "highs.log", tmp_path / "r.nc"
    log_file.write_text("kept\n")
    assert main(["-q", "plan", str(system), "-s", str(scen), "-o", str(out), "--storage",
                 "both", "--threads", "1", "--highs-option", "presolve=off",
                 "--solver-log", str(log_file)]) == 0
    text = log_file.read_text()
    assert text.startswith("kept\n")  # appended, never overwritten
    # one log per architecture, each solved without presolve
    assert text.count("Model status") == 2
    assert text.count("Solving LP without presolve") == 2
    with xr.open_dataset(out) as ds:
        assert json.loads(ds.attrs["solver_settings"]) == {
            "threads": 1, "highs_options": {"presolve": "off"}}


def test_cli_total_time_limit_is_one_limit_for_the_command(
        inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    system, scen = inputs
    out = tmp_path / "r.nc"
    assert main(["-q", "plan", str(system), "-s", str(scen), "-o", str(out),
                 "--total-time-limit", "1e-9"]) == 3
    err = capsys.readouterr().err
    assert "Time limit reached' (time limit 0.001 s)" in err
    assert not out.exists()


def test_cli_bad_highs_option_is_refused_before_solving(
        inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    system, scen = inputs
    out = tmp_path / "r.nc"
    assert main(["-q", "plan", str(system), "-s", str(scen), "-o", str(out),
                 "--highs-option", "no_such_option=1"]) == 2
    assert "highs option no_such_option=1" in capsys.readouterr().err
    assert not out.exists()


# -- item 9: writes that fail or are killed ---------------------------------------------------

def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "r.nc"
    target.write_text("the previous result")
    with pytest.raises(WriteError, match=r"r\.nc: could not be written \(No space left on "
                       r"device\); a file there before is unchanged"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert target.read_text() == "the previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]


def test_cli_write_failure_after_the_solve_is_one_line(
        inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    system, scen = inputs
    out = tmp_path / "r.nc"

    def full_disk(self: xr.Dataset, path: object, **kwargs: object) -> None:
        Path(str(path)).write_text("partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full_disk)
    assert main(["-q", "plan", str(system), "-s", str(scen), "-o", str(out)]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [(f"sesplan: error: {out}: could not be written (No space left on device); "
                    "a file there before is unchanged")]
    assert not out.exists()
    assert not list(tmp_path.glob(".r.nc.*"))


def test_an_output_folder_where_nothing_can_be_made_is_refused_before_solving(
        inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """A folder on a read-only file system (as /proc, or a mounted image): the probe file
    cannot be made, so the command stops before solving and writes nothing."""
    from framework.cli import common

    make = common.tempfile.mkstemp

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        if str(kwargs.get("prefix", "")).startswith(".sesplan-probe."):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return make(*args, **kwargs)

    monkeypatch.setattr(common.tempfile, "mkstemp", read_only)
    system, scen = inputs
    out = tmp_path / "ro" / "r.nc"
    out.parent.mkdir()
    assert main(["-q", "plan", str(system), "-s", str(scen), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"sesplan: error: -o {out}: no file can be written in {out.parent} "
        "(Read-only file system)")
    assert list(out.parent.iterdir()) == []


def test_a_killed_write_leaves_a_temporary_that_the_next_write_removes(tmp_path: Path) -> None:
    target = tmp_path / "r.nc"
    code = textwrap.dedent(f"""
        import os, signal
        from framework.io import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_text("half a result")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], check=False, cwd=Path(__file__).parents[1])
    assert proc.returncode == -signal.SIGKILL
    left = list(tmp_path.glob(".r.nc.*.tmp"))
    assert len(left) == 1 and not target.exists()
    # a write in progress (this process) is left alone; the killed one's is removed
    host = left[0].name.split(".")[3]  # .r.nc.<host>.<pid>-<random>.tmp
    alive = tmp_path / f".r.nc.{host}.{os.getpid()}-inprogress.tmp"
    alive.write_text("another write in progress")
    other_host = tmp_path / ".r.nc.elsewhere.1-abc.tmp"
    other_host.write_text("a write on another node")
    assert remove_stale_temporaries(target) == left
    write_netcdf(xr.Dataset({"x": ("i", [1.0])}), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, other_host.name, "r.nc"])


def test_total_time_limit_bounds_a_ccg_run(inputs: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    system, scen = inputs
    args = ["-q", "plan", str(system), "-s", str(scen), "--method", "ccg", "--gamma", "2"]
    assert main([*args, "-o", str(tmp_path / "r.nc"), "--total-time-limit", "1e-9"]) == 3
    assert "C&CG ended 'time_limit' without a first stage" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "r.nc"), "--total-time-limit", "60"]) == 0
