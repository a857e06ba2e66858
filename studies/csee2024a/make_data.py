"""Derive the study's days files from the two published attachments in ``data/``.

``data/typical_day.csv`` and ``data/monthly_typical_days.csv`` are the contest attachments
as published (tidy, one row per hour). This script writes, next to them:

- ``monthly_days.csv``: the 12 monthly typical days with the loads added (the contest gives
  one load profile, the typical-day loads, for every month); ``month`` is the scenario
  column, no probability column (the 12 days are equally likely);
- ``joint_typical_day.csv`` and ``joint_monthly_days.csv``: the three parks as one
  microgrid ("joint operation" in the contest: one power balance), ``load_kw`` the sum of
  the three loads, ``pv_pu`` and ``wind_pu`` the capacity-weighted availability
  ``(750 pv_A + 600 pv_C) / 1350`` and ``(1000 wind_B + 500 wind_C) / 1500``.

The published quirk (month 2, hour 23, ``wind_B_pu`` = 0.4347 in the monthly file, 0 in the
typical day) is kept as published.

Run: ``python studies/csee2024a/make_data.py`` (idempotent; the outputs are committed).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent / "data"

PV_KW = {"A": 750.0, "C": 600.0}
WIND_KW = {"B": 1000.0, "C": 500.0}
LOADS = ["load_A_kw", "load_B_kw", "load_C_kw"]
PU = ["pv_A_pu", "wind_B_pu", "pv_C_pu", "wind_C_pu"]
FLOAT_FORMAT = "%.10g"


def monthly_days(typical: pd.DataFrame, monthly: pd.DataFrame) -> pd.DataFrame:
    """The monthly per-unit profiles with the typical-day loads added to every month."""
    out = monthly.merge(typical[["hour", *LOADS]], on="hour", how="left", validate="m:1")
    if out[LOADS].isna().any().any():
        raise ValueError("monthly file has hours that the typical day lacks")
    return out[["month", "hour", *LOADS, *PU]].sort_values(["month", "hour"])


def joint(days: pd.DataFrame) -> pd.DataFrame:
    """The three parks as one microgrid: summed load, capacity-weighted availability."""
    keys = [c for c in ("month", "hour") if c in days.columns]
    out = days[keys].copy()
    out["load_kw"] = days[LOADS].sum(axis=1)
    out["pv_pu"] = sum(kw * days[f"pv_{p}_pu"] for p, kw in PV_KW.items()) / sum(PV_KW.values())
    out["wind_pu"] = (sum(kw * days[f"wind_{p}_pu"] for p, kw in WIND_KW.items())
                      / sum(WIND_KW.values()))
    return out


def main() -> None:
    typical = pd.read_csv(DATA / "typical_day.csv")
    monthly = monthly_days(typical, pd.read_csv(DATA / "monthly_typical_days.csv"))
    outputs = {
        "monthly_days.csv": monthly,
        "joint_typical_day.csv": joint(typical),
        "joint_monthly_days.csv": joint(monthly),
    }
    for name, table in outputs.items():
        table.to_csv(DATA / name, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        print(f"wrote {DATA / name} ({len(table)} rows)")


if __name__ == "__main__":
    main()
