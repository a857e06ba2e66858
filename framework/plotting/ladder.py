"""The value of sharing, decomposed: a waterfall from individual batteries to the pooled
station, and the annual cost of every rung of the ladder (``sesplan plan --compare``).

The figure reads a result of :func:`framework.ladder.solve_ladder`; it never solves.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from framework.ladder import (
    DECOMPOSITION_RUNGS,
    EXCHANGE,
    LABELS,
    STORAGE,
    decompose,
    format_cost,
)
from framework.plotting.plan import THOUSANDS
from framework.plotting.style import (
    DOUBLE_COLUMN_IN,
    MODE_COLORS,
    flag_uncertified,
    new_figure,
    style,
)

#: Colours of a share that saves, a share that costs (negative), and of a rung without an
#: architecture colour (the end bars and the rungs take their architectures' colours).
SAVES_COLOR, COSTS_COLOR, RUNG_COLOR = "#777777", "#CC6677", "#999999"


def plot_ladder(ds: xr.Dataset) -> Figure:
    """The saving of the pooled station against individual batteries, decomposed.

    Left: a waterfall from the annual cost of individual batteries, minus the storage-
    sharing share, minus the energy-exchange share (order-free: the average of both orders),
    to the pooled station's cost; each share's one-order values (storage first / exchange
    first) are printed above it in brackets. A negative share is drawn upwards in another colour.
    Right: the annual cost of every rung of the ladder in the architectures' colours, the
    rungs of the decomposition filled, with the individual and pooled costs as lines.

    Parameters
    ----------
    ds : xr.Dataset
        A result holding the rungs ``individual``, ``accounts``, ``individual+p2p`` and
        ``pooled`` (:func:`framework.ladder.solve_ladder`).
    """
    parts = decompose(ds)
    cost = {str(m): float(ds["annual_cost"].sel(mode=m)) for m in ds["mode"].values}
    scale = max(abs(v) for v in cost.values())

    def money(value: float) -> str:
        return format_cost(value, scale)

    first, second = parts["split_storage_first"], parts["split_exchange_first"]
    fig, (fall, rungs) = new_figure(DOUBLE_COLUMN_IN, 2.8, 1, 2, width_ratios=(1.25, 1))
    with style():
        level = cost["individual"]
        labels = ["individual\nbatteries"]
        for x, share in ((1, STORAGE), (2, EXCHANGE)):
            value = parts[share]
            fall.bar(x, -value, bottom=level, width=0.6,
                     color=SAVES_COLOR if value >= 0 else COSTS_COLOR)
            fall.plot([x - 1.3, x + 0.3], [level, level], color="black", lw=0.5)
            fall.annotate(f"{'-' if value >= 0 else '+'}{money(abs(value))}\n"
                          f"({money(first[share])} /\n{money(second[share])})",
                          (x, max(level, level - value)), xytext=(0, 3),
                          textcoords="offset points", ha="center", va="bottom", fontsize=7)
            labels.append(LABELS[share].replace(" ", "\n", 1))
            level -= value
        fall.plot([2.7, 3.3], [level, level], color="black", lw=0.5)
        for x, name in ((0, "individual"), (3, "pooled")):
            fall.bar(x, cost[name], width=0.6, color=MODE_COLORS.get(name, RUNG_COLOR))
            fall.annotate(money(cost[name]), (x, cost[name]), xytext=(0, 3), ha="center",
                          textcoords="offset points", va="bottom", fontsize=7)
        fall.set_xticks(range(4), [*labels, "pooled\nstation"])
        fall.set_ylabel("annual cost (currency/yr)")
        fall.set_title(f"saving {money(parts['saving_per_yr'])}/yr, average of both orders\n"
                       "(in brackets: storage first / exchange first)")
        fall.set_ylim(top=1.3 * max(cost["individual"], cost["pooled"], 1e-9))
        fall.yaxis.set_major_formatter(THOUSANDS)
        fall.grid(axis="x", visible=False)

        names = list(cost)
        y = np.arange(len(names))[::-1]
        for yk, name in zip(y, names):
            color = MODE_COLORS.get(name, RUNG_COLOR)
            rungs.plot(cost[name], yk, marker="o", ls="none", ms=5, color=color,
                       markerfacecolor=color if name in DECOMPOSITION_RUNGS else "white")
            rungs.annotate(money(cost[name]), (cost[name], yk), xytext=(5, 0),
                           textcoords="offset points", va="center", fontsize=7)
        for name, ls in (("individual", "--"), ("pooled", ":")):
            rungs.axvline(cost[name], color=MODE_COLORS.get(name, RUNG_COLOR), lw=0.8, ls=ls,
                          label=name)
        rungs.set_yticks(y, names)
        rungs.set_xlabel("annual cost (currency/yr)")
        rungs.set_title("every rung of the ladder\n(filled: the rungs of the decomposition)")
        low, high = min(cost.values()), max(cost.values())
        pad = max(high - low, 1e-9)
        rungs.set_xlim(low - 0.05 * pad, high + 0.25 * pad)
        rungs.xaxis.set_major_formatter(THOUSANDS)
        rungs.xaxis.set_major_locator(MaxNLocator(4))
        rungs.grid(axis="y", visible=False)
        rungs.legend(loc="lower right")
    return flag_uncertified(fig, ds)
