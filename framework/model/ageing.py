"""Ageing of the cells: a cycle life and a calendar life, and the annuity of the shorter.

With ``storage.cycle_life = N`` cycles at depth ``cycle_life_dod = delta``, the cells of
storage ``k`` deliver ``N * delta * E_k`` kWh of discharge over their life (the
energy-throughput model of a cycle-life rating). A year that discharges ``D_k`` kWh at the
cells wears them out in ``N * delta * E_k / D_k`` years, so their life is

    n_k = min(lifetime_yr, N * delta * E_k / D_k)

and their annual cost ``c_E * E_k * crf(n_k)``. In ``x = 1 / n`` (replacements a year) the
cost is ``c_E * E_k * g(D_k / (N delta E_k))`` with ``g(x) = crf(1 / x)`` for
``x >= 1 / lifetime_yr``: the perspective of the convex, increasing ``g`` (nearly linear:
``g(x) -> x r / ln(1 + r) + r / 2``; ``g(x) = x`` at ``r = 0``). :func:`define_ageing` writes
it as an epigraph over the calendar annuity and the chords of ``g`` between the breakpoints
``x_j = 2^j / lifetime_yr`` (lives ``lifetime_yr / 2^j``) down to a life of one year: exact at
``r = 0`` and at every breakpoint, otherwise above ``g`` between breakpoints and below it
beyond the last one, by at most :func:`chord_error` (0.21 % above, 0.03 % below for the
default 15 years at 5 %). The converter (``c_P``) and a modular storage's fixed cost keep the
calendar life; O&M stays a fraction of the investment.

The annual discharge sums every scenario of the year (``days_per_year * sum_s pi_s ...``), so
the cells' cost couples the days. It is written in the first stage (:func:`define_ageing`) on
one variable per scenario, ``cell_discharge_kwh[k,s]``, the cells' discharge in a day of
scenario ``s`` (kWh/day: of the size of the capacities whatever the number of scenarios,
which keeps the proximal terms of progressive hedging well scaled); each scenario bounds
its own from below (:func:`define_cell_discharge`). The extensive form holds every
scenario's row; a model of one scenario (progressive hedging) holds its own, with every
``cell_discharge_kwh`` nonanticipative (the other scenarios' are free there, and only their
cost pushes them down until the consensus makes them agree). As the cost rises with the
discharge, both have the optimum of the annual discharge written as an equality.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyomo.environ as pyo

from framework.model.data import YearContext
from framework.system import Storage, System


def breakpoints(tech: Storage) -> np.ndarray:
    """``x_j = 2^j / lifetime_yr`` (replacements a year), ``j = 0 .. J``, with ``J >= 1`` the
    first at which the life ``lifetime_yr / 2^J`` is at most one year."""
    top = max(1, math.ceil(math.log2(max(tech.lifetime_yr, 1.0))))
    return np.array([2.0 ** j / tech.lifetime_yr for j in range(top + 1)])


def replacement_rate_cost(tech: Storage, x: float | np.ndarray) -> np.ndarray:
    """``g(x) = crf(1 / x)``: the annuity factor of cells that last ``1 / x`` years."""
    return np.vectorize(lambda v: tech.crf_of(1.0 / v))(np.asarray(x, dtype=float))


def chords(tech: Storage) -> list[tuple[float, float]]:
    """The chords of ``g`` between consecutive :func:`breakpoints`, as ``(a_j, b_j)`` with
    ``a_j + b_j * x`` the line through ``(x_j, g(x_j))`` and ``(x_{j+1}, g(x_{j+1}))``."""
    x = breakpoints(tech)
    g = replacement_rate_cost(tech, x)
    slopes = np.diff(g) / np.diff(x)
    return [(float(g[j] - slopes[j] * x[j]), float(slopes[j])) for j in range(len(slopes))]


def chord_error(tech: Storage, upto: float = 1000.0) -> tuple[float, float]:
    """The largest relative error of the modelled annuity factor
    ``max(crf(lifetime_yr), max_j (a_j + b_j x))`` against ``g(x)`` over lives from
    ``lifetime_yr`` down to ``1 / upto`` years: ``(above, below)``, both >= 0."""
    x = np.geomspace(1.0 / tech.lifetime_yr, upto, 20001)
    g = replacement_rate_cost(tech, x)
    model = np.max([a + b * x for a, b in chords(tech)] + [np.full_like(x, tech.crf)], axis=0)
    rel = (model - g) / g
    return float(max(rel.max(), 0.0)), float(max(-rel.min(), 0.0))


def capex_expression(m: pyo.Block, tech: Storage, multiplier: float,
                     cells: Callable[[str], pyo.Expression]) -> pyo.Expression:
    """``mult * sum_k (cells(k) + crf * (c_P * P_k + c_fix * built_k)
    + om * (c_E * E_k + c_P * P_k + c_fix * built_k))``: the annual capital cost with the
    cells' annual cost ``cells(k)`` (``crf * c_E * E_k`` over the calendar life)."""
    def fixed(k: str) -> pyo.Expression:
        return tech.fixed_cost * m.built[k] if tech.modular else 0.0

    return multiplier * pyo.quicksum(
        cells(k) + tech.crf * (tech.capex_power_per_kw * m.cap_power_kw[k] + fixed(k))
        + tech.om_fraction_per_yr * (tech.capex_energy_per_kwh * m.cap_energy_kwh[k]
                                     + tech.capex_power_per_kw * m.cap_power_kw[k] + fixed(k))
        for k in m.K)


