"""The separation by Lagrangian cuts against enumeration: every cut bounds every coalition's
value from below, each is exact at the coalition whose duals made it, and the coalition LPs
are the coalition values."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from framework.game import coalition_values
from framework.game.cuts import CutSeparator
from framework.game.generation import core_check_generation, nucleolus_generation
from framework.game.separation import no_storage_costs
from tests.framework.test_game_generation import CASES, community

f = frozenset


def with_cycle_life(system: Any) -> Any:
    """The station's cells wear by a cycle life that binds (the ``ageing`` coupling rows)."""
    return replace(system, storage=replace(system.storage, cycle_life=0.5,
                                           cycle_life_dod=1.0))


def with_curtailment_cost(system: Any) -> Any:
    """Curtailed PV costs something: each microgrid's objective has a constant (what its PV
    could give), so the cuts need each microgrid's constant."""
    return replace(system, tariff=replace(system.tariff, curtailment_cost_per_kwh=0.03))


@pytest.mark.parametrize("arch", [*CASES, "accounts, cycle life", "accounts, curtailment cost"])
def test_every_cut_bounds_every_coalition(arch: str, tmp_path: Path) -> None:
    names, planning = CASES[arch.split(",")[0]]
    system, scenarios = community(names, **planning)
    if "cycle life" in arch:
        system = with_cycle_life(system)
    if "curtailment" in arch:
        system = with_curtailment_cost(system)
    game = coalition_values(system, scenarios, cache_dir=tmp_path).cost()
    tol = 1e-7 * max(abs(v) for v in game.values())
    alone, _ = no_storage_costs(system, scenarios, cache_dir=tmp_path)
    separator = CutSeparator(system, scenarios, alone)
    players = separator.players
    n = len(players)
    coalitions = [f(c) for k in range(2, n + 1) for c in combinations(players, k)]
    for c in coalitions:  # the LP of each coalition is its value; each adds its cut
        assert separator.solve(c) == pytest.approx(game[c], abs=tol)
    cuts = np.array(separator.cuts)
    assert len(cuts) == len(coalitions) + 1  # and the grand coalition's at the start
    bounds = {c: cuts[:, n] + cuts[:, :n] @ np.array([float(p in c) for p in players])
              for c in coalitions}
    for k, c in enumerate(coalitions):
        assert bounds[c].max() <= game[c] + tol  # weak duality: every cut, every coalition
        assert bounds[c][k + 1] == pytest.approx(game[c], abs=tol)  # its own cut is exact
    # the cuts are not all exact everywhere: the master has something to learn
    assert any(bounds[c][0] < game[c] - 1e-3 for c in coalitions)


def twins(names: str = "abcde") -> tuple[Any, xr.Dataset]:
    """The community of ``names`` and an identical copy of each microgrid (upper case)."""
    system, scenarios = community(names)
    copies = tuple(replace(mg, name=mg.name.upper()) for mg in system.microgrids)
    twin = scenarios.assign_coords(microgrid=[p.upper() for p in names])
    return (replace(system, microgrids=system.microgrids + copies),
            xr.concat([scenarios, twin], dim="microgrid", data_vars="minimal"))


def test_identical_microgrids_get_equal_nucleolus_shares(tmp_path: Path) -> None:
    # the nucleolus is unique, so microgrids identical in data and parameters get equal
    # shares: 10 microgrids (above the enumeration switch) by generation, with no
    # enumeration to compare with
    system, scenarios = twins()
    nu = nucleolus_generation(system, scenarios, cache_dir=tmp_path)
    assert nu.certified
    tol = 1e-6 * max(abs(v) for v in nu.allocation.values()) * len(nu.allocation)
    for p in "abcde":
        assert nu.allocation[p] == pytest.approx(nu.allocation[p.upper()], abs=tol)
    assert len({round(nu.allocation[p], 3) for p in "abcde"}) == 5  # they differ otherwise
    assert len(nu.coalitions) < 2 ** 10 // 10  # under a tenth of the 1,022
    check = core_check_generation(system, scenarios, nu.allocation, cache_dir=tmp_path)
    assert check.certified and check.in_core is True
