"""The study's tables: ``summary.csv`` (one row per case and architecture, rule or price
choice) and ``summary.md`` (a case table, a headline table per plan case, provenance)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from framework.study.config import Study

DEFAULT_COLUMNS = ("case", "mode", "rule", "status", "annual_cost", "energy_kwh", "power_kw",
                   "self_sufficiency", "exchanged_kwh_per_yr", "saving_of_sharing_per_yr",
                   "saving_of_sharing_versus", "saving_of_sharing_from", "oos_annual_cost",
                   "vss", "evpi", "mmw_ci_high", "lease_energy_price", "lease_power_price")
TEXT = ("case", "mode", "rule", "status", "saving_of_sharing_versus", "saving_of_sharing_from",
        "warnings")
"""Columns of the case table aligned as text."""
FORMATS = {
    "annual_cost": "{:,.0f}", "capex": "{:,.0f}", "energy_kwh": "{:,.1f}",
    "power_kw": "{:,.1f}", "self_sufficiency": "{:.1%}", "curtailment_share": "{:.1%}",
    "saving_share": "{:.1%}", "oos_shed_day_share": "{:.1%}", "oos_self_sufficiency": "{:.1%}",
    "cycles_per_yr": "{:,.0f}", "co2_t_per_yr": "{:,.1f}", "clusters": "{:.0f}",
    "n_scenarios": "{:.0f}", "solve_s": "{:.2f}", "gap": "{:.2e}",
}
LABELS = {"mode": "architecture", "annual_cost": "annual cost", "energy_kwh": "E (kWh)",
          "power_kw": "P (kW)", "self_sufficiency": "self-sufficiency",
          "saving_of_sharing_per_yr": "saving of sharing",
          "saving_of_sharing_versus": "station", "saving_of_sharing_from": "saving from",
          "exchanged_kwh_per_yr": "exchanged kWh/yr",
          "oos_annual_cost": "out-of-sample cost", "vss": "VSS", "evpi": "EVPI",
          "mmw_ci_high": "MMW gap CI high", "lease_energy_price": "lease per kWh-yr",
          "lease_power_price": "lease per kW-yr",
          "stochastic_worst_case_cost": "stochastic worst",
          "stochastic_worst_case_bound": "stochastic bound"}
HEADLINE = (
    ("annual cost (currency/yr)", "annual_cost", "{:,.0f}"),
    ("  capex (annualised)", "capex", "{:,.0f}"),
    ("  grid energy", "energy", "{:,.0f}"),
    ("  renewables", "renewables", "{:,.0f}"),
    ("  curtailment", "curtailment", "{:,.0f}"),
    ("  degradation", "degradation", "{:,.0f}"),
    ("  exchange fees", "fees", "{:,.0f}"),
    ("  shedding", "shedding", "{:,.0f}"),
    ("  CO2 price", "co2", "{:,.0f}"),
    ("storage energy (kWh)", "energy_kwh", "{:,.1f}"),
    ("storage power (kW)", "power_kw", "{:,.1f}"),
    ("equivalent full cycles per year", "cycles_per_yr", "{:,.0f}"),
    ("self-sufficiency", "self_sufficiency", "{:.1%}"),
    ("curtailment share", "curtailment_share", "{:.1%}"),
    ("peak import (kW)", "peak_import_kw", "{:,.0f}"),
    ("CO2 (t/yr)", "co2_t_per_yr", "{:,.1f}"),
    ("shedding (kWh/yr)", "shed_kwh_per_yr", "{:,.1f}"),
    ("energy exchanged (kWh/yr)", "exchanged_kwh_per_yr", "{:,.0f}"),
    ("out-of-sample cost (currency/yr)", "oos_annual_cost", "{:,.0f}"),
    ("  std over days", "oos_annual_cost_std", "{:,.0f}"),
    ("  5 % / 95 % quantile", ("oos_annual_cost_q05", "oos_annual_cost_q95"), "{:,.0f}"),
    ("  shedding (kWh/yr)", "oos_shed_kwh_per_yr", "{:,.1f}"),
    ("VSS (currency/yr)", "vss", "{:,.0f}"),
    ("EVPI (currency/yr)", "evpi", "{:,.0f}"),
    ("MMW gap estimate / CI high", ("mmw_gap", "mmw_ci_high"), "{:,.0f}"),
    ("every day in order (currency/yr)", "chronological_annual_cost", "{:,.0f}"),
    ("  chronological - cyclic days", "chronology_gap", "{:,.0f}"),
    ("  chronological - planned", "planning_gap", "{:,.0f}"),
)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def fmt(column: str, value: Any) -> str:
    """A cell of ``summary.md``."""
    if _missing(value):
        return ""
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
        return FORMATS.get(column, "{:,.2f}" if abs(value) < 100 else "{:,.0f}").format(value)
    return str(value).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   align_right: Sequence[bool] | None = None) -> str:
    """A markdown table."""
    align = align_right or [False] * len(header)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if a else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def summary_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows with the union of their columns (in order of first appearance)."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return pd.DataFrame([[row.get(c) for c in columns] for row in rows], columns=columns)


def summary_csv(frame: pd.DataFrame) -> str:
    """``summary.csv`` text (floats written exactly, so a rerun writes the same bytes)."""
    return frame.to_csv(index=False, lineterminator="\n")


def summary_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """The summary as a dataset with dimension ``row`` (one variable per column; numbers as
    float with NaN for empty cells, everything else as text)."""
    data = {}
    for column in frame.columns:
        values = frame[column].tolist()
        numeric = all(_missing(v) or (isinstance(v, (int, float, np.integer, np.floating))
                                      and not isinstance(v, bool)) for v in values)
        if numeric:
            data[column] = ("row", np.array([np.nan if _missing(v) else float(v)
                                             for v in values]))
        else:
            data[column] = ("row", np.array(["" if _missing(v) else str(v) for v in values],
                                            dtype=object))
    return xr.Dataset(data, coords={"row": np.arange(len(frame))})


def case_table(frame: pd.DataFrame, columns: Sequence[str] | None) -> str:
    """The table of every case (the columns given, or the default ones that have values)."""
    wanted = list(columns) if columns else [c for c in DEFAULT_COLUMNS if c in frame]
    wanted = [c for c in wanted if c in frame and not frame[c].map(_missing).all()]
    rows = [[fmt(c, v) for c, v in zip(wanted, values)]
            for values in frame[wanted].itertuples(index=False)]
    numeric = [c not in TEXT for c in wanted]
    return markdown_table([LABELS.get(c, c) for c in wanted], rows, numeric)


def headline_table(rows: Sequence[dict[str, Any]]) -> str:
    """One column per architecture of a plan case: cost split, capacities, KPIs, evaluation;
    the saving of sharing with its station and what it is made of; the warnings of the
    result (degenerate outcomes)."""
    modes = [r["mode"] for r in rows]
    body = []
    for label, key, pattern in HEADLINE:
        keys = key if isinstance(key, tuple) else (key,)
        if all(all(_missing(r.get(k)) for k in keys) for r in rows):
            continue
        if key in ("energy", "renewables", "curtailment", "degradation", "fees", "shedding",
                   "co2") and all(abs(r.get(key) or 0.0) < 0.5 for r in rows):
            continue
        body.append([label] + [" / ".join("" if _missing(r.get(k)) else pattern.format(r[k])
                                          for k in keys) for r in rows])
    text = markdown_table([""] + modes, body, [False] + [True] * len(modes))
    saving = rows[0].get("saving_of_sharing_per_yr")
    if not _missing(saving):
        text += (f"\n\nSaving of sharing ({rows[0]['saving_of_sharing_versus']} against "
                 f"individual batteries): {saving:,.0f} per year "
                 f"({rows[0]['saving_share']:.1%} of the individual cost), from "
                 f"{rows[0]['saving_of_sharing_from']}.")
    for r in rows:
        if not _missing(r.get("warnings")):
            text += "".join(f"\n\n{r['mode']}: {line}"
                            for line in str(r["warnings"]).splitlines())
    return text


def provenance_lines(frame: pd.DataFrame, study: Study) -> list[str]:
    """Where the numbers come from: the study file's hash, commits and versions of results."""
    lines = [f"- study file `{study.path.name}`, SHA-256 `{study.digest()[:16]}`"]
    for column, label in (("git_commit", "git commits"), ("sesplan_version",
                                                         "sesplan versions")):
        if column in frame:
            values = sorted({str(v) for v in frame[column] if not _missing(v)})
            lines.append(f"- {label} of the results: " + ", ".join(f"`{v}`" for v in values))
    lines.append("- every case file holds its full configuration (`case_config`), versions, "
                 "seed and timings in its attributes")
    return lines


def summary_markdown(study: Study, frame: pd.DataFrame, details: dict[str, str]) -> str:
    """``summary.md``: title, description, case table, per-case tables, failures,
    provenance."""
    ok = int((frame.drop_duplicates("case")["status"] == "ok").sum())
    total = frame["case"].nunique()
    parts = [f"# {study.title}", ""]
    if study.description:
        parts += [study.description, ""]
    parts += [f"{total} cases, {ok} solved, {total - ok} failed.", "", "## Cases", "",
              case_table(frame, study.outputs.columns), ""]
    for name, text in details.items():
        parts += [f"## {name}", "", text, ""]
    failed = frame[frame["status"] != "ok"].drop_duplicates("case")
    if len(failed):
        parts += ["## Failed cases", ""]
        parts += [f"- `{row.case}`: {row.error}" for row in failed.itertuples()]
        parts += [""]
    parts += ["## Provenance", "", *provenance_lines(frame, study), ""]
    return "\n".join(parts)
