"""The data of one scenario as the model builder takes it, the year it belongs to (what a
model of one scenario needs to know of the others), and the storages of a mode."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from framework.architecture import architecture
from framework.errors import InputError
from framework.system import System, profile_differences


@dataclass(frozen=True)
class ScenarioData:
    """One representative day: profiles of every microgrid, its probability and step.

    Attributes
    ----------
    name : str
        Scenario name (``scen<k>``), as mpi-sppy names scenarios.
    probability : float
        Weight ``pi_s`` of the scenario (the probabilities of a set sum to 1).
    step_h : float
        Step length ``dt_h`` (h).
    microgrids : tuple of str
        Microgrid names, the column order of the arrays.
    load_kw, pv_pu, wind_pu : ndarray, shape (steps, microgrids)
        Load (kW) and PV / wind availability (per unit of installed capacity).
    months : tuple of int
        The calendar months (1-12) of the historical days this scenario stands for (from the
        scenario file's ``membership``); empty when the file does not say.
    """

    name: str
    probability: float
    step_h: float
    microgrids: tuple[str, ...]
    load_kw: np.ndarray
    pv_pu: np.ndarray
    wind_pu: np.ndarray
    months: tuple[int, ...] = ()

    @property
    def steps(self) -> int:
        return self.load_kw.shape[0]

    def column(self, microgrid: str) -> int:
        return self.microgrids.index(microgrid)


def billing_periods(system: System, scenarios: Sequence[ScenarioData]
                    ) -> tuple[list[int], list[tuple[int, ...]], float]:
    """The billing periods of demand charges (:mod:`framework.model.demand`), the periods
    each scenario belongs to, and how many times a year the set's periods are billed on
    average.

    Returns
    -------
    periods : list of int
        Months 1-12 present in the scenarios' days (``month`` billing), else ``[0]`` (the
        year, or a file without day membership).
    member_of : list of tuple of int
        Per scenario, the periods it belongs to (every period when it names no month).
    bills_per_period : float
        ``periods_per_year / len(periods)``: 1 for twelve months or the year, 12 for one
        period standing for every month.
    """
    months = sorted({mo for data in scenarios for mo in data.months})
    if system.tariff.billing_period == "year" or not months:
        return [0], [(0,) for _ in scenarios], float(system.tariff.periods_per_year)
    member_of = [data.months or tuple(months) for data in scenarios]
    return months, member_of, system.tariff.periods_per_year / len(months)


@dataclass(frozen=True)
class YearContext:
    """The year of a scenario set: what couples its days (a cycle life, demand charges) as
    a model of one scenario needs to know it (:func:`framework.model.build.
    build_scenario_model`). Built once from every scenario by :meth:`of`; :meth:`at` names
    the scenario ``s`` that a one-scenario model holds.

    Attributes
    ----------
    probabilities : tuple of float
        ``pi_s`` of every scenario ``s`` of the year, in order.
    steps : tuple of int
        The number of steps of every scenario.
    periods : tuple of int
        The billing periods ``b`` (:func:`billing_periods`).
    member_of : tuple of tuple of int
        Per scenario, the billing periods it belongs to.
    bills_per_period : float
        How many times a year each period is billed.
    scenario : int or None
        The position ``s`` of the scenario of a one-scenario model; None for the year as a
        whole (the extensive form).
    """

    probabilities: tuple[float, ...]
    steps: tuple[int, ...]
    periods: tuple[int, ...]
    member_of: tuple[tuple[int, ...], ...]
    bills_per_period: float
    scenario: int | None = None

    @classmethod
    def of(cls, system: System, scenarios: Sequence[ScenarioData]) -> YearContext:
        """The year of ``scenarios`` (every scenario of the set, in order)."""
        periods, member_of, bills = billing_periods(system, scenarios)
        return cls(probabilities=tuple(float(d.probability) for d in scenarios),
                   steps=tuple(int(d.steps) for d in scenarios), periods=tuple(periods),
                   member_of=tuple(tuple(of) for of in member_of), bills_per_period=bills)

    def at(self, scenario: int) -> YearContext:
        """This year seen from the scenario at position ``scenario``."""
        if not 0 <= scenario < len(self.probabilities):
            raise ValueError(f"scenario {scenario}: the year has {len(self.probabilities)}")
        return replace(self, scenario=scenario)

    @property
    def size(self) -> int:
        """The number of scenarios of the year."""
        return len(self.probabilities)


def scenario_name(k: int) -> str:
    """The name of scenario ``k`` (mpi-sppy convention: a prefix and a trailing number)."""
    return f"scen{k}"


def scenario_data(scenarios: xr.Dataset, k: int) -> ScenarioData:
    """The :class:`ScenarioData` of scenario number ``k`` (position) of a scenario dataset."""
    sel = scenarios.isel(scenario=k)
    arrays = {
        q: np.ascontiguousarray(sel[q].transpose("step", "microgrid").values, dtype=float)
        for q in ("load_kw", "pv_pu", "wind_pu")
    }
    return ScenarioData(
        name=scenario_name(k),
        probability=float(sel["probability"]),
        step_h=float(scenarios.attrs["step_h"]),
        microgrids=tuple(str(m) for m in scenarios["microgrid"].values),
        months=scenario_months(scenarios, k),
        **arrays,
    )


def scenario_months(scenarios: xr.Dataset, k: int) -> tuple[int, ...]:
    """The calendar months of the historical days that the scenario at position ``k``
    stands for (``day`` where ``membership``, a scenario position, is ``k``); empty without
    day membership."""
    if "membership" not in scenarios or scenarios.sizes.get("day", 0) == 0:
        return ()
    members = scenarios["membership"].values == k
    days = scenarios["day"].values[members]
    return tuple(sorted({int(m) for m in days.astype("datetime64[M]").astype(int) % 12 + 1}))


def check_scenarios_match(system: System, scenarios: xr.Dataset,
                          where: str = "scenarios") -> None:
    """Check that a scenario set fits a system: made for a system with the same profiles
    (when the file says which, :func:`framework.system.profile_differences`), every
    microgrid present, probabilities that sum to 1, the same step."""
    if "system_config" in scenarios.attrs:
        stored = json.loads(scenarios.attrs["system_config"])
        differences = profile_differences(system, stored)
        if differences:
            raise InputError(
                f"{where}: made for system {stored.get('name')!r}, which differs from "
                f"{system.name!r} in what shapes the profiles: {'; '.join(differences[:4])}"
                f"{' ...' if len(differences) > 4 else ''}; plan with the system the "
                "scenarios were made for (leave out the system file to use the one stored in "
                "the scenario file) or make scenarios for this system")
    present = {str(m) for m in scenarios["microgrid"].values}
    missing = [name for name in system.names if name not in present]
    if missing:
        raise InputError(
            f"{where}: microgrid(s) {missing} of system {system.name!r} are not in the "
            f"scenarios (they have {sorted(present)}); generate scenarios for this system"
        )
    total = float(scenarios["probability"].sum())
    if abs(total - 1.0) > 1e-6:
        raise InputError(f"{where}: probabilities sum to {total!r}, expected 1")
    step_h = float(scenarios.attrs.get("step_h", np.nan))
    if not np.isclose(step_h, system.history.step_h):
        raise InputError(
            f"{where}: step_h = {step_h} h but the system's history.step_h = "
            f"{system.history.step_h} h"
        )


def storage_members(mode: str, microgrids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Storages of an architecture (see :mod:`framework.model.architecture`) and the
    microgrids each one serves: none, a battery per microgrid named after it, or one station
    named ``station`` serving all."""
    return architecture(mode).storages(microgrids)


