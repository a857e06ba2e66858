"""The extensive form: every scenario in one HiGHS solve."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pyomo.environ as pyo
import xarray as xr

from framework.architecture import architecture
from framework.errors import SolveError
from framework.model import (
    build_extensive_model,
    check_scenarios_match,
    first_stage_vars,
    fix_capacity,
    metered_vars,
    scenario_data,
)
from framework.model.data import day_sequence
from framework.model.linked import day_start_soc
from framework.results import combine_modes, mode_result, provenance
from framework.solve.highs import SecondObjective, highs_version, solve_highs
from framework.system import System, why_unbounded

log = logging.getLogger(__name__)

#: The cost is held within this relative distance of its optimum while the metered flow is
#: minimised (the solver's tolerance).
COST_HOLD_REL = 1e-9


def least_exchange(model: pyo.ConcreteModel, mode: str) -> SecondObjective | None:
    """The second objective that reports the least exchange any optimum needs, or ``None``
    where no energy moves between microgrids.

    The optimum does not fix the exchanged energy (circular flows are free at fee 0, and the
    station/p2p split of ``pooled+p2p`` is arbitrary). With the first stage fixed at its
    optimum and ``annual_cost <= objective + COST_HOLD_REL * max(1, |objective|)``, HiGHS
    continues from the first optimum to minimise ``sum_s sum_{i,t} metered flow``
    (:func:`framework.model.metered_vars`).
    """
    arch = architecture(mode)
    if not arch.moves_energy:
        return None
    return SecondObjective(
        minimise=[v for k in model.scenario for v in metered_vars(model.scenario[k], arch)],
        fix=[v for var in first_stage_vars(model) for v in var.values()],
        hold_rel=COST_HOLD_REL)


def solve_ef(system: System, scenarios: xr.Dataset, mode: str, *,
             microgrids: Sequence[str] | None = None,
             fixed_capacity: Mapping[str, Mapping[str, float]] | None = None,
             time_limit_s: float | None = None, mip_rel_gap: float | None = None,
             linked: bool = False, chronological: bool = False) -> xr.Dataset:
    """Solve the two-stage stochastic model of one mode as its extensive form.

    Parameters
    ----------
    system : System
    scenarios : xr.Dataset
        A scenario set (see ``docs/scenarios.md``).
    mode : str
        The sharing architecture (:data:`framework.architecture.ARCHITECTURES`). Where
        energy can move between microgrids (``pooled``, ``+p2p``), the dispatch reported is
        the optimum with the least metered flow (:func:`least_exchange`).
    microgrids : sequence of str, optional
        A coalition; default all microgrids.
    fixed_capacity : mapping, optional
        ``{"cap_energy_kwh": {k: E}, "cap_power_kw": {k: P}}``: evaluate this plan
        instead of optimising it.
    time_limit_s, mip_rel_gap : float, optional
        HiGHS limits (the gap matters for modular sizing only).
    linked : bool
        Link the representative days through the year's sequence of clusters (the scenario
        file's ``membership``, :func:`framework.model.data.day_sequence`), so storage carries
        energy between days (:mod:`framework.model.linked`) instead of every day being
        cyclic.
    chronological : bool
        The scenarios are consecutive historical days, each carried to the next
        (:func:`framework.chronological.solve_chronological`, which checks them).

    Returns
    -------
    xr.Dataset
        The result of this mode (dimension ``mode`` of length 1), see
        :mod:`framework.results`. With ``linked``, attribute ``linked_days = 1`` and
        ``linked_soc_kwh(mode, day, storage)``, the state of charge at the start of every
        historical day.
    """
    check_scenarios_match(system, scenarios)
    sequence = day_sequence(scenarios) if linked else None
    data = [scenario_data(scenarios, k) for k in range(scenarios.sizes["scenario"])]
    start = time.perf_counter()
    model = build_extensive_model(system, data, mode, microgrids=microgrids, linked=sequence,
                                  chronological=chronological)
    if fixed_capacity is not None:
        fix_capacity(model, system, fixed_capacity)
    build_s = time.perf_counter() - start
    log.info("%s: extensive form of %d scenarios built in %.2f s", mode, len(data), build_s)
    second = least_exchange(model, mode)
    try:
        info = solve_highs(model, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                           second=second)
    except SolveError as err:
        if err.status is not None and "nbounded" in err.status:
            raise SolveError(f"{err}: {why_unbounded(system)}", err.status) from None
        raise
    log.info("%s: HiGHS %s in %.2f s, objective %.6g", mode, info.termination, info.wall_s,
             info.objective)
    if second is not None and info.second_s is None:
        log.warning("%s: the least-exchange solve ended without an optimum; the exchange "
                    "reported is that of the first optimum", mode)
    exchange_s = float("nan") if info.second_s is None else info.second_s
    blocks = [model.scenario[k] for k in range(len(data))]
    start = time.perf_counter()
    ds = mode_result(system, scenarios, mode, model, blocks)
    ds = ds.assign(
        objective=("mode", [info.objective]), bound=("mode", [info.bound]),
        termination=("mode", [info.termination]), build_s=("mode", [build_s]),
        compile_s=("mode", [info.compile_s]), solve_s=("mode", [info.wall_s]),
        least_exchange_s=("mode", [exchange_s]),
        results_s=("mode", [time.perf_counter() - start]))
    extra: dict[str, Any] = {"chronological": 1} if chronological else {}
    if linked:
        ds["linked_soc_kwh"] = (("mode", "day", "storage"),
                                day_start_soc(model, system.storage)[None])
        ds = ds.assign_coords(day=scenarios["day"].values)
        ds["linked_soc_kwh"].attrs["units"] = "kWh"
        extra["linked_days"] = 1
    method = "evaluation" if fixed_capacity is not None else "ef"
    if chronological:
        method = "chronological-evaluation" if fixed_capacity is not None else "chronological"
    ds.attrs = provenance(system, scenarios, method, solver=highs_version(), **extra)
    return ds


def plan_ef(system: System, scenarios: xr.Dataset,
            modes: Sequence[str] = ("individual", "accounts"), **kwargs) -> xr.Dataset:
    """Solve :func:`solve_ef` for each architecture and put the results side by side.

    With ``individual`` and one shared station, ``attrs["saving_of_sharing_per_yr"]`` is the
    annual cost of individual storage minus that of the station, and
    ``attrs["saving_of_sharing_from"]`` says what it is made of
    (:func:`framework.results.combine_modes`).
    """
    return combine_modes([solve_ef(system, scenarios, mode, **kwargs) for mode in modes])
