"""Fixtures shared by the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.cli import main
from tests.test_cli import write_days_system


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A one-microgrid system file of two days and its scenario file (two scenarios)."""
    system = write_days_system(tmp_path)
    scen = tmp_path / "s.nc"
    assert main(["-q", "scenarios", "--system", str(system), "-o", str(scen)]) == 0
    return system, scen
