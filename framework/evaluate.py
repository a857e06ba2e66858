"""Evaluation of plans: a plan's capacities on other days, and how good a stochastic plan is.

* :func:`evaluate_plan`: the capacities of a plan kept, the dispatch re-optimised on another
  scenario set (same result schema as planning);
* :func:`out_of_sample`: the same on every historical day (or on held-out days), reduced to
  the expected annual cost, its spread over the days, and the shedding
  (:func:`oos_statistics`); :func:`evaluate_with_statistics`: the evaluation and these
  statistics in one dataset (``sesplan evaluate``);
* :func:`vss_evpi`: the value of the stochastic solution ``VSS = EEV - RP`` and the expected
  value of perfect information ``EVPI = RP - WS``;
* :func:`optimality_gap_ci`: the MMW confidence interval of a plan's optimality gap when
  scenarios are days drawn from the history (:mod:`framework.mmw`, each batch of days an
  extensive form);
* :func:`sample_days`: a random sample of days for planning and the held-out rest.

Every cost is in currency/yr: ``annual = capex_annual + days_per_year * daily cost``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import xarray as xr

from framework.errors import InputError
from framework.model import storage_members
from framework.results import combine_modes
from framework.solve.ef import solve_ef
from framework.system import System

log = logging.getLogger(__name__)

DEFAULT_QUANTILES = (0.05, 0.5, 0.95)
"""Quantiles of the annualised cost over days that :func:`out_of_sample` reports."""
PROFILES = ("load_kw", "pv_pu", "wind_pu")
SHED_TOLERANCE_KWH = 1e-6
"""A day sheds load when more than this much energy (kWh) is shed."""


def plan_capacity(plan: xr.Dataset, mode: str, microgrids: Sequence[str]
                  ) -> dict[str, dict[str, float]]:
    """The capacities of the architecture ``mode`` in a result, as ``solve_ef``'s
    ``fixed_capacity`` takes them (empty for an architecture without storage)."""
    if mode not in plan["mode"].values:
        raise InputError(f"plan: no mode {mode!r} in it (it has {list(plan['mode'].values)})")
    storages = list(storage_members(mode, microgrids))
    have = [str(k) for k in plan["storage"].values]
    missing = [k for k in storages if k not in have]
    if missing:
        raise InputError(f"plan: storage(s) {missing} of mode {mode!r} are not in it ({have})")
    sel = plan.sel(mode=mode, storage=storages)
    return {name: {k: float(sel[name].sel(storage=k)) for k in storages}
            for name in ("cap_energy_kwh", "cap_power_kw")}


def _modes(plan: xr.Dataset, modes: Sequence[str] | None) -> list[str]:
    return [str(m) for m in plan["mode"].values] if modes is None else list(modes)


def evaluate_plan(system: System, scenarios: xr.Dataset, plan: xr.Dataset,
                  modes: Sequence[str] | None = None) -> xr.Dataset:
    """Cost and dispatch of a plan's capacities on a (possibly different) scenario set.

    Parameters
    ----------
    system : System
    scenarios : xr.Dataset
        The days to evaluate on (held-out days, every historical day, ...).
    plan : xr.Dataset
        A result (``cap_energy_kwh``, ``cap_power_kw`` per mode and storage).
    modes : sequence of str, optional
        Modes to evaluate; default every mode of the plan.

    Returns
    -------
    xr.Dataset
        Same schema as a planning result, with ``method = "evaluation"``.
    """
    return combine_modes([
        solve_ef(system, scenarios, mode,
                 fixed_capacity=plan_capacity(plan, mode, system.names))
        for mode in _modes(plan, modes)])


def weighted_quantiles(values: np.ndarray, weights: np.ndarray,
                       quantiles: Sequence[float]) -> np.ndarray:
    """Quantiles of a discrete distribution: the smallest value whose cumulative weight
    reaches ``q`` (the inverse of the distribution function; with equal weights the same as
    ``np.quantile(values, q, method="inverted_cdf")``)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order]) / np.sum(weights)
    positions = [min(int(np.searchsorted(cumulative, q - 1e-12)), len(values) - 1)
                 for q in quantiles]
    return values[order][positions]


def out_of_sample(system: System, plan: xr.Dataset, days: xr.Dataset,
                  modes: Sequence[str] | None = None,
                  quantiles: Sequence[float] = DEFAULT_QUANTILES) -> xr.Dataset:
    """A plan's capacities on every day of ``days``: expected annual cost, spread, shedding.

    The plan is evaluated on ``days`` (:func:`evaluate_plan`) and the evaluation reduced by
    :func:`oos_statistics`.

    Parameters
    ----------
    system : System
    plan : xr.Dataset
        A result with ``cap_energy_kwh`` and ``cap_power_kw`` per mode and storage.
    days : xr.Dataset
        A scenario set of days, e.g. ``scenarios_for(system, all_days=True)`` or the
        held-out days of :func:`sample_days`.
    modes : sequence of str, optional
        Default every mode of the plan.
    quantiles : sequence of float

    Returns
    -------
    xr.Dataset
        The ``oos_*`` statistics of :func:`oos_statistics`.
    """
    return oos_statistics(system, evaluate_plan(system, days, plan, modes), days, quantiles)


