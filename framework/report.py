"""Plain-text tables of results for the terminal and for markdown files."""

from __future__ import annotations

import xarray as xr

from framework.results import summary

ROWS = (
    ("annual cost", "annual_cost", "{:,.0f}"),
    ("  capex (annualised)", "capex", "{:,.0f}"),
    ("  grid energy", "energy", "{:,.0f}"),
    ("  degradation", "degradation", "{:,.0f}"),
    ("  exchange fees", "fees", "{:,.0f}"),
    ("  shedding", "shedding", "{:,.0f}"),
    ("storage energy (kWh)", "total_energy_kwh", "{:,.1f}"),
    ("storage power (kW)", "total_power_kw", "{:,.1f}"),
    ("self-sufficiency", "self_sufficiency", "{:.1%}"),
    ("curtailment share", "curtailment_share", "{:.1%}"),
    ("peak import (kW)", "peak_import_kw", "{:,.0f}"),
    ("CO2 (t/yr)", "co2_t_per_yr", "{:,.1f}"),
)


def comparison_table(ds: xr.Dataset) -> str:
    """A markdown table with one column per mode (and the saving of sharing, if both)."""
    s = summary(ds)
    modes = list(s["modes"])
    lines = ["| | " + " | ".join(modes) + " |", "|---|" + "---:|" * len(modes)]
    for label, key, fmt in ROWS:
        cells = []
        for mode in modes:
            r = s["modes"][mode]
            value = r.get(key, r["annual_cost_split"].get(key, r["kpis"].get(key)))
            cells.append(fmt.format(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "saving_of_sharing_per_yr" in s:
        saving = s["saving_of_sharing_per_yr"]
        base = s["modes"]["individual"]["annual_cost"]
        lines.append(f"\nSaving of sharing: {saving:,.0f} per year "
                     f"({saving / base:.1%} of the individual cost).")
    return "\n".join(lines)