def check_consecutive_days(scenarios: xr.Dataset, purpose: str,
                           where: str = "scenarios") -> None:
    """An :class:`InputError` unless the historical days of ``scenarios`` (coordinate ``day``)
    follow one another without a gap: ``purpose`` (what needs them so) names the refusal."""
    days = scenarios["day"].values
    steps = np.diff(days.astype("datetime64[D]").astype(np.int64))
    if steps.size and not np.all(steps == 1):
        gap = int(np.flatnonzero(steps != 1)[0])
        raise InputError(f"{where}: {purpose} needs consecutive days; day "
                         f"{days[gap]!s:.10} is followed by {days[gap + 1]!s:.10}")


def day_sequence(scenarios: xr.Dataset, where: str = "scenarios") -> np.ndarray:
    """The year's sequence of representative days: for every historical day in order, the
    position of its scenario (the file's ``membership``); an extreme day is a scenario of
    its own, so the sequence names it. For linked representative days
    (:func:`framework.model.linked.define_linked_days`).

    Raises
    ------
    InputError
        Without the day-to-scenario ``membership``, with a day that no scenario stands for
        (membership ``-1``) or with days that are not consecutive.
    """
    if "membership" not in scenarios or scenarios.sizes.get("day", 0) == 0:
        raise InputError(f"{where}: linked representative days need the day-to-scenario "
                         "membership of a scenario file clustered from a history (sesplan "
                         "scenarios); this set has none")
    membership = scenarios["membership"].values.astype(np.int64)
    if membership.min() < 0:
        day = scenarios["day"].values[int(np.argmin(membership))]
        raise InputError(f"{where}: linked representative days need every historical day "
                         f"in a scenario; day {day!s:.10} is in none")
    check_consecutive_days(scenarios, "linking representative days", where)
    return membership