def evaluate_with_statistics(system: System, scenarios: xr.Dataset, plan: xr.Dataset,
                             modes: Sequence[str] | None = None,
                             quantiles: Sequence[float] = DEFAULT_QUANTILES) -> xr.Dataset:
    """A plan's capacities on ``scenarios`` (:func:`evaluate_plan`) with the out-of-sample
    statistics of that one evaluation (:func:`oos_statistics`) merged in: what
    ``sesplan evaluate`` writes, so that ``sesplan figures`` draws ``out_of_sample``.

    Returns
    -------
    xr.Dataset
        The evaluation (schema of a planning result, ``method = "evaluation"``) with the
        ``oos_*`` variables and the attributes ``oos_days`` and ``oos_days_method``.
    """
    ev = evaluate_plan(system, scenarios, plan, modes)
    stats = oos_statistics(system, ev, scenarios, quantiles)
    out = xr.merge([ev, stats], compat="no_conflicts", combine_attrs="override")
    out.attrs = {**ev.attrs, **stats.attrs}
    return out


def oos_statistics(system: System, ev: xr.Dataset, days: xr.Dataset,
                   quantiles: Sequence[float] = DEFAULT_QUANTILES) -> xr.Dataset:
    """The out-of-sample statistics of an evaluation of a plan on the days ``days``.

    For day ``d`` of probability ``p_d`` (``1/D`` for every historical day) the annualised
    cost is ``a_d = capex_annual + days_per_year * daily_cost_d``: what a year of days like
    ``d`` would cost. Reported per mode (all currency/yr unless stated):

    * ``oos_annual_cost`` ``sum_d p_d a_d`` (the expected annual cost out of sample);
    * ``oos_annual_cost_std`` ``sqrt(sum_d p_d (a_d - mean)^2)``;
    * ``oos_annual_cost_quantile`` (``cost_quantile``): quantiles of ``a_d``
      (:func:`weighted_quantiles`);
    * ``oos_annual_cost_by_day`` (``oos_day``): ``a_d``, with ``oos_day_label`` and
      ``oos_day_probability`` ``p_d``;
    * ``oos_annual_operating_cost`` (``cost_term``): the expected operating cost by term;
    * ``oos_shed_kwh_per_yr`` ``days_per_year * sum_d p_d shed_d`` (kWh/yr) and
      ``oos_shed_day_share`` ``sum_{d: shed_d > 0} p_d`` (share of days with shedding);
    * ``oos_self_sufficiency`` and ``oos_co2_t_per_yr`` (t/yr).

    Parameters
    ----------
    system : System
    ev : xr.Dataset
        The plan evaluated on ``days`` (:func:`evaluate_plan`).
    days : xr.Dataset
        The scenario set it was evaluated on (for the days' labels and method).
    quantiles : sequence of float

    Returns
    -------
    xr.Dataset
        Dimensions ``mode``, ``oos_day``, ``cost_quantile``, ``cost_term``.
    """
    dpy = system.planning.days_per_year
    p = ev["probability"].values
    daily = ev["daily_cost"].sum("cost_term").transpose("mode", "scenario").values
    annual = ev["capex_annual"].values[:, None] + dpy * daily
    mean = annual @ p
    std = np.sqrt(((annual - mean[:, None]) ** 2) @ p)
    shed = (ev["shed_kw"].sum(("step", "microgrid")) * system.history.step_h
            ).transpose("mode", "scenario").values
    labels = (days["scenario_label"].values.astype(str) if "scenario_label" in days
              else np.array([f"s{k}" for k in days["scenario"].values]))
    out = xr.Dataset(
        {"oos_annual_cost": ("mode", mean),
         "oos_annual_cost_std": ("mode", std),
         "oos_annual_cost_quantile": (("mode", "cost_quantile"), np.array(
             [weighted_quantiles(row, p, quantiles) for row in annual])),
         "oos_annual_cost_by_day": (("mode", "oos_day"), annual),
         "oos_day_label": ("oos_day", labels),
         "oos_day_probability": ("oos_day", p),
         "oos_annual_operating_cost": ev["annual_operating_cost"].transpose("mode",
                                                                            "cost_term"),
         "oos_shed_kwh_per_yr": ("mode", dpy * shed @ p),
         "oos_shed_day_share": ("mode", (shed > SHED_TOLERANCE_KWH).astype(float) @ p),
         "oos_self_sufficiency": ev["self_sufficiency"],
         "oos_co2_t_per_yr": ev["co2_t_per_yr"]},
        coords={"mode": ev["mode"].values, "oos_day": np.arange(len(p)),
                "cost_quantile": list(quantiles)})
    for name in ("oos_annual_cost", "oos_annual_cost_std", "oos_annual_cost_quantile",
                 "oos_annual_cost_by_day", "oos_annual_operating_cost"):
        out[name].attrs["units"] = "currency/yr"
    out["oos_shed_kwh_per_yr"].attrs["units"] = "kWh/yr"
    out["oos_co2_t_per_yr"].attrs["units"] = "t/yr"
    out.attrs = {"oos_days": len(p), "oos_days_method": str(days.attrs.get("method", ""))}
    log.info("out of sample on %d days: %s", len(p), {
        str(m): round(float(c), 2) for m, c in zip(out["mode"].values, mean)})
    return out


