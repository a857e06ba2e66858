"""Figures of one plan result (or scenario set): representative days, state of charge,
capacities and costs, and the plan's cost on every day out of sample.

Each function takes a dataset and returns a :class:`matplotlib.figure.Figure`; none solves
or writes anything.
"""

from __future__ import annotations

import json

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import FuncFormatter

from framework.architecture import STATION
from framework.errors import InputError
from framework.plotting.style import (
    BATTERY_COLORS,
    COST_COLORS,
    COST_LABELS,
    DOUBLE_COLUMN_IN,
    PALETTE,
    flag_uncertified,
    mode_color,
    mode_label,
    new_figure,
    new_figure_rows,
    station_modes,
    style,
    uncertified,
)

STORAGE_COST_TERMS = ("capex", "degradation", "fees")
"""The cost terms of storage and exchange that the capacity and cost figure draws again on
their own scale."""
ZERO = 1e-6
"""Values below this (in absolute value) print as zero."""
THOUSANDS = FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}")
"""Tick labels with thousands separators (``12,000``; small values as they are)."""


def _need(ds: xr.Dataset, names: tuple[str, ...], figure: str) -> None:
    missing = [n for n in names if n not in ds]
    if missing:
        raise InputError(f"{figure}: the dataset lacks {missing}")


def step_hours(ds: xr.Dataset) -> float:
    """Step length (h): attribute ``step_h`` (scenario files) or the stored configuration."""
    if "step_h" in ds.attrs:
        return float(ds.attrs["step_h"])
    if "config" in ds.attrs:
        return float(json.loads(ds.attrs["config"])["history"]["step_h"])
    return 24.0 / ds.sizes["step"]


