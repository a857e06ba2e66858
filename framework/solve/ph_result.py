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
from framework.results import INPUT_VARS, UNITS, add_billing_peaks, mode_result
from framework.solve.ph_guard import needed_xhat, pin_xhat, subproblem_members
from framework.system import System

RESOLVES = 1
"""Solves repeated at the incumbent when a subproblem was not solved: a warm-started HiGHS
solve can end 'optimal' with a primal infeasibility just above the tolerance, which gives
no solution; solving again from its final basis removes it (seen with the billing peaks
and cell discharges held at the incumbent, ``tests/framework/test_ph_year_coupling.py``)."""


def _solve_held(opt: Any, xhat: Sequence[float]) -> bool:
    """Hold every subproblem's first stage at ``xhat`` and optimise the dispatch (weights
    and proximal terms off), solving again up to :data:`RESOLVES` times where one failed;
    whether every subproblem (on every rank of the cylinder) was solved to optimality."""
    for s in opt.local_scenarios.values():
        pin_xhat(list(s._mpisppy_data.nonant_indices.values()), list(xhat), s._solver_plugin)
    for _ in range(RESOLVES + 1):
        opt.solve_loop(dis_W=True, dis_prox=True, need_solution=False)
        failed = sum(1 for s in opt.local_scenarios.values()
                     if not (s._mpisppy_data.solution_available
                             and math.isfinite(s._mpisppy_data.outer_bound)))
        if opt.mpicomm.allreduce(failed) == 0:
            return True
    return False


def evaluate_on_hub(opt: Any, system: System, scenarios: xr.Dataset, mode: str,
                    xhat: Sequence[float]) -> xr.Dataset | None:
    """Re-optimise the dispatch at ``xhat`` on the hub's subproblems (all hub ranks call).

    With a cycle life or demand charges the plan is then held at what its dispatch needs of
    the billing peaks and each scenario's cell discharge (:func:`~framework.solve.
    ph_guard.needed_xhat`; never more costly) and optimised again: the result is that plan.

    Returns
    -------
    xr.Dataset or None
        On hub rank 0: the result of this mode (``mode_result`` over every scenario, KPIs
        over all of them, ``annual_cost`` the expected annual cost of ``xhat``, and
        ``results_s``); None on the other hub ranks, and on every hub rank if a scenario's
        dispatch was not solved to optimality.
    """
    start = time.perf_counter()
    if not _solve_held(opt, xhat):
        return None
    needed = needed_xhat(opt, xhat)
    if needed is not None and not _solve_held(opt, needed):
        return None
    parts = []
    for name, s in opt.local_scenarios.items():
        if sputils.is_persistent(s._solver_plugin):
            s._solver_plugin.load_vars(list(s.component_data_objects(pyo.Var)))
        members = subproblem_members(name, s)
        positions = [k for k, _ in members]
        parts.append((positions[0], mode_result(
            system, scenarios.isel(scenario=positions), mode, members[0][1],
            [m.dispatch for _, m in members])))
    gathered = opt.mpicomm.gather(parts, root=0)
    if opt.cylinder_rank != 0:
        return None
    ordered = [ds for _, ds in sorted((p for rank in gathered for p in rank),
                                      key=lambda p: p[0])]
    ds = join_parts(ordered, system, mode, scenarios)
    return ds.assign(results_s=("mode", [time.perf_counter() - start]))


def join_parts(parts: Sequence[xr.Dataset], system: System, mode: str,
               scenarios: xr.Dataset) -> xr.Dataset:
    """Join per-rank results (disjoint scenarios, same first stage) into one result and
    recompute over all scenarios (``scenarios``, the whole set) what spans them: the billing
    peaks of demand charges (:func:`framework.results.add_billing_peaks`), the KPIs and the
    diagnostics (exchange, cycles, the cells' implied life, warnings). The first-stage
    costs (``capex_annual``, ``demand_charge_annual``) are those of the held first stage,
    the same in every part."""
    per_part = [name for name in parts[0].data_vars if "billing_period" in parts[0][name].dims]
    ds = xr.concat([p.drop_vars(per_part).drop_dims("billing_period", errors="ignore")
                    for p in parts], dim="scenario", data_vars="minimal", coords="minimal",
                   compat="override", join="outer")
    solo = ds.isel(mode=0, drop=True)
    if system.has_demand_charges:
        solo = add_billing_peaks(solo, system, scenarios)
        for name in per_part:
            solo[name].attrs["units"] = UNITS[name]
    solo = add_diagnostics(add_kpis(solo, system), system, mode)
    solved = [name for name in solo.data_vars if name not in INPUT_VARS]
    return xr.merge([solo[solved].expand_dims(mode=[mode]), solo[list(INPUT_VARS)]],
                    combine_attrs="override")