def profiles_only(scenarios: xr.Dataset) -> xr.Dataset:
    """The variables the model reads (probability and profiles), with the attributes."""
    keep = ["probability", *PROFILES, *[v for v in ("pv_kw", "wind_kw") if v in scenarios]]
    return scenarios[keep]


def expected_value_scenario(scenarios: xr.Dataset) -> xr.Dataset:
    """The expected-value day: one scenario of probability 1 whose profiles are the
    probability-weighted means ``sum_s pi_s x_s`` of every profile, step and microgrid."""
    p = scenarios["probability"]
    ds = xr.Dataset({q: (p * scenarios[q]).sum("scenario").expand_dims(scenario=[0])
                    .transpose(*scenarios[q].dims) for q in PROFILES})
    ds["probability"] = ("scenario", [1.0])
    ds.attrs = {**scenarios.attrs, "method": "expected-value", "n_clusters": 1}
    return ds


def single_scenario(scenarios: xr.Dataset, k: int) -> xr.Dataset:
    """Scenario at position ``k`` alone, with probability 1."""
    ds = profiles_only(scenarios).isel(scenario=[k])
    ds["probability"] = ("scenario", [1.0])
    return ds


def vss_evpi(system: System, scenarios: xr.Dataset,
             modes: Sequence[str] = ("individual", "accounts"),
             recourse_problem: xr.Dataset | None = None) -> xr.Dataset:
    """Value of the stochastic solution and expected value of perfect information.

    * ``RP``: optimal annual cost of the stochastic problem on ``scenarios``;
    * ``EV``: optimal cost on the expected-value day (:func:`expected_value_scenario`), and
      ``EEV``: that plan's capacities evaluated on ``scenarios``; ``VSS = EEV - RP >= 0``;
    * ``WS = sum_s pi_s z_s`` with ``z_s`` the optimal cost of scenario ``s`` alone, with
      capacities of its own (wait and see); ``EVPI = RP - WS >= 0``.

    Parameters
    ----------
    system : System
    scenarios : xr.Dataset
    modes : sequence of str
        Architectures (:data:`framework.architecture.ARCHITECTURES`); without storage
        (``none``, ``p2p``) nothing is planned, so ``VSS = 0`` and ``EVPI = 0``.
    recourse_problem : xr.Dataset, optional
        The extensive-form optimum on ``scenarios`` (``plan_ef``), if already solved.

    Returns
    -------
    xr.Dataset
        Per mode: ``rp_cost``, ``ev_cost``, ``eev_cost``, ``ws_cost``, ``vss``, ``evpi``
        (currency/yr), ``ev_cap_energy_kwh`` and ``ev_cap_power_kw`` (total of the
        expected-value plan), and ``ws_cost_by_scenario`` (``mode``, ``scenario``).
    """
    scenarios = profiles_only(scenarios)
    ev_day = expected_value_scenario(scenarios)
    n = scenarios.sizes["scenario"]
    p = scenarios["probability"].values
    rows: dict[str, list] = {k: [] for k in (
        "rp_cost", "ev_cost", "eev_cost", "ws_cost", "ev_cap_energy_kwh", "ev_cap_power_kw",
        "ws_cost_by_scenario")}
    for mode in modes:
        if recourse_problem is not None and mode in recourse_problem["mode"].values:
            rp = float(recourse_problem["annual_cost"].sel(mode=mode))
        else:
            rp = float(solve_ef(system, scenarios, mode)["annual_cost"].squeeze())
        ev = solve_ef(system, ev_day, mode)
        eev = solve_ef(system, scenarios, mode,
                       fixed_capacity=plan_capacity(ev, mode, system.names))
        ws = np.array([float(solve_ef(system, single_scenario(scenarios, k), mode)
                             ["annual_cost"].squeeze()) for k in range(n)])
        rows["rp_cost"].append(rp)
        rows["ev_cost"].append(float(ev["annual_cost"].squeeze()))
        rows["eev_cost"].append(float(eev["annual_cost"].squeeze()))
        rows["ws_cost"].append(float(ws @ p))
        rows["ev_cap_energy_kwh"].append(float(ev["cap_energy_kwh"].sum()))
        rows["ev_cap_power_kw"].append(float(ev["cap_power_kw"].sum()))
        rows["ws_cost_by_scenario"].append(ws)
    out = xr.Dataset(
        {k: (("mode", "scenario") if k == "ws_cost_by_scenario" else "mode", np.array(v))
         for k, v in rows.items()},
        coords={"mode": list(modes), "scenario": scenarios["scenario"].values})
    out["vss"] = out["eev_cost"] - out["rp_cost"]
    out["evpi"] = out["rp_cost"] - out["ws_cost"]
    for name in ("rp_cost", "ev_cost", "eev_cost", "ws_cost", "vss", "evpi",
                 "ws_cost_by_scenario"):
        out[name].attrs["units"] = "currency/yr"
    out["ev_cap_energy_kwh"].attrs["units"] = "kWh"
    out["ev_cap_power_kw"].attrs["units"] = "kW"
    log.info("VSS %s, EVPI %s", dict(zip(modes, np.round(out["vss"].values, 2))),
             dict(zip(modes, np.round(out["evpi"].values, 2))))
    return out