def define_ageing(m: pyo.Block, system: System, year: YearContext | None,
                  multiplier: float) -> None:
    """The first stage of ageing: the cells' annual cost of every storage with its
    cycle-limited life (``cycle_life`` set; nothing otherwise, when ``year`` may be None),
    replacing ``capex_annual`` on ``m``.

    Variables ``cell_discharge_kwh[k,s] >= 0`` (kWh/day: the cells' discharge in a day of
    scenario ``s`` of ``year``, per storage ``k``) with the year's discharge (expression
    ``cell_discharge_kwh_per_yr``, kWh/yr)

        ``D_k = days_per_year * sum_s pi_s * cell_discharge_kwh[k,s]``

    and ``cell_cost_annual[k] >= 0`` (currency/yr):

        cell_discharge_max[k,s]: cell_discharge_kwh[k,s] <= dt * T_s * P_k
        cell_calendar[k]:  cell_cost_annual[k] >= crf(lifetime_yr) * c_E * E_k
        cell_cycles[k,j]:  cell_cost_annual[k] >= c_E * (a_j * E_k + b_j * D_k / (N * delta))

    (:func:`chords`; ``T_s`` the steps of scenario ``s``: its cells discharge at most ``P_k``
    in each step, so the bound never binds at an optimum and keeps ``cell_discharge_kwh``
    bounded where ``P_k`` is), and ``capex_annual = mult * sum_k (cell_cost_annual[k] + crf *
    (c_P * P_k + c_fix * built_k) + om * (c_E * E_k + c_P * P_k + c_fix * built_k))``.
    Each scenario's row is :func:`define_cell_discharge`.
    """
    tech = system.storage
    if tech.cycle_life is None:
        return
    dt, days = system.history.step_h, system.planning.days_per_year
    rated = tech.cycle_life * tech.cycle_life_dod
    pi, steps = year.probabilities, year.steps
    m.year_scenario = pyo.Set(initialize=range(year.size), ordered=True)
    m.cell_discharge_kwh = pyo.Var(m.K, m.year_scenario, within=pyo.NonNegativeReals)
    m.cell_discharge_max = pyo.Constraint(m.K, m.year_scenario, rule=lambda b, k, s: (
        b.cell_discharge_kwh[k, s] <= dt * steps[s] * b.cap_power_kw[k]))
    m.cell_discharge_kwh_per_yr = pyo.Expression(m.K, rule=lambda b, k: days * pyo.quicksum(
        pi[s] * b.cell_discharge_kwh[k, s] for s in b.year_scenario))
    m.cell_cost_annual = pyo.Var(m.K, within=pyo.NonNegativeReals)
    m.cell_calendar = pyo.Constraint(m.K, rule=lambda b, k: b.cell_cost_annual[k]
                                     >= tech.crf * tech.capex_energy_per_kwh * b.cap_energy_kwh[k])
    lines = chords(tech)
    m.cell_cycles = pyo.Constraint(m.K, range(len(lines)), rule=lambda b, k, j: (
        b.cell_cost_annual[k] >= tech.capex_energy_per_kwh * (
            lines[j][0] * b.cap_energy_kwh[k]
            + lines[j][1] * b.cell_discharge_kwh_per_yr[k] / rated)))
    m.capex_annual.set_value(capex_expression(m, tech, multiplier,
                                              lambda k: m.cell_cost_annual[k]))


def define_cell_discharge(d: pyo.Block, fs: pyo.Block, system: System,
                          year: YearContext | None, s: int,
                          cell_out: Callable[[pyo.Block, str, int], pyo.Expression]) -> None:
    """The row of scenario ``s`` (dispatch block ``d``) under its day's discharge on the
    first-stage block ``fs`` (:func:`define_ageing`); nothing without a cycle life. Every
    storage ``k``:

        cell_discharge[k]: cell_discharge_kwh[k,s] >= dt * sum_t cell_out[k,t]
    """
    if system.storage.cycle_life is None:
        return
    dt = system.history.step_h
    d.cell_discharge = pyo.Constraint(fs.K, rule=lambda b, k: fs.cell_discharge_kwh[k, s]
                                      >= dt * pyo.quicksum(cell_out(b, k, t) for t in b.T))


def implied_life_yr(tech: Storage, energy_kwh: float, discharge_kwh_per_yr: float) -> float:
    """``min(lifetime_yr, cycle_life * cycle_life_dod * E / D)``: how long the cells last
    when they discharge ``D`` kWh a year (``lifetime_yr`` without a cycle life; NaN for a
    storage of no energy)."""
    if energy_kwh <= 1e-9:
        return float("nan")
    if tech.cycle_life is None or discharge_kwh_per_yr <= 0:
        return float(tech.lifetime_yr)
    return min(float(tech.lifetime_yr),
               tech.cycle_life * tech.cycle_life_dod * energy_kwh / discharge_kwh_per_yr)
