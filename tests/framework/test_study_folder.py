"""A study's output folder: the runner removes only what it wrote, and one run at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from framework.errors import InputError
from framework.study import run_study
from tests.framework.test_study import LIGHT, write_study


def test_a_users_files_and_another_studys_cases_survive(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = write_study(tmp_path / "study")
    run_study(path, out)
    notes = [out / "cases" / "notes.txt", out / "figures" / "my_figure.png", out / "mine.nc"]
    for note in notes:
        note.write_text("a user's file")
    other = write_study(tmp_path / "other", LIGHT.replace('name = "tiny"', 'name = "other"')
                        .replace("[1.0, 4.0]", "[2.0]"))
    second = run_study(other, out)
    first_cases = {p.name for p in (out / "cases").iterdir()}
    run_study(path, out)                                        # back to the first study
    assert {p.name for p in (out / "cases").iterdir()} == first_cases
    assert all(note.read_text() == "a user's file" for note in notes)
    assert all(o.file.exists() for o in second.outcomes)        # the other study's cases
    # a changed case still replaces the file the study itself wrote
    path.write_text(LIGHT.replace("[1.0, 4.0]", "[1.0, 3.0]"))
    old = run_study(path, out)
    assert all(o.file.exists() for o in old.outcomes)
    assert len(list((out / "cases").iterdir())) == len(first_cases)  # one out, one in


def test_a_second_run_in_the_same_folder_is_refused_while_the_first_lives(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = write_study(tmp_path / "study")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".sesplan.lock").write_text(str(sleeper.pid))
        with pytest.raises(InputError, match=rf"another sesplan study is running there "
                                             rf"\(process {sleeper.pid}\)"):
            run_study(path, out)
    finally:
        sleeper.kill()
        sleeper.wait()
    # the lock of a process that has ended is taken over, and released at the end
    run_study(path, out)
    assert not (out / ".sesplan.lock").exists()
    assert os.path.exists(out / ".sesplan-tiny.json")
