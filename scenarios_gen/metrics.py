"""How well scenarios represent the history they were made from.

The *reconstructed year* replaces every historical day ``d`` by the profile of its scenario
``membership[d]``. Errors compare it with the history over the days of the scenario
dataset (its ``day`` dimension).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from framework.errors import InputError
from framework.system import QUANTITIES
from scenarios_gen.cluster import day_cube, day_starts, fit_scaling

NET_LOAD = "net_load_kw"
"""Derived quantity: total net load over microgrids, ``sum_m load - pv_kw pv - wind_kw wind``."""


def _day_index(history: xr.Dataset, scenarios: xr.Dataset) -> np.ndarray:
    """Positions of the scenario dataset's days in the history."""
    starts = day_starts(history).astype("datetime64[ns]")
    days = scenarios["day"].values.astype("datetime64[ns]")
    if days.size == 0:
        raise InputError("scenarios: dimension 'day' is empty: representation metrics need "
                         "the day membership of a clustered history")
    index = np.searchsorted(starts, days)
    if index.max() >= len(starts) or not np.array_equal(starts[index], days):
        raise InputError("scenarios: coordinate 'day': days not found in the history")
    return index


def reconstruct(history: xr.Dataset, scenarios: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The original and the reconstructed days.

    Returns
    -------
    original, reconstructed : ndarray, shape (day, quantity, step, microgrid)
        Original units, over the days of ``scenarios``.
    """
    original = day_cube(history)[_day_index(history, scenarios)]
    profiles = np.stack([scenarios[q].transpose(*("scenario", "step", "microgrid")).values
                         for q in QUANTITIES], axis=1)  # (scenario, quantity, step, microgrid)
    if profiles.shape[2:] != original.shape[2:]:
        raise InputError(f"scenarios: expected {original.shape[2]} steps and "
                         f"{original.shape[3]} microgrids like the history, got "
                         f"{profiles.shape[2]} and {profiles.shape[3]}")
    return original, profiles[scenarios["membership"].values]


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _duration_rmse(a: np.ndarray, b: np.ndarray) -> float:
    """RMSE between duration curves, one curve per microgrid; ``a``, ``b``: (day, step, m)."""
    def curves(x: np.ndarray) -> np.ndarray:
        return np.sort(x.reshape(-1, x.shape[-1]), axis=0)

    return _rmse(curves(a), curves(b))


def _net_load(cube: np.ndarray, pv_kw: np.ndarray, wind_kw: np.ndarray) -> np.ndarray:
    """Total net load (kW), shape (day, step, 1)."""
    load, pv, wind = (cube[:, QUANTITIES.index(q)] for q in ("load_kw", "pv_pu", "wind_pu"))
    return (load - pv * pv_kw - wind * wind_kw).sum(axis=-1, keepdims=True)


def _energy(cube: np.ndarray, pv_kw: np.ndarray,
            wind_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Load and renewable energy per microgrid, in kW x steps (the step length cancels)."""
    load, pv, wind = (cube[:, QUANTITIES.index(q)] for q in ("load_kw", "pv_pu", "wind_pu"))
    return load.sum(axis=(0, 1)), (pv * pv_kw + wind * wind_kw).sum(axis=(0, 1))


def _ratio(rec: float, orig: float) -> float | None:
    """``rec / orig``; 1 when both are 0, None when only ``orig`` is."""
    if orig == 0:
        return 1.0 if rec == 0 else None
    return rec / orig


def representation_metrics(history: xr.Dataset, scenarios: xr.Dataset) -> dict:
    """Errors of the reconstructed year against the history.

    Parameters
    ----------
    history : xr.Dataset
        HISTORY dataset the scenarios were made from.
    scenarios : xr.Dataset
        SCENARIO dataset with a non-empty ``day`` dimension and ``membership``.

    Returns
    -------
    dict
        ``n_days``; ``rmse``: per quantity ``load_kw`` (kW), ``pv_pu``, ``wind_pu`` (p.u.)
        and ``net_load_kw`` (kW, total over microgrids), ``sqrt(mean_{d,t,m} (x - x_rec)^2)``;
        ``rmse_scaled``: the same over the min-max scaled active feature series
        (:class:`scenarios_gen.cluster.FeatureScaling`), the quantity clustering minimises;
        ``duration_rmse``: per quantity, RMSE between the sorted original and sorted
        reconstructed series of each microgrid; ``energy_ratio_load`` and
        ``energy_ratio_renewable``: per microgrid, reconstructed over original energy of the
        load and of ``pv_kw pv_pu + wind_kw wind_pu`` (1 when both are 0).
    """
    original, rec = reconstruct(history, scenarios)
    pv_kw, wind_kw = history["pv_kw"].values, history["wind_kw"].values
    scaling = fit_scaling(history)
    pairs = {q: (original[:, k], rec[:, k]) for k, q in enumerate(QUANTITIES)}
    pairs[NET_LOAD] = (_net_load(original, pv_kw, wind_kw), _net_load(rec, pv_kw, wind_kw))
    names = [str(m) for m in history["microgrid"].values]
    (load_o, ren_o), (load_r, ren_r) = (_energy(x, pv_kw, wind_kw) for x in (original, rec))
    return {
        "n_days": int(original.shape[0]),
        "rmse": {q: _rmse(a, b) for q, (a, b) in pairs.items()},
        "rmse_scaled": _rmse(scaling.features(original), scaling.features(rec)),
        "duration_rmse": {q: _duration_rmse(a, b) for q, (a, b) in pairs.items()},
        "energy_ratio_load": {n: _ratio(float(r), float(o))
                              for n, r, o in zip(names, load_r, load_o)},
        "energy_ratio_renewable": {n: _ratio(float(r), float(o))
                                   for n, r, o in zip(names, ren_r, ren_o)},
    }
