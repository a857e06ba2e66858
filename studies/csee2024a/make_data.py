"""Derive the study's days files from the two published attachments in ``data/``.

``data/typical_day.csv`` and ``data/monthly_typical_days.csv`` are the contest attachments
as published (tidy, one row per hour). This script writes, next to them,
``monthly_days.csv``, the 12 monthly typical days with the loads added (the contest gives one
load profile, the typical-day loads, for every month); ``month`` is the scenario column, no
probability column (the 12 days are equally likely).

The published quirk (month 2, hour 23, ``wind_B_pu`` = 0.4347 in the monthly file, 0 in the
typical day) is kept as published.

Run: ``python studies/csee2024a/make_data.py`` (idempotent; the outputs are committed).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent / "data"

LOADS = ["load_A_kw", "load_B_kw", "load_C_kw"]
PU = ["pv_A_pu", "wind_B_pu", "pv_C_pu", "wind_C_pu"]
FLOAT_FORMAT = "%.10g"


def monthly_days(typical: pd.DataFrame, monthly: pd.DataFrame) -> pd.DataFrame:
    """The monthly per-unit profiles with the typical-day loads added to every month."""
    out = monthly.merge(typical[["hour", *LOADS]], on="hour", how="left", validate="m:1")
    if out[LOADS].isna().any().any():
        raise ValueError("monthly file has hours that the typical day lacks")
    return out[["month", "hour", *LOADS, *PU]].sort_values(["month", "hour"])


def main() -> None:
    typical = pd.read_csv(DATA / "typical_day.csv")
    monthly = monthly_days(typical, pd.read_csv(DATA / "monthly_typical_days.csv"))
    path = DATA / "monthly_days.csv"
    monthly.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    print(f"wrote {path} ({len(monthly)} rows)")


if __name__ == "__main__":
    main()
