"""Figure of a plan operated on the year in order against its own cost: per architecture,
the annual cost as planned (representative days), on every historical day as a cyclic day,
and on every day in order with the state of charge carried from day to day
(:func:`framework.chronological.evaluate_chronological`)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from framework.plotting.plan import THOUSANDS
from framework.plotting.style import (
    PALETTE,
    SINGLE_COLUMN_IN,
    flag_uncertified,
    mode_label,
    new_figure,
    style,
)

#: The bars of each architecture: variable, label, colour.
BARS = (("planned_annual_cost", "as planned", PALETTE[0]),
        ("cyclic_annual_cost", "every day, cyclic", PALETTE[1]),
        ("chronological_annual_cost", "every day in order", PALETTE[2]))


def has_chronology(ds: xr.Dataset) -> bool:
    """Whether ``ds`` holds a chronological evaluation."""
    return all(name in ds for name, _, _ in BARS) and "mode" in ds.dims


def plot_chronology(ds: xr.Dataset) -> Figure:
    """Grouped bars per architecture (currency/yr), each labelled; the title gives the
    chronology gap (in order minus cyclic) and the planning gap (in order minus planned)."""
    modes = [str(m) for m in ds["mode"].values]
    fig, ax = new_figure(SINGLE_COLUMN_IN, 2.6)
    width = 0.8 / len(BARS)
    with style():
        for j, (name, label, color) in enumerate(BARS):
            values = ds[name].sel(mode=modes).values
            at = np.arange(len(modes)) + (j - 1) * width
            bars = ax.bar(at, values, width, color=color, label=label, edgecolor="white")
            ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=5, rotation=90,
                         padding=2)
        ax.set_xticks(range(len(modes)), [mode_label(m) for m in modes])
        ax.set_ylabel("annual cost (currency/yr)")
        ax.yaxis.set_major_formatter(THOUSANDS)
        top = float(np.nanmax([ds[n].values for n, _, _ in BARS]))
        ax.set_ylim(0, 1.3 * top)
        ax.legend(loc="upper center", ncols=3, fontsize=6, frameon=False)
        gaps = "; ".join(f"{mode_label(m)}: {float(ds['chronology_gap'].sel(mode=m)):+,.0f} in "
                         f"order vs cyclic, {float(ds['planning_gap'].sel(mode=m)):+,.0f} vs "
                         "planned" for m in modes)
        ax.set_title(gaps, fontsize=6)
    return flag_uncertified(fig, ds)
