"""The scenario creator of mpi-sppy (progressive hedging) on the one model builder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyomo.environ as pyo
import xarray as xr

from framework._mpisppy import sputils
from framework.architecture import Architecture, architecture
from framework.errors import InputError
from framework.model.build import build_scenario_model, first_stage_vars, fix_capacity
from framework.model.data import YearContext, scenario_data
from framework.system import System


def scenario_number(name: str) -> int:
    """The position of a scenario from its mpi-sppy name (``scen<k>``)."""
    return int(name.removeprefix("scen"))


def require_storage(mode: str, method: str) -> Architecture:
    """The architecture of ``mode`` if it has storage to plan, else an :class:`InputError`:
    without storage (``none``, ``p2p``) the first stage is empty and a decomposition by the
    first stage (``method``: progressive hedging, C&CG) has nothing to decide."""
    arch = architecture(mode)
    if arch.storage == "none":
        raise InputError(f"architecture {arch.name!r} has no storage to plan: {method} "
                         "decides the storage capacities and has nothing to decide here; use "
                         "the extensive form (--method ef)")
    return arch


_YEAR: dict[str, tuple[System, xr.Dataset, YearContext]] = {}


def year_context(system: System, scenarios: xr.Dataset) -> YearContext:
    """The :class:`~framework.model.data.YearContext` of a scenario set (every scenario's
    probability, steps and billing periods), made once per pair of system and set: the
    last pair is kept, as the scenario creator asks for it once per scenario."""
    cached = _YEAR.get("last")
    if cached is not None and cached[0] is system and cached[1] is scenarios:
        return cached[2]
    year = YearContext.of(system, [scenario_data(scenarios, k)
                                   for k in range(scenarios.sizes["scenario"])])
    _YEAR["last"] = (system, scenarios, year)
    return year


def scenario_creator(scenario_name: str, *, system: System, scenarios: xr.Dataset, mode: str,
                     microgrids: Sequence[str] | None = None,
                     fixed_capacity: Mapping[str, Mapping[str, float]] | None = None
                     ) -> pyo.ConcreteModel:
    """Build scenario ``scen<k>`` of the architecture ``mode`` in its year
    (:func:`year_context`) and attach the root node: the first-stage cost
    ``first_stage_cost = capex_annual + demand_charge_annual`` and the first-stage
    variables (:func:`~framework.model.build.first_stage_vars`: the capacities, and with a
    cycle life or demand charges every scenario's day of cell discharge and the
    billing periods' peaks). Callers check :func:`require_storage` first.

    ``fixed_capacity`` (``{"cap_energy_kwh": {k: E}, "cap_power_kw": {k: P}}``) fixes the
    capacities, for the evaluation of a given plan.
    """
    k = scenario_number(scenario_name)
    data = scenario_data(scenarios, k)
    m = build_scenario_model(system, data, mode, microgrids=microgrids,
                             year=year_context(system, scenarios).at(k))
    if fixed_capacity is not None:
        fix_capacity(m, system, fixed_capacity)
    sputils.attach_root_node(m, m.first_stage_cost, first_stage_vars(m))
    return m
