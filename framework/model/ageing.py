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
the cells' cost couples the days: the extensive form holds it, a model of one day cannot
(:func:`framework.model.build.build_scenario_model` refuses it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pyomo.environ as pyo

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


def define_ageing(m: pyo.Block, system: System, blocks: Sequence[pyo.Block],
                  probabilities: Sequence[float],
                  cell_out: Callable[[pyo.Block, str, int], pyo.Expression],
                  multiplier: float) -> None:
    """The cells' annual cost of every storage with its cycle-limited life (``cycle_life``
    set; nothing otherwise), replacing ``capex_annual`` on ``m``.

    ``cell_discharge_kwh_per_yr[k] = days_per_year * sum_s pi_s * dt * sum_t cell_out[s,k,t]``
    (expression ``D_k``); variable ``cell_cost_annual[k] >= 0`` (currency/yr) with

        cell_calendar[k]:  cell_cost_annual[k] >= crf(lifetime_yr) * c_E * E_k
        cell_cycles[k,j]:  cell_cost_annual[k] >= c_E * (a_j * E_k + b_j * D_k / (N * delta))

    (:func:`chords`), and ``capex_annual = mult * sum_k (cell_cost_annual[k] + crf * (c_P * P_k
    + c_fix * built_k) + om * (c_E * E_k + c_P * P_k + c_fix * built_k))``.
    """
    tech = system.storage
    if tech.cycle_life is None:
        return
    scale = system.planning.days_per_year * system.history.step_h
    rated = tech.cycle_life * tech.cycle_life_dod
    m.cell_discharge_kwh_per_yr = pyo.Expression(m.K, rule=lambda b, k: scale * pyo.quicksum(
        p * cell_out(d, k, t) for p, d in zip(probabilities, blocks) for t in d.T))
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
