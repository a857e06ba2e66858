"""Evaluation of a fixed plan: its capacities kept, the dispatch re-optimised per scenario."""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from framework.errors import InputError
from framework.model import storage_members
from framework.results import combine_modes
from framework.solve.ef import solve_ef
from framework.system import System


def plan_capacity(plan: xr.Dataset, mode: str, microgrids: Sequence[str]
                  ) -> dict[str, dict[str, float]]:
    """The capacities of ``mode`` in a result, as ``solve_ef``'s ``fixed_capacity`` takes them."""
    if mode not in plan["mode"].values:
        raise InputError(f"plan: no mode {mode!r} in it (it has {list(plan['mode'].values)})")
    storages = list(storage_members(mode, microgrids))
    have = [str(k) for k in plan["storage"].values]
    missing = [k for k in storages if k not in have]
    if missing:
        raise InputError(f"plan: storage(s) {missing} of mode {mode!r} are not in it ({have})")
    sel = plan.sel(mode=mode, storage=storages)
    return {name: {k: float(sel[name].sel(storage=k)) for k in storages}
            for name in ("cap_energy_kwh", "cap_power_kw")}


def evaluate_plan(system: System, scenarios: xr.Dataset, plan: xr.Dataset,
                  modes: Sequence[str] | None = None) -> xr.Dataset:
    """Cost and dispatch of a plan's capacities on a (possibly different) scenario set.

    Parameters
    ----------
    system : System
    scenarios : xr.Dataset
        The days to evaluate on (held-out days, every historical day, ...).
    plan : xr.Dataset
        A result (``cap_energy_kwh``, ``cap_power_kw`` per mode and storage).
    modes : sequence of str, optional
        Modes to evaluate; default every mode of the plan.

    Returns
    -------
    xr.Dataset
        Same schema as a planning result, with ``method = "evaluation"``.
    """
    modes = list(plan["mode"].values) if modes is None else list(modes)
    return combine_modes([
        solve_ef(system, scenarios, mode,
                 fixed_capacity=plan_capacity(plan, mode, system.names))
        for mode in modes])
