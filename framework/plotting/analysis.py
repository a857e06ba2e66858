"""Figures across cases and of iterative methods: objective against the number of
representative days, price of robustness, allocation of the saving, bound convergence,
and the scaling of progressive hedging over MPI ranks against the extensive form.

Cross-case figures take the study summary as a dataset with dimension ``row`` (one row per
case and architecture, as in ``summary.csv``; see ``docs/studies.md``): they read the columns
``status``, ``task``, ``method``, ``mode``, ``clusters``, ``cluster_method``, ``all_days``,
``sample_days``, ``option_gamma``, ``annual_cost``, ``oos_annual_cost``,
``nominal_annual_cost``, ``stochastic_worst_case_cost``, ``stochastic_worst_case_bound``,
``energy_kwh``, ``power_kw``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from framework.architecture import ARCHITECTURES
from framework.errors import InputError
from framework.plotting.plan import THOUSANDS, _legend
from framework.plotting.style import (
    DOUBLE_COLUMN_IN,
    PALETTE,
    mode_color,
    mode_label,
    new_figure,
    shade,
    station_modes,
    style,
)

RULE_LABELS = {"shapley": "Shapley", "sampled_shapley": "Shapley (sampled)",
               "nucleolus": "nucleolus", "least_core": "least core",
               "proportional_cost": "proportional to cost",
               "proportional_energy": "proportional to energy"}
#: Names of a lower and an upper bound over iterations: C&CG's, and PH's outer and inner.
BOUNDS = (("lower_bound", "upper_bound"), ("outer_bound", "inner_bound"))
SCALING_SHADES = (1.0, 0.55)
"""The scaling figure's lines: the architecture's colour for the fewest days, mixed with
white in these proportions for the next."""
SCALING_MARKERS = ("o", "s", "^", "v")


GAP_FLOOR = 1e-9
"""Smallest relative gap drawn (a gap of rounding size would set the log scale)."""
GAP_MARKERS = ("o", "s", "^", "D")
"""Open markers of the modes' gaps, each smaller than the one before, so that equal gaps
all show."""


def _rows(summary: xr.Dataset, mode: str | None) -> tuple[xr.Dataset, str]:
    """The plan rows that solved, of architecture ``mode`` (default: the first with a
    shared station, else the first)."""
    text = {name: summary[name].values.astype(str) for name in ("status", "task", "mode")}
    ok = np.flatnonzero((text["status"] == "ok") & (text["task"] == "plan"))
    if ok.size == 0:
        raise InputError("summary: no solved plan case")
    modes = list(dict.fromkeys(text["mode"][ok]))
    mode = mode or (station_modes(modes) or modes)[0]
    return summary.isel(row=ok[text["mode"][ok] == mode]), mode


def _column(ds: xr.Dataset, name: str) -> np.ndarray:
    if name not in ds:
        return np.full(ds.sizes.get("row", 0), np.nan)
    return np.asarray(ds[name].values, dtype=float)


def plot_objective_vs_k(summary: xr.Dataset, mode: str | None = None,
                        method: str | None = None) -> Figure:
    """In-sample objective, out-of-sample cost and capacities against the number of
    representative days ``K``, one colour per clustering method.

    Rows with ``all_days = 1`` (every day a scenario) are drawn as horizontal reference
    lines; rows with ``sample_days > 0`` or an ``option_gamma`` (robust plans) are left out.

    Parameters
    ----------
    summary : xr.Dataset
        The study summary (dimension ``row``).
    mode : str, optional
        The architecture; default the first with a shared station in the rows.
    method : str, optional
        Solution method of the rows; default ``ef`` if present.
    """
    rows, mode = _rows(summary, mode)
    methods = [str(m) for m in rows["method"].values]
    method = method or ("ef" if "ef" in methods else methods[0])
    rows = rows.isel(row=np.flatnonzero(rows["method"].values.astype(str) == method))
    all_days = _column(rows, "all_days") == 1
    sampled = _column(rows, "sample_days") > 0
    robust = np.isfinite(_column(rows, "option_gamma"))
    clustered = rows.isel(row=np.flatnonzero(~all_days & ~sampled & ~robust))
    reference = rows.isel(row=np.flatnonzero(all_days))
    if len(np.unique(_column(clustered, "clusters"))) < 2:
        raise InputError("objective vs K: the summary has fewer than two values of clusters")
    oos = np.isfinite(_column(clustered, "oos_annual_cost")).any()
    fig, axes = new_figure(DOUBLE_COLUMN_IN, 4.6, 2, 2)
    cluster_methods = sorted({str(m) for m in clustered["cluster_method"].values})
    ks = np.unique(_column(clustered, "clusters"))
    panels = [(axes[0, 0], "annual_cost", "in-sample objective (currency/yr)"),
              (axes[0, 1], "oos_annual_cost", "cost on every day (currency/yr)"),
              (axes[1, 0], "energy_kwh", "energy capacity (kWh)"),
              (axes[1, 1], "power_kw", "power capacity (kW)")]
    if not oos:
        axes[0, 1].set_visible(False)
        panels.pop(1)
    with style():
        for j, cluster_method in enumerate(cluster_methods):
            sel = clustered.isel(row=np.flatnonzero(clustered["cluster_method"].values
                                                    == cluster_method))
            order = np.argsort(_column(sel, "clusters"))
            for ax, name, _ in panels:
                ax.plot(_column(sel, "clusters")[order], _column(sel, name)[order],
                        marker="o", color=PALETTE[j], label=cluster_method)
        for ax, name, label in panels:
            # the every-day plan's objective is also its cost on every day
            source = "annual_cost" if name == "oos_annual_cost" else name
            for value in _column(reference, source)[:1]:
                if np.isfinite(value):
                    ax.axhline(value, color="gray", ls=":", lw=0.9, label="every day a "
                               f"scenario (K = {_column(reference, 'n_scenarios')[0]:.0f})")
            ax.set_xscale("log", base=2)
            ax.set_xticks(ks, [f"{k:g}" for k in ks])
            ax.minorticks_off()
            ax.set_xlabel("representative days K")
            ax.set_ylabel(label)
            ax.yaxis.set_major_formatter(THOUSANDS)
        fig.suptitle(f"{mode_label(mode)}, method {method}", fontsize=8)
        _legend(fig, [ax for ax, _, _ in panels], "outside lower center", ncols=4)
    return fig


def _bound_bars(ax: Axes, g: np.ndarray, found: np.ndarray, upper: np.ndarray, top: float,
                color: str) -> None:
    """Bars from the costs at the worst cases found up to their certified bounds (to the top
    of the axes where no bound is known), where the two differ."""
    open_ = np.isfinite(found) & (upper > found * (1 + 1e-6))
    ends = np.where(np.isfinite(upper), upper, top)
    ax.vlines(g[open_], found[open_], ends[open_], color=color, lw=1.2)
    ax.scatter(g[open_ & np.isfinite(upper)], upper[open_ & np.isfinite(upper)], marker="_",
               s=60, color=color)


def plot_price_of_robustness(summary: xr.Dataset, mode: str | None = None) -> Figure:
    """Cost and capacity of robust plans against the budget of uncertainty ``Gamma``.

    Left: the robust plan's cost at the worst cases C&CG found (``annual_cost``, the robust
    objective when C&CG converged), with a bar up to its certified upper bound
    (``objective``) where a limit stopped C&CG short of it, the plan's cost on the nominal
    days (``nominal_annual_cost``) and out of sample (``oos_annual_cost``), with the
    stochastic plan (rows of method ``ef``) as horizontal lines, and where the rows have it
    (``plan_ccg(compare_stochastic=True)``) the stochastic plan's cost at its own worst
    cases of each budget (``stochastic_worst_case_cost``, a bar up to
    ``stochastic_worst_case_bound``); right: the energy capacity.

    Parameters
    ----------
    summary : xr.Dataset
        The study summary (dimension ``row``); robust rows carry ``option_gamma``.
    mode : str, optional
        The architecture; default the first with a shared station in the rows.
    """
    rows, mode = _rows(summary, mode)
    gamma = _column(rows, "option_gamma")
    robust = rows.isel(row=np.flatnonzero(np.isfinite(gamma)))
    stochastic = rows.isel(row=np.flatnonzero(~np.isfinite(gamma)
                                              & (rows["method"].values == "ef")))
    if len(np.unique(_column(robust, "option_gamma"))) < 2:
        raise InputError("price of robustness: fewer than two values of option_gamma")
    order = np.argsort(_column(robust, "option_gamma"))
    g = _column(robust, "option_gamma")[order]
    fig, (cost, cap) = new_figure(DOUBLE_COLUMN_IN, 2.6, 1, 2, width_ratios=(1.5, 1))
    lines = (("annual_cost", "robust plan at its worst cases (bar: up to its bound)", "-", "o"),
             ("nominal_annual_cost", "plan on the nominal days", "--", "s"),
             ("oos_annual_cost", "plan on every day (out of sample)", "-.", "^"))
    with style():
        for j, (name, label, ls, marker) in enumerate(lines):
            y = _column(robust, name)[order]
            if np.isfinite(y).any():
                cost.plot(g, y, ls=ls, marker=marker, color=PALETTE[j], label=label)
            for value in _column(stochastic, name)[:1]:
                if np.isfinite(value):
                    cost.axhline(value, color=PALETTE[j], ls=":", lw=0.8)
        compared = _column(robust, "stochastic_worst_case_cost")[order]
        if np.isfinite(compared).any():
            cost.plot(g, compared, ls=(0, (1, 1)), marker="x", color=PALETTE[3],
                      label="stochastic plan at its worst cases (bar: up to its bound)")
        top = cost.get_ylim()[1]
        for found, upper, color in (("annual_cost", "objective", PALETTE[0]),
                                    ("stochastic_worst_case_cost",
                                     "stochastic_worst_case_bound", PALETTE[3])):
            _bound_bars(cost, g, _column(robust, found)[order], _column(robust, upper)[order],
                        top, color)
        cap.plot(g, _column(robust, "energy_kwh")[order], marker="D",
                 color=mode_color(mode), label="energy capacity, robust")
        for value in _column(stochastic, "energy_kwh")[:1]:
            cap.axhline(value, color="gray", ls=":", lw=0.9,
                        label="energy capacity, stochastic")
        for ax in (cost, cap):
            ax.set_xlabel("budget of uncertainty \u0393")
            ax.yaxis.set_major_formatter(THOUSANDS)
        cost.set_ylabel("annual cost (currency/yr)")
        cap.set_ylabel("energy capacity (kWh)")
        cost.set_title(f"{mode_label(mode)}; dotted: stochastic plan")
        _legend(fig, [cost, cap], "outside lower center", ncols=2)
    return fig


def plot_allocation(ds: xr.Dataset) -> Figure:
    """The saving of sharing split among the microgrids by every allocation rule
    (currency/yr), and each microgrid's share of the station (kWh, the Shapley value of the
    capacity game) when the dataset has it.

    Parameters
    ----------
    ds : xr.Dataset
        An allocation result (:func:`framework.game.allocate`): ``saving`` (``rule``,
        ``microgrid``), optional ``capacity_share_energy_kwh``.
    """
    if "saving" not in ds or "rule" not in ds.dims:
        raise InputError("allocation: the dataset lacks 'saving' over 'rule'")
    players = [str(p) for p in ds["microgrid"].values]
    rules = [str(r) for r in ds["rule"].values]
    share = "capacity_share_energy_kwh" in ds
    fig, axes = new_figure(DOUBLE_COLUMN_IN, 2.6, 1, 2 if share else 1, squeeze=False,
                           width_ratios=(2, 1) if share else None)
    ax = axes[0, 0]
    x = np.arange(len(players))
    width = 0.8 / len(rules)
    with style():
        for j, rule in enumerate(rules):
            ax.bar(x + (j - (len(rules) - 1) / 2) * width,
                   ds["saving"].sel(rule=rule).values, width, color=PALETTE[j % len(PALETTE)],
                   label=RULE_LABELS.get(rule, rule))
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xticks(x, players)
        ax.set_ylabel("annual saving (currency/yr)")
        ax.yaxis.set_major_formatter(THOUSANDS)
        ax.grid(axis="x", visible=False)
        total = float(ds.attrs.get("saving_of_sharing_per_yr", np.nan))
        station = str(ds.attrs.get("architecture", "accounts"))
        ax.set_title(f"saving of the {mode_label(station)} {total:,.0f} per year, split by "
                     "rule")
        ax.legend(ncols=2)
        if share:
            right = axes[0, 1]
            right.bar(x, ds["capacity_share_energy_kwh"].values, 0.6,
                      color=mode_color(station))
            right.set_xticks(x, players, rotation=30, ha="right")
            right.set_ylabel("share of the station (kWh)")
            right.yaxis.set_major_formatter(THOUSANDS)
            right.grid(axis="x", visible=False)
            right.set_title("Shapley value of the capacity")
    return fig


def bound_names(ds: xr.Dataset, prefix: str | None = None) -> tuple[str, str]:
    """The lower- and upper-bound variables of an iteration history over dimension
    ``iteration``: ``<prefix>lower_bound`` and ``<prefix>upper_bound`` (C&CG), or
    ``<prefix>outer_bound`` and ``<prefix>inner_bound`` (PH); the first such pair when no
    prefix is given."""
    for low, high in BOUNDS:
        prefixes = [prefix] if prefix is not None else sorted(
            name[: -len(low)] for name in map(str, ds.data_vars) if name.endswith(low))
        for p in prefixes:
            names = (f"{p}{low}", f"{p}{high}")
            if all(n in ds and "iteration" in ds[n].dims for n in names):
                return names
    raise InputError("bound convergence: no '<prefix>lower_bound' and '<prefix>upper_bound' "
                     "(or PH's '<prefix>outer_bound' and '<prefix>inner_bound') over "
                     "dimension 'iteration' in the dataset")


def plot_bound_convergence(ds: xr.Dataset, prefix: str | None = None) -> Figure:
    """Lower and upper bound per iteration (C&CG, PH), and their relative gap.

    Expected schema: variables ``<prefix>lower_bound`` and ``<prefix>upper_bound`` over
    dimension ``iteration`` (coordinate: the iteration numbers), optionally also over
    ``mode`` (one colour per mode); infinite bounds (no feasible plan yet) are not drawn.
    The upper bound (small filled dots, solid) is drawn above the lower bound (large open
    squares, dashed), so both show where they meet. The gap is
    ``(UB - LB) / max(|UB|, 1)``, drawn at ``GAP_FLOOR`` (1e-9) at least (a dotted line
    marks a closed gap), one open marker per mode; without any finite
    upper bound there is no gap: one panel, the lower bound alone, and a title that says so.

    Parameters
    ----------
    ds : xr.Dataset
    prefix : str, optional
        ``"ccg_"``, ``"ph_"``, ``""``; default the first prefix found.
    """
    lower, upper = bound_names(ds, prefix)
    lb, ub = ds[lower], ds[upper]
    modes = [str(m) for m in ds["mode"].values] if "mode" in lb.dims else [None]

    def finite(bound: xr.DataArray, mode: str | None) -> np.ndarray:
        values = (bound.sel(mode=mode) if mode else bound).values.astype(float)
        return np.where(np.isfinite(values), values, np.nan)

    lows = [finite(lb, mode) for mode in modes]
    highs = [finite(ub, mode) for mode in modes]
    it = ds["iteration"].values if "iteration" in ds.coords else np.arange(1, len(lows[0]) + 1)
    gaps = [np.maximum((hi - lo) / np.maximum(np.abs(hi), 1.0), GAP_FLOOR)
            for lo, hi in zip(lows, highs)]
    has_gap = any(np.isfinite(g).any() for g in gaps)
    fig, axes = new_figure(DOUBLE_COLUMN_IN if has_gap else 0.6 * DOUBLE_COLUMN_IN, 2.5, 1,
                           2 if has_gap else 1, squeeze=False)
    bounds = axes[0, 0]
    with style():
        for j, mode in enumerate(modes):
            color = mode_color(mode, j) if mode else PALETTE[0]
            name = f"{mode_label(mode)}: " if mode else ""
            if np.isfinite(highs[j]).any():
                bounds.plot(it, highs[j], color=color, marker="o", markersize=3, zorder=3,
                            label=f"{name}upper bound")
            bounds.plot(it, lows[j], color=color, marker="s", markersize=6, ls="--",
                        markerfacecolor="none", zorder=2, label=f"{name}lower bound")
            if has_gap and np.isfinite(gaps[j]).any():
                axes[0, 1].plot(it, gaps[j], color=color, markerfacecolor="none",
                                marker=GAP_MARKERS[j % len(GAP_MARKERS)],
                                markersize=max(6.0 - 1.5 * j, 2.5),
                                label=mode_label(mode) if mode else "gap")
        missing = [mode_label(m) if m else "" for m, hi in zip(modes, highs)
                   if not np.isfinite(hi).any()]
        if missing:
            bounds.set_title("no upper bound (no feasible plan evaluated)"
                             + (f" for {', '.join(missing)}" if has_gap else "")
                             + ("" if has_gap else ": no gap"))
        bounds.set_ylabel("annual cost (currency/yr)")
        bounds.yaxis.set_major_formatter(THOUSANDS)
        _legend(fig, [bounds], "outside lower center", ncols=2)
        if has_gap:
            axes[0, 1].set_yscale("log")
            if any(np.any(g <= GAP_FLOOR) for g in gaps):
                axes[0, 1].axhline(GAP_FLOOR, color="gray", ls=":", lw=0.9)
                axes[0, 1].set_title(f"dotted: gap closed (drawn at {GAP_FLOOR:g})")
                axes[0, 1].set_ylim(GAP_FLOOR / 3, 3 * max(np.nanmax(np.concatenate(gaps)),
                                                           10 * GAP_FLOOR))
            axes[0, 1].set_ylabel("relative gap (UB - LB) / |UB|")
        for ax in axes[0]:
            ax.set_xlabel("iteration")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlim(float(np.min(it)) - 0.5, float(np.max(it)) + 0.5)
    return fig


def plot_scaling(rows: Sequence[Mapping]) -> Figure:
    """Wall time of progressive hedging to a certified gap against the MPI ranks, and its
    ratio to the extensive form (EF).

    Left: PH's time (log-log), one line per number of days and architecture (the default
    spokes; a colour per architecture, a shade and marker per number of days), other spokes as open
    diamonds, the EF's time as a dashed line of the same colour; right: PH time / EF time,
    with 1 (as fast as the EF) dotted.

    Parameters
    ----------
    rows : sequence of mapping
        Rows of ``studies/benchmarks/ph_vs_ef.py``: ``days``, ``mode``, ``ranks``,
        ``spokes`` (``"default"`` or the spokes run), ``ef`` and ``ph`` each with
        ``wall_s``.
    """
    if not rows:
        raise InputError("scaling: no benchmark rows")
    series: dict[tuple[int, str], list[Mapping]] = {}
    modes = [*ARCHITECTURES, *sorted({str(r["mode"]) for r in rows})]
    for row in sorted(rows, key=lambda r: (r["days"], modes.index(r["mode"]), r["ranks"])):
        series.setdefault((int(row["days"]), str(row["mode"])), []).append(row)
    ranks = sorted({int(r["ranks"]) for r in rows})
    days_index = {d: k for k, d in enumerate(sorted({days for days, _ in series}))}
    fig, (times, ratio) = new_figure(DOUBLE_COLUMN_IN, 2.8, 1, 2)
    with style():
        for j, ((days, mode), group) in enumerate(series.items()):
            k = days_index[days]
            color = (shade(mode_color(mode, 2 + j), SCALING_SHADES[k])
                     if k < len(SCALING_SHADES) else PALETTE[(2 + j) % len(PALETTE)])
            marker = SCALING_MARKERS[k % len(SCALING_MARKERS)]
            name = f"{days} days, {mode_label(mode)}"
            for default in (True, False):
                sel = [r for r in group if (r["spokes"] == "default") == default]
                if not sel:
                    continue
                x = [int(r["ranks"]) for r in sel]
                ph = np.array([float(r["ph"]["wall_s"]) for r in sel])
                ef = np.array([float(r["ef"]["wall_s"]) for r in sel])
                style_kw = ({"marker": marker, "label": name} if default else
                            {"marker": "D", "ls": "none", "markerfacecolor": "white",
                             "label": f"{name}, spokes "
                                      + "/".join(sorted({str(r['spokes']) for r in sel}))})
                times.plot(x, ph, color=color, **style_kw)
                ratio.plot(x, ph / ef, color=color, **style_kw)
            times.axhline(float(group[0]["ef"]["wall_s"]), color=color, ls="--", lw=0.9)
        ratio.axhline(1.0, color="gray", ls=":", lw=0.9)
        times.set_yscale("log")
        times.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        times.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        times.set_ylabel("wall time to a certified 1 % gap (s)")
        times.set_title("PH (solid), extensive form (dashed, same colour)")
        ratio.set_ylim(bottom=0)
        ratio.set_ylabel("PH time / EF time")
        ratio.set_title("ratio to the extensive form (dotted: 1)")
        for ax in (times, ratio):
            ax.set_xscale("log", base=2)
            ax.set_xticks(ranks, [str(n) for n in ranks])
            ax.minorticks_off()
            ax.set_xlabel("MPI ranks")
        _legend(fig, [times, ratio], "outside lower center", ncols=3)
    return fig
