"""The extensive form: every scenario in one HiGHS solve."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import xarray as xr

from framework.model import (
    build_extensive_model,
    check_scenarios_match,
    fix_capacity,
    scenario_data,
)
from framework.results import combine_modes, mode_result, provenance
from framework.solve.highs import highs_version, solve_highs
from framework.system import System

log = logging.getLogger(__name__)


def solve_ef(system: System, scenarios: xr.Dataset, mode: str, *,
             microgrids: Sequence[str] | None = None,
             fixed_capacity: Mapping[str, Mapping[str, float]] | None = None,
             time_limit_s: float | None = None, mip_rel_gap: float | None = None
             ) -> xr.Dataset:
    """Solve the two-stage stochastic model of one mode as its extensive form.

    Parameters
    ----------
    system : System
    scenarios : xr.Dataset
        A scenario set (see ``docs/scenarios.md``).
    mode : {"individual", "shared"}
    microgrids : sequence of str, optional
        A coalition; default all microgrids.
    fixed_capacity : mapping, optional
        ``{"cap_energy_kwh": {k: E}, "cap_power_kw": {k: P}}``: evaluate this plan
        instead of optimising it.
    time_limit_s, mip_rel_gap : float, optional
        HiGHS limits (the gap matters for modular sizing only).

    Returns
    -------
    xr.Dataset
        The result of this mode (dimension ``mode`` of length 1), see
        :mod:`framework.results`.
    """
    check_scenarios_match(system, scenarios)
    data = [scenario_data(scenarios, k) for k in range(scenarios.sizes["scenario"])]
    start = time.perf_counter()
    model = build_extensive_model(system, data, mode, microgrids=microgrids)
    if fixed_capacity is not None:
        fix_capacity(model, system, fixed_capacity)
    build_s = time.perf_counter() - start
    log.info("%s: extensive form of %d scenarios built in %.2f s", mode, len(data), build_s)
    info = solve_highs(model, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    log.info("%s: HiGHS %s in %.2f s, objective %.6g", mode, info.termination, info.wall_s,
             info.objective)
    blocks = [model.scenario[k] for k in range(len(data))]
    start = time.perf_counter()
    ds = mode_result(system, scenarios, mode, model, blocks)
    ds = ds.assign(
        objective=("mode", [info.objective]), bound=("mode", [info.bound]),
        termination=("mode", [info.termination]), build_s=("mode", [build_s]),
        compile_s=("mode", [info.compile_s]), solve_s=("mode", [info.wall_s]),
        results_s=("mode", [time.perf_counter() - start]))
    ds.attrs = provenance(system, scenarios,
                          "evaluation" if fixed_capacity is not None else "ef",
                          solver=highs_version())
    return ds


def plan_ef(system: System, scenarios: xr.Dataset,
            modes: Sequence[str] = ("individual", "shared"), **kwargs) -> xr.Dataset:
    """Solve :func:`solve_ef` for each mode and put the results side by side.

    With both modes, ``attrs["saving_of_sharing_per_yr"]`` is the annual cost of individual
    storage minus that of the shared station.
    """
    return combine_modes([solve_ef(system, scenarios, mode, **kwargs) for mode in modes])
