"""Chronological operation: a plan run through the history as one sequence of days.

Planning and the out-of-sample evaluation treat every day as cyclic: it ends with the
state of charge it started with, so no energy moves from one day to the next.
:func:`solve_chronological` instead links the days of a scenario set of consecutive
historical days (``scenarios_for(system, all_days=True)``): the state of charge of every
storage (every account of an accounts station) at the start of day ``d`` is where day
``d - 1`` ended, and the year is cyclic (day 0 starts where the last day ends)
(:func:`framework.model.build.link_days`). The whole year is one linear program, not
decomposed: 366 days of the default system are about 280,000 columns, which HiGHS solves
in one run (measured: 16 s for own batteries, 31 s for an accounts station), so the
chronology costs no accuracy.

:func:`evaluate_chronological` puts side by side, per architecture, what the plan expected
(its own ``annual_cost`` on the days it was planned on, cyclic), the same capacities on the
history as cyclic days, and the same capacities operated chronologically; the gaps are
reported. With ``fixed_capacity=None`` :func:`solve_chronological` plans on the linked days
(the storage sized with the year's chronology).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from framework.errors import InputError
from framework.evaluate import _modes, evaluate_plan, plan_capacity
from framework.model.data import check_consecutive_days
from framework.results import combine_modes
from framework.solve.ef import solve_ef
from framework.system import System


def check_chronological(days: xr.Dataset, where: str = "scenarios") -> None:
    """A scenario set that can be run in order: every scenario one historical day
    (``membership`` is ``0 .. D-1``), the days consecutive."""
    n = days.sizes["scenario"]
    if "membership" not in days or days.sizes.get("day", 0) != n or not np.array_equal(
            days["membership"].values, np.arange(n)):
        raise InputError(f"{where}: chronological operation needs every historical day as "
                         "its own scenario, in order (sesplan scenarios --all-days); this set "
                         f"has {n} scenarios for {days.sizes.get('day', 0)} days")
    check_consecutive_days(days, "chronological operation", where)


def solve_chronological(system: System, days: xr.Dataset, mode: str, *,
                        fixed_capacity: Mapping[str, Mapping[str, float]] | None = None,
                        microgrids: Sequence[str] | None = None,
                        time_limit_s: float | None = None) -> xr.Dataset:
    """The extensive form over consecutive days with the storage carried from day to day.

    Parameters
    ----------
    system : System
    days : xr.Dataset
        Every historical day its own scenario, in order (:func:`check_chronological`).
    mode : str
        The sharing architecture.
    fixed_capacity : mapping, optional
        ``{"cap_energy_kwh": {k: E}, "cap_power_kw": {k: P}}``: operate this plan; without
        it, plan on the linked days.
    microgrids : sequence of str, optional
    time_limit_s : float, optional

    Returns
    -------
    xr.Dataset
        The schema of :func:`framework.solve.ef.solve_ef`'s result, ``method`` =
        ``chronological-evaluation`` or ``chronological``, attribute ``chronological = 1``.
    """
    check_chronological(days)
    return solve_ef(system, days, mode, microgrids=microgrids, fixed_capacity=fixed_capacity,
                    time_limit_s=time_limit_s, chronological=True)


def evaluate_chronological(system: System, days: xr.Dataset, plan: xr.Dataset,
                           modes: Sequence[str] | None = None) -> xr.Dataset:
    """A plan's capacities operated chronologically on ``days``, beside the cyclic figures.

    Returns
    -------
    xr.Dataset
        The chronological operation (:func:`solve_chronological`, schema of a planning
        result) with, per mode (currency/yr): ``planned_annual_cost`` (the plan's own
        ``annual_cost``), ``cyclic_annual_cost`` (the capacities on ``days`` as cyclic days,
        :func:`framework.evaluate.evaluate_plan`), ``chronological_annual_cost`` (its
        ``annual_cost``), ``chronology_gap`` = chronological - cyclic (negative: carrying
        energy across days pays), ``planning_gap`` = chronological - planned (what the plan
        expected against what the year costs).
    """
    modes = _modes(plan, modes)
    chrono = combine_modes([solve_chronological(
        system, days, mode, fixed_capacity=plan_capacity(plan, mode, system.names))
        for mode in modes])
    cyclic = evaluate_plan(system, days, plan, modes)
    planned = plan["annual_cost"].sel(mode=modes).values
    out = chrono.assign(
        planned_annual_cost=("mode", planned),
        cyclic_annual_cost=("mode", cyclic["annual_cost"].sel(mode=modes).values),
        chronological_annual_cost=("mode", chrono["annual_cost"].sel(mode=modes).values))
    out["chronology_gap"] = out["chronological_annual_cost"] - out["cyclic_annual_cost"]
    out["planning_gap"] = out["chronological_annual_cost"] - out["planned_annual_cost"]
    for name in ("planned_annual_cost", "cyclic_annual_cost", "chronological_annual_cost",
                 "chronology_gap", "planning_gap"):
        out[name].attrs["units"] = "currency/yr"
    out.attrs = {**chrono.attrs, "method": "chronological-evaluation", "chronological": 1}
    return out


CHRONOLOGY = ("planned_annual_cost", "cyclic_annual_cost", "chronological_annual_cost",
              "chronology_gap", "planning_gap")


def chronology_summary(ds: xr.Dataset) -> dict[str, dict[str, float]]:
    """Per mode, the five figures of :func:`evaluate_chronological` (for ``--json``)."""
    return {str(m): {k: float(ds[k].sel(mode=m)) for k in CHRONOLOGY}
            for m in ds["mode"].values}


def chronology_table(ds: xr.Dataset) -> str:
    """The plan's cost as planned, on the days as cyclic days, and operated in order."""
    modes = [str(m) for m in ds["mode"].values]
    labels = {"planned_annual_cost": "as planned (representative days)",
              "cyclic_annual_cost": "every day, cyclic (own start)",
              "chronological_annual_cost": "every day in order (SOC carried)",
              "chronology_gap": "chronological - cyclic",
              "planning_gap": "chronological - planned"}
    lines = ["| currency/yr | " + " | ".join(modes) + " |", "|---|" + "---:|" * len(modes)]
    lines += [f"| {labels[k]} | " + " | ".join(f"{float(ds[k].sel(mode=m)):,.0f}"
                                               for m in modes) + " |" for k in CHRONOLOGY]
    return "\n".join(lines)
