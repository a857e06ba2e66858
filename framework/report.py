"""Plain-text tables of results for the terminal and for markdown files."""

from __future__ import annotations

import xarray as xr

from framework.errors import InputError
from framework.results import summary

ROWS = (
    ("annual cost", "annual_cost", "{:,.0f}"),
    ("  capex (annualised)", "capex", "{:,.0f}"),
    ("  grid energy", "energy", "{:,.0f}"),
    ("  degradation", "degradation", "{:,.0f}"),
    ("  exchange fees", "fees", "{:,.0f}"),
    ("  demand charges", "demand_charges", "{:,.0f}"),
    ("  shedding", "shedding", "{:,.0f}"),
    ("storage energy (kWh)", "total_energy_kwh", "{:,.1f}"),
    ("storage power (kW)", "total_power_kw", "{:,.1f}"),
    ("exchanged energy (MWh/yr)", "exchanged_mwh_per_yr", "{:,.1f}"),
    ("full cycles per storage (1/yr)", "cycles", "{}"),
    ("implied life per storage (yr)", "life", "{}"),
    ("self-sufficiency", "self_sufficiency", "{:.1%}"),
    ("curtailment share", "curtailment_share", "{:.1%}"),
    ("peak import (kW)", "peak_import_kw", "{:,.0f}"),
    ("CO2 (t/yr)", "co2_t_per_yr", "{:,.1f}"),
)


def _cell(r: dict, key: str, fmt: str) -> str:
    """One cell of the comparison table for the summary ``r`` of one architecture."""
    diag = r.get("diagnostics", {})
    if key == "exchanged_mwh_per_yr":
        return fmt.format(diag.get("exchanged_kwh_per_yr", 0.0) / 1000.0)
    if key == "cycles":
        cycles = diag.get("equivalent_full_cycles_per_yr", {})
        return ", ".join(f"{c:,.0f}" for c in cycles.values()) if cycles else "-"
    if key == "life":
        life = diag.get("implied_life_yr", {})
        return ", ".join(f"{n:,.1f}" for n in life.values()) if life else "-"
    if key == "demand_charges" and key not in r["annual_cost_split"]:
        return "-"  # a result written before demand charges
    return fmt.format(r.get(key, r["annual_cost_split"].get(key, r["kpis"].get(key))))


def comparison_table(ds: xr.Dataset) -> str:
    """A markdown table with one column per architecture, then the saving of sharing with
    what it is made of, and every warning of the diagnostics."""
    s = summary(ds)
    modes = list(s["modes"])
    heads = [m if s["modes"][m]["certified"] else f"{m} (NOT CERTIFIED)" for m in modes]
    lines = ["| | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(modes)]
    for label, key, fmt in ROWS:
        cells = [_cell(s["modes"][mode], key, fmt) for mode in modes]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "saving_of_sharing_per_yr" in s:
        saving = s["saving_of_sharing_per_yr"]
        base_mode = next(m for m in modes if m.startswith("individual"))
        base = s["modes"][base_mode]["annual_cost"]
        lines.append(f"\nSaving of sharing ({s['saving_of_sharing_versus']} station against "
                     f"{base_mode} batteries; {s['saving_of_sharing_from']}): "
                     f"{round(saving):,} per year ({round(saving / base, 3) + 0.0:.1%} of the "
                     "individual cost)"
                     + ("." if s["saving_of_sharing_certified"] else
                        ", NOT CERTIFIED: a cost it compares is not proven (below)."))
    for mode in modes:
        if not s["modes"][mode]["certified"]:
            lines.append(f"NOT CERTIFIED ({mode}): {s['modes'][mode]['not_certified_because']}; "
                         "its cost is an estimate, not an optimum")
        for warning in s["modes"][mode].get("diagnostics", {}).get("warnings", []):
            lines.append(f"warning ({mode}): {warning}")
    return "\n".join(lines)


def robustness_table(plan: xr.Dataset, robust: xr.Dataset) -> str:
    """A markdown table of the stochastic plan and the robust plan (C&CG) of one mode.

    Parameters
    ----------
    plan : xr.Dataset
        A result of the extensive form holding the robust plan's mode.
    robust : xr.Dataset
        Of :func:`framework.robust.storage.plan_ccg` (one mode) with
        ``compare_stochastic``: ``stochastic_worst_case_bound`` is the stochastic plan's
        cost at the worst cases of the same budget.
    """
    mode = str(robust["mode"].values[0])
    r, p = robust.sel(mode=mode), plan.sel(mode=mode)
    nominal = (float(p["annual_cost"]), float(r["nominal_annual_cost"]))
    if "stochastic_worst_case_bound" not in r:
        raise InputError("robustness table: the C&CG result lacks the stochastic plan's worst "
                         "case (plan_ccg with compare_stochastic=True)")
    worst = (float(r["stochastic_worst_case_bound"]), float(r["objective"]))
    rows = [("storage energy (kWh)", "{:,.1f}", [float(d["cap_energy_kwh"].sum()) for d in (p, r)]),
            ("storage power (kW)", "{:,.1f}", [float(d["cap_power_kw"].sum()) for d in (p, r)]),
            ("annual cost, representative days", "{:,.0f}", nominal),
            ("annual cost, worst cases", "{:,.0f}", worst)]
    lines = [f"| {mode} station | stochastic | robust |", "|---|---:|---:|"]
    lines += [f"| {label} | " + " | ".join(fmt.format(v) for v in values) + " |"
              for label, fmt, values in rows]
    lines.append(f"\nPrice of robustness: {nominal[1] - nominal[0]:+,.0f} per year on the "
                 f"representative days, for {worst[0] - worst[1]:,.0f} per year less than the "
                 f"stochastic plan at the worst cases. C&CG: {r['termination'].item()} after "
                 f"{int(r['iterations'])} iterations, gap {float(r['gap']):.2%}.")
    return "\n".join(lines)