def optimality_gap_ci(system: System, plan: xr.Dataset, days: xr.Dataset,
                      modes: Sequence[str] | None = None, *, batch_size: int = 10,
                      batches: int = 5, seed: int = 0, confidence: float = 0.95
                      ) -> xr.Dataset:
    """The MMW confidence interval ``[0, Gbar + t s_G / sqrt(m)]`` of the optimality gap of a
    plan's capacities, with scenarios drawn from ``days`` (see :func:`framework.mmw.mmw_gap`).

    Without storage (``none``, ``p2p``) a plan has no first stage and its gap is 0.

    Returns
    -------
    xr.Dataset
        Per mode: ``mmw_gap`` (the estimate ``Gbar``), ``mmw_gap_std`` (``s_G``),
        ``mmw_ci_low`` (0), ``mmw_ci_high`` (currency/yr) and ``mmw_batch_gap``
        (``mode``, ``mmw_batch``); attributes ``mmw_batch_size``, ``mmw_batches``,
        ``mmw_seed``, ``mmw_confidence``.
    """
    from framework.mmw import mmw_gap

    modes = _modes(plan, modes)
    found = [mmw_gap(system, plan_capacity(plan, mode, system.names), days, mode,
                     batch_size=batch_size, batches=batches, seed=seed, confidence=confidence)
             for mode in modes]
    out = xr.Dataset(
        {"mmw_gap": ("mode", [g.estimate for g in found]),
         "mmw_gap_std": ("mode", [g.std for g in found]),
         "mmw_ci_low": ("mode", [g.ci_low for g in found]),
         "mmw_ci_high": ("mode", [g.ci_high for g in found]),
         "mmw_batch_gap": (("mode", "mmw_batch"), np.array([g.batch_gaps for g in found]))},
        coords={"mode": modes, "mmw_batch": np.arange(batches)})
    for name in out.data_vars:
        out[name].attrs["units"] = "currency/yr"
    out.attrs = {"mmw_batch_size": batch_size, "mmw_batches": batches, "mmw_seed": seed,
                 "mmw_confidence": confidence}
    return out


def sample_days(days: xr.Dataset, n: int, seed: int = 0) -> tuple[xr.Dataset, xr.Dataset]:
    """Split a set of days into a random sample of ``n`` days and the held-out rest.

    The sample is drawn without replacement with ``numpy.random.default_rng(seed)``; each
    part keeps its days in their original order, with probabilities renormalised to sum 1.
    """
    total = days.sizes["scenario"]
    if not 1 <= n < total:
        raise InputError(f"sample_days: expected 1 <= n < {total} (the number of days), got {n}")
    chosen = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    rest = np.setdiff1d(np.arange(total), chosen)
    return _subset(days, chosen, "sample", seed), _subset(days, rest, "held-out", seed)


def _subset(days: xr.Dataset, index: np.ndarray, method: str, seed: int) -> xr.Dataset:
    out = days.isel(scenario=index)
    if "day" in out.dims and out.sizes["day"] == days.sizes["scenario"]:
        out = out.isel(day=index)
        out["membership"] = ("day", np.arange(len(index)))
    elif "membership" in out:
        out = out.drop_vars("membership")
    out["probability"] = out["probability"] / out["probability"].sum()
    out = out.assign_coords(scenario=np.arange(len(index)))
    out.attrs = {**days.attrs, "method": method, "n_clusters": len(index), "seed": seed}
    return out
