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
period), so demand charges couple the days: the extensive form holds them, a model of one
day cannot (:func:`framework.model.build.build_scenario_model` refuses them).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyomo.environ as pyo

from framework.model.data import ScenarioData
from framework.system import System


def billing_periods(system: System, scenarios: Sequence[ScenarioData]
                    ) -> tuple[list[int], list[tuple[int, ...]], float]:
    """The billing periods, the periods each scenario belongs to, and how many times a
    year the set's periods are billed on average.

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


def define_demand_charges(m: pyo.Block, system: System, blocks: Sequence[pyo.Block],
                          scenarios: Sequence[ScenarioData]) -> None:
    """Peaks of the billing periods and their annual charge (expression
    ``demand_charge_annual``, currency/yr; 0 without demand charges).

    Variables ``peak_import_kw[i,b] >= 0`` (per microgrid ``i`` with a demand charge) and
    ``coincident_peak_kw[b] >= 0`` (with a coincident charge); for every scenario ``s`` in
    period ``b`` and step ``t``:

        peak_import[i,b,s,t]:  grid_import_kw[s,i,t] <= peak_import_kw[i,b]
        coincident_peak[b,s,t]: sum_i grid_import_kw[s,i,t] <= coincident_peak_kw[b]

    ``demand_charge_annual = bills * sum_b (sum_i dc_i * peak_import_kw[i,b]
    + dc_c * coincident_peak_kw[b])`` with ``bills`` from :func:`billing_periods`.
    """
    if not system.has_demand_charges:
        m.demand_charge_annual = pyo.Expression(expr=0.0)
        return
    periods, member_of, bills = billing_periods(system, scenarios)
    names = list(blocks[0].I)
    charge = {i: system.demand_charge(i) for i in names}
    charged = [i for i in names if charge[i] > 0]
    coincident = system.tariff.coincident_demand_charge_per_kw
    m.billing_period = pyo.Set(initialize=periods, ordered=True)
    rows = [(b, s, t) for s, of in enumerate(member_of) for b in of for t in blocks[s].T]
    terms = []
    if charged:
        m.peak_import_kw = pyo.Var(charged, m.billing_period, within=pyo.NonNegativeReals)
        m.peak_import = pyo.Constraint(charged, rows, rule=lambda mm, i, b, s, t: (
            blocks[s].grid_import_kw[i, t] <= mm.peak_import_kw[i, b]))
        terms += [charge[i] * m.peak_import_kw[i, b] for i in charged for b in periods]
    if coincident > 0:
        m.coincident_peak_kw = pyo.Var(m.billing_period, within=pyo.NonNegativeReals)
        m.coincident_peak = pyo.Constraint(rows, rule=lambda mm, b, s, t: (
            sum(blocks[s].grid_import_kw[i, t] for i in names) <= mm.coincident_peak_kw[b]))
        terms += [coincident * m.coincident_peak_kw[b] for b in periods]
    m.demand_charge_annual = pyo.Expression(expr=bills * pyo.quicksum(terms))
