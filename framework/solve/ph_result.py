"""The result of a PH run: the dispatch of every scenario at the incumbent capacities.

After the wheel stops, the ranks of the PH hub hold every scenario (alone or in bundles)
with a warm solver. Each of them holds its subproblems at the incumbent first stage
``xhat``, switches the PH terms off, re-optimises the dispatch and assembles its scenarios
with :func:`framework.results.mode_result`; rank 0 of the hub joins the parts and computes
the KPIs and diagnostics over all scenarios. The dataset has the schema of the extensive
form's result. Where energy can move between microgrids (``pooled``, ``+p2p``) the
dispatch is the optimum each scenario's re-optimisation returns; the least-exchange second
solve of the extensive form (:func:`framework.solve.ef.least_exchange`) is not made here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import pyomo.environ as pyo
import xarray as xr

from framework._mpisppy import sputils
from framework.diagnostics import add_diagnostics
from framework.kpi import add_kpis
from framework.model.stochastic import scenario_number
from framework.results import INPUT_VARS, mode_result
from framework.solve.ph_guard import pin_xhat
from framework.system import System


def _members(name: str, subproblem: pyo.Block) -> list[tuple[int, pyo.Block]]:
    """Scenario positions and models of one subproblem (a scenario or a bundle)."""
    names = getattr(subproblem, "_ef_scenario_names", None)
    if subproblem.find_component("dispatch") is not None:
        return [(scenario_number(names[0] if names else name), subproblem)]
    return [(scenario_number(n), subproblem.component(n)) for n in names]


def evaluate_on_hub(opt: Any, system: System, scenarios: xr.Dataset, mode: str,
                    xhat: Sequence[float]) -> xr.Dataset | None:
    """Re-optimise the dispatch at ``xhat`` on the hub's subproblems (all hub ranks call).

    Returns
    -------
    xr.Dataset or None
        On hub rank 0: the result of this mode (``mode_result`` over every scenario, KPIs
        over all of them, ``annual_cost`` the expected annual cost of ``xhat``, and
        ``results_s``); None on the other hub ranks, and on every hub rank if a scenario's
        dispatch was not solved to optimality.
    """
    start = time.perf_counter()
    for s in opt.local_scenarios.values():
        pin_xhat(list(s._mpisppy_data.nonant_indices.values()), list(xhat), s._solver_plugin)
    opt.solve_loop(dis_W=True, dis_prox=True, need_solution=False)
    failed = sum(1 for s in opt.local_scenarios.values()
                 if not (s._mpisppy_data.solution_available
                         and math.isfinite(s._mpisppy_data.outer_bound)))
    if opt.mpicomm.allreduce(failed) > 0:
        return None
    parts = []
    for name, s in opt.local_scenarios.items():
        if sputils.is_persistent(s._solver_plugin):
            s._solver_plugin.load_vars(list(s.component_data_objects(pyo.Var)))
        members = _members(name, s)
        positions = [k for k, _ in members]
        parts.append((positions[0], mode_result(
            system, scenarios.isel(scenario=positions), mode, members[0][1],
            [m.dispatch for _, m in members])))
    gathered = opt.mpicomm.gather(parts, root=0)
    if opt.cylinder_rank != 0:
        return None
    ordered = [ds for _, ds in sorted((p for rank in gathered for p in rank),
                                      key=lambda p: p[0])]
    ds = join_parts(ordered, system, mode)
    return ds.assign(results_s=("mode", [time.perf_counter() - start]))


def join_parts(parts: Sequence[xr.Dataset], system: System, mode: str) -> xr.Dataset:
    """Join per-rank results (disjoint scenarios, same capacities) into one result and
    recompute the KPIs and the diagnostics (exchange, cycles, warnings) over all scenarios."""
    ds = xr.concat(parts, dim="scenario", data_vars="minimal", coords="minimal",
                   compat="override", join="outer")
    solo = add_diagnostics(add_kpis(ds.isel(mode=0, drop=True), system), system, mode)
    solved = [name for name in solo.data_vars if name not in INPUT_VARS]
    return xr.merge([solo[solved].expand_dims(mode=[mode]), solo[list(INPUT_VARS)]],
                    combine_attrs="override")
