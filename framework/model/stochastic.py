"""The scenario creator of mpi-sppy (progressive hedging) on the one model builder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyomo.environ as pyo
import xarray as xr

from framework._mpisppy import sputils
from framework.architecture import Architecture, architecture
from framework.errors import InputError
from framework.model.build import build_scenario_model, first_stage_vars, fix_capacity
from framework.model.data import scenario_data
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


def scenario_creator(scenario_name: str, *, system: System, scenarios: xr.Dataset, mode: str,
                     microgrids: Sequence[str] | None = None,
                     fixed_capacity: Mapping[str, Mapping[str, float]] | None = None
                     ) -> pyo.ConcreteModel:
    """Build scenario ``scen<k>`` of the architecture ``mode`` and attach the root node
    (first-stage cost and variables; callers check :func:`require_storage` first).

    ``fixed_capacity`` (``{"cap_energy_kwh": {k: E}, "cap_power_kw": {k: P}}``) fixes the
    first stage, for the evaluation of a given plan.
    """
    data = scenario_data(scenarios, scenario_number(scenario_name))
    m = build_scenario_model(system, data, mode, microgrids=microgrids)
    if fixed_capacity is not None:
        fix_capacity(m, system, fixed_capacity)
    sputils.attach_root_node(m, m.capex_annual, first_stage_vars(m))
    return m
