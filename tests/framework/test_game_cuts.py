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

from framework.game import coalition_values
from framework.game.cuts import CutSeparator
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