def _stairs(values: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Hourly values as a step line over the day (``0 .. 24 h``)."""
    return np.arange(len(values) + 1) * dt, np.append(values, values[-1])


def _scenario_labels(ds: xr.Dataset) -> list[str]:
    if "scenario_label" in ds:
        return [f"day {v}" if str(v).isdigit() else str(v)
                for v in ds["scenario_label"].values]
    return [f"scenario {v}" for v in ds["scenario"].values]


def _day_axis(ax: object) -> None:
    ax.set_xlim(0, 24)
    ax.set_xticks([0, 6, 12, 18, 24])


def renewable_kw(ds: xr.Dataset) -> xr.DataArray:
    """Available PV plus wind power of all microgrids (kW), per scenario and step."""
    if "pv_kw" not in ds or "wind_kw" not in ds:
        return xr.zeros_like(ds["load_kw"].sum("microgrid"))
    return (ds["pv_kw"] * ds["pv_pu"] + ds["wind_kw"] * ds["wind_pu"]).sum("microgrid")


def plot_representative_days(ds: xr.Dataset, max_panels: int = 12) -> Figure:
    """Representative days with their weights.

    Up to ``max_panels`` scenarios: one panel per day with the total load and the available
    PV and wind power of all microgrids (kW) and the day's probability in the title. More
    scenarios: the net load (load minus renewables) of every day coloured by its
    probability, and the probabilities sorted; days of equal probability (every historical
    day, ``sesplan scenarios --all-days``) in one colour, with the mean day and the band of
    the middle 90 % of the days, and neither colour bar nor probabilities.

    Parameters
    ----------
    ds : xr.Dataset
        A scenario set or a plan result: ``probability``, ``load_kw``, ``pv_pu``, ``wind_pu``
        (and ``pv_kw``, ``wind_kw``).
    """
    _need(ds, ("probability", "load_kw"), "representative days")
    dt = step_hours(ds)
    load = ds["load_kw"].sum("microgrid").transpose("scenario", "step").values
    ren = renewable_kw(ds).transpose("scenario", "step").values
    prob = ds["probability"].values
    labels = _scenario_labels(ds)
    n = len(prob)
    if n > max_panels:
        return _days_overlay(load - ren, prob, dt)
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig, axes = new_figure(DOUBLE_COLUMN_IN, 1.45 * nrows + 0.5, nrows, ncols, sharex=True,
                           sharey=True, squeeze=False)
    top = max(float(load.max()), float(ren.max())) * 1.05
    with style():
        for k, ax in enumerate(axes.ravel()):
            if k >= n:
                ax.set_visible(False)
                continue
            x, y = _stairs(ren[k], dt)
            ax.fill_between(x, y, step="post", color=PALETTE[2], alpha=0.35, lw=0,
                            label="PV + wind available")
            ax.plot(*_stairs(load[k], dt), drawstyle="steps-post", color="black", lw=1.0,
                    label="load")
            ax.set_title(f"{labels[k]}: p = {prob[k]:.1%}")
            ax.set_ylim(0, top if top > 0 else 1)
            _day_axis(ax)
            ax.yaxis.set_major_formatter(THOUSANDS)
            if k + ncols >= n:
                ax.set_xlabel("hour of day")
                ax.xaxis.set_tick_params(labelbottom=True)
        fig.supylabel("power of all microgrids (kW)", fontsize=8)
        handles, names = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside upper center", ncols=2)
    return fig


def _days_overlay(net: np.ndarray, prob: np.ndarray, dt: float) -> Figure:
    if np.allclose(prob, prob[0], rtol=1e-9, atol=0.0):
        return _equally_likely_days(net, dt)
    fig, (ax, bars) = new_figure(DOUBLE_COLUMN_IN, 2.6, 1, 2, width_ratios=(2, 1))
    norm = mpl.colors.Normalize(float(prob.min()), float(prob.max()))
    cmap = mpl.colormaps["viridis"]
    with style():
        for k in np.argsort(prob, kind="stable"):
            ax.plot(*_stairs(net[k], dt), drawstyle="steps-post", color=cmap(norm(prob[k])),
                    lw=0.7)
        fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="probability")
        _net_load_axes(ax)
        ax.set_title(f"{len(prob)} representative days")
        ranked = np.sort(prob)[::-1]
        bars.bar(np.arange(1, len(ranked) + 1), ranked, color=PALETTE[0], width=0.8)
        bars.set_xlabel("scenario (by probability)")
        bars.set_ylabel("probability")
    return fig


def _equally_likely_days(net: np.ndarray, dt: float) -> Figure:
    """Days of equal probability (every historical day, a sample): their net loads in one
    colour, the mean day and the band of the middle 90 % of days in each step."""
    n = len(net)
    fig, ax = new_figure(DOUBLE_COLUMN_IN * 0.6, 2.6)
    with style():
        for row in net:
            ax.plot(*_stairs(row, dt), drawstyle="steps-post", color="#BBBBBB", lw=0.4,
                    alpha=0.5, zorder=1)
        low, high = np.quantile(net, [0.05, 0.95], axis=0)
        x, y = _stairs(low, dt)
        ax.fill_between(x, y, _stairs(high, dt)[1], step="post", color=PALETTE[0], alpha=0.35,
                        lw=0, zorder=2, label="5-95 % of the days (each step)")
        ax.plot(*_stairs(net.mean(axis=0), dt), drawstyle="steps-post", color="black", lw=1.4,
                zorder=3, label="mean day")
        _net_load_axes(ax)
        ax.set_title(f"{n} days, each of probability 1/{n}")
        ax.legend(loc="upper left")
    return fig


def _net_load_axes(ax: object) -> None:
    """Axes of net loads over the day: the zero line, hours, kW with thousands."""
    ax.axhline(0, color="black", lw=0.5)
    _day_axis(ax)
    ax.set_xlabel("hour of day")
    ax.set_ylabel("net load of all microgrids (kW)")
    ax.yaxis.set_major_formatter(THOUSANDS)


def _modes(ds: xr.Dataset) -> list[str]:
    return [str(m) for m in ds["mode"].values]


def _built(ds: xr.Dataset, mode: str) -> list[str]:
    """The storages of ``mode`` with an energy capacity (none in ``none`` and ``p2p``)."""
    cap = ds["cap_energy_kwh"].sel(mode=mode)
    return [str(k) for k in ds["storage"].values if float(cap.sel(storage=k)) > 1e-6]


def plot_soc(ds: xr.Dataset, n_scenarios: int = 4) -> Figure:
    """State of charge over the day of every architecture's storage, for the
    ``n_scenarios`` most probable scenarios (kWh; the day is cyclic, so the curve starts
    where it ends).

    A shared station (accounts or pooled, with or without p2p) is one line in the colour of
    its architecture; individual batteries are one line each (those of the first
    architecture with batteries) and their sum dashed in the architecture's colour.
    Architectures without storage (``none``, ``p2p``) or with nothing built have no line.

    Parameters
    ----------
    ds : xr.Dataset
        A plan result with ``soc_kwh`` (``mode``, ``scenario``, ``step``, ``storage``),
        ``cap_energy_kwh`` and ``probability``.
    """
    _need(ds, ("soc_kwh", "cap_energy_kwh", "probability"), "state of charge")
    dt = step_hours(ds)
    prob = ds["probability"].values
    chosen = np.argsort(-prob, kind="stable")[:n_scenarios]
    labels = _scenario_labels(ds)
    modes = _modes(ds)
    stations = [m for m in station_modes(modes) if STATION in _built(ds, m)]
    batteries = [(m, _built(ds, m)) for m in modes if m not in station_modes(modes)]
    batteries = [(m, own) for m, own in batteries if own]
    if not stations and not batteries:
        raise InputError(f"state of charge: no storage built in {modes}")
    fig, axes = new_figure(DOUBLE_COLUMN_IN, 2.4, 1, len(chosen), sharey=True, squeeze=False)
    x = np.arange(ds.sizes["step"] + 1) * dt
    with style():
        for ax, k in zip(axes[0], chosen):
            soc = ds["soc_kwh"].isel(scenario=k)
            for mode in stations:
                y = soc.sel(mode=mode, storage=STATION).values
                ax.plot(x, np.append(y[-1], y), color=mode_color(mode), lw=1.8,
                        label=mode_label(mode))
            for j, (mode, own) in enumerate(batteries):
                total = np.zeros(ds.sizes["step"])
                for name in own:
                    y = soc.sel(mode=mode, storage=name).values
                    total += y
                    if j == 0:
                        ax.plot(x, np.append(y[-1], y), color=_battery_color(ds, name),
                                lw=0.8, label=f"battery of {name}")
                ax.plot(x, np.append(total[-1], total), color=mode_color(mode), lw=1.4,
                        ls="--", label=f"{mode_label(mode)}: sum of the batteries")
            ax.set_title(f"{labels[k]}: p = {prob[k]:.1%}")
            _day_axis(ax)
            ax.set_xlabel("hour of day")
            ax.yaxis.set_major_formatter(THOUSANDS)
        axes[0, 0].set_ylim(0, 1.05 * max(float(ax.dataLim.y1) for ax in axes[0]))
        axes[0, 0].set_ylabel("state of charge (kWh)")
        handles, names = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside upper center", ncols=min(len(names), 3))
    return fig


def _stack(ax: object, x: float, parts: list[tuple[str, float, str]], width: float = 0.6
           ) -> None:
    """Bars stacked upwards (positive parts) and downwards (negative parts)."""
    up = down = 0.0
    for label, value, color in parts:
        bottom = up if value >= 0 else down
        ax.bar(x, value, width, bottom=bottom, color=color, label=label, edgecolor="white",
               linewidth=0.4)
        if value >= 0:
            up += value
        else:
            down += value


def plot_capacity_cost(ds: xr.Dataset) -> Figure:
    """Capacities and annual cost of every architecture of a result.

    Two rows, one bar per architecture. Top: energy capacity (kWh) and power capacity (kW),
    individual batteries stacked by microgrid, a station in its architecture's colour
    (architectures without storage have no bar). Bottom: the annual cost split (capex and
    every operating term, in currency/yr; negative terms such as export revenue below zero)
    with the total and, where the result has it, the saving of sharing, the station it is
    measured against and what it is made of; beside it the cost of storage and exchange
    (:data:`STORAGE_COST_TERMS`: capex, degradation, exchange fees) on its own scale, each
    bar labelled with its value, since grid energy usually dwarfs them in the split.

    Parameters
    ----------
    ds : xr.Dataset
        A plan result with ``cap_energy_kwh``, ``cap_power_kw``, ``capex_annual``,
        ``annual_operating_cost`` and ``annual_cost`` per mode.
    """
    _need(ds, ("cap_energy_kwh", "cap_power_kw", "capex_annual", "annual_operating_cost",
               "annual_cost"), "capacity and cost")
    modes = _modes(ds)
    storages = [str(k) for k in ds["storage"].values]
    flagged = uncertified(ds)
    ticks = [mode_label(mode) + ("\nNOT CERTIFIED" if mode in flagged else "")
             for mode in modes]
    rotation = {"rotation": 30, "ha": "right"} if len(modes) > 2 else {}
    terms = _cost_terms(ds)
    total = ds["annual_cost"].values
    threshold = 0.005 * float(np.max(np.abs(total)))
    stacked = ["capex"] + [t for t in terms if t != "capex" and float(
        np.abs(terms[t]).max()) > threshold]
    detail = [t for t in STORAGE_COST_TERMS if t in terms and float(np.abs(terms[t]).max())
              >= ZERO]

    def part(mode: str, k: str, value: float) -> tuple[str, float, str]:
        """A storage's bar segment: the station in its architecture's colour and label."""
        if k == STATION:
            return mode_label(mode), value, mode_color(mode)
        return f"battery of {k}", value, _battery_color(ds, k)

    tall = 0.5 * bool(rotation)
    fig, (top, bottom) = new_figure_rows(DOUBLE_COLUMN_IN, (2.5 + tall, 2.9 + tall))
    x = np.arange(len(modes))
    with style():
        capacity = top.subplots(1, 2)
        axes = bottom.subplots(1, 2 if detail else 1, squeeze=False,
                               width_ratios=(1.2, 1) if detail else None)[0]
        for ax, name, label in ((capacity[0], "cap_energy_kwh", "energy capacity (kWh)"),
                                (capacity[1], "cap_power_kw", "power capacity (kW)")):
            for i, mode in enumerate(modes):
                values = ds[name].sel(mode=mode)
                _stack(ax, i, [part(mode, k, float(values.sel(storage=k))) for k in storages
                               if float(values.sel(storage=k)) > 1e-6])
            ax.set_ylabel(label)
        _label_lives(capacity[0], ds, modes)
        cost = axes[0]
        for i in range(len(modes)):
            _stack(cost, i, [(COST_LABELS.get(t, t), float(terms[t][i]),
                              COST_COLORS.get(t, "#777777")) for t in stacked])
            cost.plot(i, total[i], marker="D", color="black", ls="none",
                      label="annual cost" if i == 0 else None)
            cost.annotate(_short(total[i]), (i, total[i]), xytext=(0, 4),
                          textcoords="offset points", ha="center", va="bottom", fontsize=6,
                          rotation=90 if len(modes) > 3 else 0)
        cost.axhline(0, color="black", lw=0.5)
        cost.set_ylim(top=(1.3 if len(modes) > 3 else 1.12) * float(np.max(total)))
        cost.set_ylabel("annual cost (currency/yr)")
        if detail:
            _grouped(axes[1], [(COST_LABELS[t], terms[t], COST_COLORS[t]) for t in detail])
            axes[1].set_ylabel("annual cost (currency/yr)")
            axes[1].set_title("storage and exchange, own scale")
        for ax in (*capacity, *axes):
            ax.set_xticks(x, ticks, **rotation)
            ax.yaxis.set_major_formatter(THOUSANDS)
            ax.grid(axis="x", visible=False)
        if "saving_of_sharing_per_yr" in ds.attrs and "individual" in modes:
            saving = float(ds.attrs["saving_of_sharing_per_yr"])
            base = float(ds["annual_cost"].sel(mode="individual"))
            versus = mode_label(str(ds.attrs.get("saving_of_sharing_versus", STATION)))
            source = ds.attrs.get("saving_of_sharing_from")
            cost.set_title(f"saving of sharing {_short(saving)} per year ({saving / base:.1%})\n"
                           f"with the {versus}" + (f",\nfrom {source}" if source else ""))
        _legend(top, list(capacity), "outside right upper", ncols=1)
        _legend(bottom, list(axes), "outside right upper", ncols=1)
    return flag_uncertified(fig, ds)


def _label_lives(ax: object, ds: xr.Dataset, modes: list[str]) -> None:
    """Above each architecture's energy bar, the shortest implied life of its cells when a
    cycle life shortens it below the calendar life (``implied_life_yr``)."""
    if "implied_life_yr" not in ds or "config" not in ds.attrs:
        return
    calendar = float(json.loads(ds.attrs["config"])["storage"]["lifetime_yr"])
    for i, mode in enumerate(modes):
        lives = ds["implied_life_yr"].sel(mode=mode).values
        shortest = float(np.nanmin(lives)) if np.isfinite(lives).any() else np.nan
        if shortest < calendar - 1e-6:
            height = float(ds["cap_energy_kwh"].sel(mode=mode).sum())
            ax.annotate(f"cells last {shortest:.1f} yr", (i, height), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=6)


def _cost_terms(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """The annual cost of a result by term, per mode (currency/yr): ``capex``, every
    operating term, and the demand charges where the result has them."""
    operating = ds["annual_operating_cost"].transpose("mode", "cost_term")
    demand = ({"demand_charges": ds["demand_charge_annual"].values}
              if "demand_charge_annual" in ds and "mode" in ds["demand_charge_annual"].dims
              else {})
    return {"capex": ds["capex_annual"].values, **{
        str(t): operating.sel(cost_term=t).values for t in ds["cost_term"].values}, **demand}


def _grouped(ax: object, series: list[tuple[str, np.ndarray, str]]) -> None:
    """Bars side by side at ``0, 1, ...`` (one per series), each labelled with its value
    (none that is zero)."""
    width = 0.8 / len(series)
    for j, (label, values, color) in enumerate(series):
        at = np.arange(len(values)) + (j - (len(series) - 1) / 2) * width
        bars = ax.bar(at, values, width, color=color, label=label, edgecolor="white",
                      linewidth=0.4)
        ax.bar_label(bars, ["" if abs(v) < ZERO else _short(v) for v in values], padding=2,
                     fontsize=5.5, rotation=90)
    ax.axhline(0, color="black", lw=0.5)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.25 * (high - low))  # room for the labels


def _short(value: float) -> str:
    """A value to print on a figure: thousands separated, three significant digits below 100
    (a saving of 0.46 is not "0"), ``0`` below 1e-6 (the solver's tolerance)."""
    if abs(value) < ZERO:
        return "0"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _battery_color(ds: xr.Dataset, storage: str) -> str:
    """The colour of a microgrid's own battery, the same in every figure of a result."""
    names = [str(k) for k in ds["storage"].values if str(k) != STATION]
    return BATTERY_COLORS[names.index(storage) % len(BATTERY_COLORS)]


def _legend(fig: Figure | SubFigure, axes: list, loc: str, ncols: int = 3) -> None:
    """One legend for several axes (of a figure or one of its rows), each label once."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc=loc, ncols=ncols)


def plot_out_of_sample(ds: xr.Dataset) -> Figure:
    """The plan's annualised cost on every day out of sample, from the most to the least
    expensive day (a duration curve over the days' probabilities), per mode, with the
    expected value as a dotted line (currency/yr).

    Parameters
    ----------
    ds : xr.Dataset
        A result with ``oos_annual_cost_by_day`` (``mode``, ``oos_day``),
        ``oos_annual_cost`` and ``oos_day_probability``
        (:func:`framework.evaluate.out_of_sample`).
    """
    _need(ds, ("oos_annual_cost_by_day", "oos_annual_cost"), "out of sample")
    n = ds.sizes["oos_day"]
    p = (ds["oos_day_probability"].values if "oos_day_probability" in ds
         else np.full(n, 1.0 / n))
    fig, ax = new_figure(DOUBLE_COLUMN_IN * 0.6, 2.8)
    with style():
        for j, mode in enumerate(_modes(ds)):
            values = ds["oos_annual_cost_by_day"].sel(mode=mode).values
            order = np.argsort(-values, kind="stable")
            share = np.concatenate([[0.0], np.cumsum(p[order])]) * 100
            color = mode_color(mode, j)
            ax.plot(share, np.append(values[order], values[order][-1]), color=color,
                    drawstyle="steps-post", label=mode_label(mode))
            ax.axhline(float(ds["oos_annual_cost"].sel(mode=mode)), color=color, lw=0.8,
                       ls=":", label=f"expected, {mode_label(mode)}")
        ax.set_xlabel("share of days at this cost or higher (%)")
        ax.set_ylabel("annualised day cost (currency/yr)")
        ax.set_title(f"{n} days out of sample; a year of days like each one")
        ax.set_xlim(0, 100)
        ax.yaxis.set_major_formatter(THOUSANDS)
        ax.legend()
    return flag_uncertified(fig, ds)
