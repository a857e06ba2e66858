"""Demand charges: a price per kW of the highest grid import in each billing period.

Billing periods ``b`` are the calendar months (``tariff.billing_period = "month"``) or the
year. A scenario stands for the historical days that the clustering put in it
(``ScenarioData.months``, from the scenario file's ``membership``): it belongs to the period
of each of its days' months, and the peak of period ``b`` is the highest import of the
scenarios that belong to it. With every day its own scenario this is each month's peak
exactly; with clustered days it is the peak of the representative days of the clusters
that have a day in the month (a cluster mean smooths its days' peaks; see
``docs/formulation.md`` for the bound). A scenario file without day membership puts every
scenario in one period, billed every period of the year.

The peaks of a period are decisions of the year (one value for every scenario in the
period), so demand charges couple the days. They are first-stage variables
(:func:`define_demand_charges`) and every scenario adds its own rows
(:func:`define_peak_rows`): the extensive form holds every scenario's rows, a model of one
scenario (progressive hedging) holds its own with the peaks as nonanticipative variables,
which the consensus of progressive hedging makes agree. Both have the extensive form's
optimum.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyomo.environ as pyo

from framework.model.data import YearContext
from framework.system import System

__all__ = ["charged_microgrids", "define_demand_charges",
           "define_peak_rows"]


def charged_microgrids(system: System, names: Sequence[str]) -> list[str]:
    """The microgrids of ``names`` with a demand charge ``dc_i > 0``."""
    return [i for i in names if system.demand_charge(i) > 0]


def define_demand_charges(m: pyo.Block, system: System, names: Sequence[str],
                          year: YearContext | None) -> None:
    """The first stage of demand charges: the peaks of the billing periods and their annual
    charge (expression ``demand_charge_annual``, currency/yr; 0 without demand charges, when
    ``year`` may be None).

    Variables ``peak_import_kw[i,b] >= 0`` (per microgrid ``i`` of ``names`` with a demand
    charge and billing period ``b`` of ``year.periods``) and ``coincident_peak_kw[b] >= 0``
    (with a coincident charge);

        ``demand_charge_annual = bills * sum_b (sum_i dc_i * peak_import_kw[i,b]
        + dc_c * coincident_peak_kw[b])``

    with ``bills = year.bills_per_period``. The scenarios' rows are
    :func:`define_peak_rows`.
    """
    if not system.has_demand_charges:
        m.demand_charge_annual = pyo.Expression(expr=0.0)
        return
    periods = list(year.periods)
    charged = charged_microgrids(system, names)
    coincident = system.tariff.coincident_demand_charge_per_kw
    m.billing_period = pyo.Set(initialize=periods, ordered=True)
    terms = []
    if charged:
        m.peak_import_kw = pyo.Var(charged, m.billing_period, within=pyo.NonNegativeReals)
        terms += [system.demand_charge(i) * m.peak_import_kw[i, b]
                  for i in charged for b in periods]
    if coincident > 0:
        m.coincident_peak_kw = pyo.Var(m.billing_period, within=pyo.NonNegativeReals)
        terms += [coincident * m.coincident_peak_kw[b] for b in periods]
    m.demand_charge_annual = pyo.Expression(expr=year.bills_per_period * pyo.quicksum(terms))


def define_peak_rows(d: pyo.Block, fs: pyo.Block, system: System, year: YearContext | None,
                     s: int) -> None:
    """The rows of scenario ``s`` (dispatch block ``d``) under the peaks of the periods it
    belongs to (``year.member_of[s]``) on the first-stage block ``fs``
    (:func:`define_demand_charges`); nothing without demand charges. Every ``b`` of
    ``member_of[s]`` and step ``t``:

        peak_import[i,b,t]:   grid_import_kw[i,t] <= peak_import_kw[i,b]
        coincident_peak[b,t]: sum_i grid_import_kw[i,t] <= coincident_peak_kw[b]
    """
    if not system.has_demand_charges:
        return
    rows = [(b, t) for b in year.member_of[s] for t in d.T]
    if hasattr(fs, "peak_import_kw"):
        charged = charged_microgrids(system, list(d.I))
        d.peak_import = pyo.Constraint(charged, rows, rule=lambda blk, i, b, t: (
            blk.grid_import_kw[i, t] <= fs.peak_import_kw[i, b]))
    if hasattr(fs, "coincident_peak_kw"):
        d.coincident_peak = pyo.Constraint(rows, rule=lambda blk, b, t: (
            sum(blk.grid_import_kw[i, t] for i in blk.I) <= fs.coincident_peak_kw[b]))
