"""Weighted representative days (scenarios) from a history, and the scenario file.

:func:`generate_scenarios` clusters the historical days (after setting aside extreme days)
and returns the SCENARIO dataset described in ``docs/scenarios.md``;
:func:`days_as_scenarios` makes every historical day its own scenario;
:func:`write_scenarios` and :func:`read_scenarios` store and check ``scenarios.nc``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import framework
from framework.errors import InputError
from framework.io import write_netcdf
from framework.system import QUANTITIES
from scenarios_gen.cluster import (
    check_history,
    check_method,
    cluster_days,
    daily_energy,
    day_cube,
    day_starts,
    fit_scaling,
    pick_extreme_days,
)
from scenarios_gen.metrics import representation_metrics

logger = logging.getLogger(__name__)

DEFAULT_QUANTILES = (0.1, 0.9)
"""Quantiles of the member days stored as the spread of each scenario."""

UNITS = {"load_kw": "kW", "pv_pu": "1", "wind_pu": "1"}  # availability per unit of pv_kw / wind_kw
"""Units of the profile quantities."""

PROFILE_DIMS = ("scenario", "step", "microgrid")
QUANTILE_DIMS = ("quantile", *PROFILE_DIMS)
SCHEMA: dict[str, tuple[str, ...]] = {
    "probability": ("scenario",),
    **{q: PROFILE_DIMS for q in QUANTITIES},
    **{f"{q}_quantile": QUANTILE_DIMS for q in QUANTITIES},
    "membership": ("day",),
    "is_extreme": ("scenario",),
    "representative_day": ("scenario",),
    "scenario_label": ("scenario",),
    "pv_kw": ("microgrid",),
    "wind_kw": ("microgrid",),
}
"""Every variable of a scenario dataset and its dimensions."""

PROBABILITY_TOLERANCE = 1e-9
"""Allowed deviation of the sum of probabilities from 1."""

PU_TOLERANCE = 1e-9
"""Allowed excess of a per-unit availability over 1 (history is clipped to 1 when cleaned)."""


@dataclass(frozen=True)
class _Groups:
    """Scenarios as groups of historical days (indices into the day axis)."""

    members: list[np.ndarray]
    representatives: np.ndarray  # (scenario, quantity, step, microgrid), original units
    representative_day: np.ndarray  # (scenario,) datetime64, NaT for means
    labels: list[str]
    is_extreme: np.ndarray  # (scenario,) bool


def _check_quantiles(quantiles: Iterable[float]) -> tuple[float, ...]:
    values = tuple(float(q) for q in quantiles)
    if not values or any(not 0.0 <= q <= 1.0 for q in values) \
            or list(values) != sorted(set(values)):
        raise InputError(f"quantiles: expected increasing values in [0, 1], got {values!r}")
    return values


def _check_extreme_days(extreme_days: int, n_days: int) -> None:
    if isinstance(extreme_days, bool) or not isinstance(extreme_days, (int, np.integer)) \
            or not 0 <= extreme_days < n_days:
        raise InputError(f"extreme_days: expected an integer from 0 to {n_days - 1} (one day "
                         f"at least is left to cluster), got {extreme_days!r}")


def _date(day: np.datetime64) -> str:
    return str(np.datetime_as_string(day, unit="D"))


def _membership(groups: _Groups, n_days: int) -> np.ndarray:
    membership = np.full(n_days, -1, dtype=np.int64)
    for k, members in enumerate(groups.members):
        membership[members] = k
    return membership


def _spread(cube: np.ndarray, groups: _Groups, quantiles: tuple[float, ...]) -> np.ndarray:
    """Quantiles of the member days, numpy's default (linear) method.

    Returns
    -------
    ndarray, shape (quantile, scenario, quantity, step, microgrid)
    """
    return np.stack([np.quantile(cube[m], quantiles, axis=0) for m in groups.members], axis=1)


def _assemble(history: xr.Dataset, cube: np.ndarray, days: np.ndarray, groups: _Groups,
              quantiles: tuple[float, ...], attrs: dict) -> xr.Dataset:
    """The SCENARIO dataset of ``groups`` over the historical ``days`` in ``cube``."""
    n_scen = len(groups.members)
    counts = np.array([len(m) for m in groups.members], dtype=float)
    spread = _spread(cube, groups, quantiles)
    coords = {
        "scenario": np.arange(n_scen),
        "step": np.arange(cube.shape[2]),
        "microgrid": history["microgrid"].values,
        "day": days,
        "quantile": np.array(quantiles),
        "scenario_label": ("scenario", np.array(groups.labels, dtype=str)),
    }
    data_vars = {
        "probability": ("scenario", counts / counts.sum(), {"units": "1"}),
        "membership": ("day", _membership(groups, len(days)), {"units": "scenario index"}),
        "is_extreme": ("scenario", groups.is_extreme.astype(bool)),
        "representative_day": ("scenario", groups.representative_day.astype("datetime64[ns]")),
        "pv_kw": ("microgrid", history["pv_kw"].values.astype(float), {"units": "kW"}),
        "wind_kw": ("microgrid", history["wind_kw"].values.astype(float), {"units": "kW"}),
    }
    for k, q in enumerate(QUANTITIES):
        data_vars[q] = (PROFILE_DIMS, groups.representatives[:, k], {"units": UNITS[q]})
        data_vars[f"{q}_quantile"] = (QUANTILE_DIMS, spread[:, :, k],
                                      {"units": UNITS[q], "method": "numpy linear"})
    base = {"source": str(history.attrs.get("source", "unknown")),
            "step_h": float(history.attrs["step_h"]),
            "sesplan_version": framework.__version__}
    ds = xr.Dataset(data_vars, coords=coords, attrs={**base, **attrs})
    ds["day"].attrs["long_name"] = "start of the historical day"
    return ds


def _cluster_groups(cube: np.ndarray, days: np.ndarray, pool: np.ndarray,
                    features: np.ndarray, n_clusters: int, method: str,
                    seed: int) -> _Groups:
    """Cluster the ``pool`` days; representatives are member means or medoids."""
    result = cluster_days(features, n_clusters, method, seed)
    n_found = int(result.labels.max()) + 1
    members = [pool[result.labels == k] for k in range(n_found)]
    if result.medoids is None:
        reps = np.stack([cube[m].mean(axis=0) for m in members])
        rep_day = np.full(n_found, np.datetime64("NaT", "ns"))
    else:
        reps = cube[pool[result.medoids]]
        rep_day = days[pool[result.medoids]]
    return _Groups(members=members, representatives=reps, representative_day=rep_day,
                   labels=[f"c{k}" for k in range(n_found)],
                   is_extreme=np.zeros(n_found, dtype=bool))


def _extreme_groups(cube: np.ndarray, days: np.ndarray,
                    picks: list[tuple[int, str]]) -> _Groups:
    index = np.array([d for d, _ in picks], dtype=np.int64)
    return _Groups(members=[np.array([d]) for d in index],
                   representatives=cube[index].reshape(len(index), *cube.shape[1:]),
                   representative_day=days[index],
                   labels=[f"extreme-{kind}-{_date(days[d])}" for d, kind in picks],
                   is_extreme=np.ones(len(index), dtype=bool))


def _join(first: _Groups, second: _Groups) -> _Groups:
    return _Groups(members=first.members + second.members,
                   representatives=np.concatenate([first.representatives,
                                                   second.representatives]),
                   representative_day=np.concatenate([first.representative_day,
                                                      second.representative_day]),
                   labels=first.labels + second.labels,
                   is_extreme=np.concatenate([first.is_extreme, second.is_extreme]))


def generate_scenarios(history: xr.Dataset, n_clusters: int, method: str = "kmeans",
                       extreme_days: int = 0, seed: int = 0,
                       quantiles: tuple[float, ...] = DEFAULT_QUANTILES) -> xr.Dataset:
    """Cluster the historical days into weighted representative days.

    First ``extreme_days`` days are set aside, alternately the day of highest total net
    load and the day of lowest total renewable energy (:func:`pick_extreme_days`); each
    becomes a scenario of probability ``1/D``. The other days are clustered into
    ``n_clusters`` scenarios of probability ``n_k / D`` (share of days), ``D`` the number
    of historical days.

    Parameters
    ----------
    history : xr.Dataset
        HISTORY dataset (``time`` x ``microgrid``; ``load_kw`` in kW, ``pv_pu`` and
        ``wind_pu`` per unit; ``pv_kw``, ``wind_kw`` in kW; attribute ``step_h`` in h).
    n_clusters : int
        K, from 1 to the number of days left after the extreme days.
    method : {"kmeans", "kmedoids", "hierarchical"}
        Clustering method (:func:`scenarios_gen.cluster.cluster_days`). The representative
        is the mean of the member days for ``kmeans`` and ``hierarchical`` (it keeps the
        energy of the cluster) and the medoid day for ``kmedoids``.
    extreme_days : int
        N, the number of extreme days kept as scenarios of their own.
    seed : int
        Random state of the clustering; stored in the result.
    quantiles : tuple of float
        Quantiles (in [0, 1], increasing) of the member days stored per scenario and step
        as ``<quantity>_quantile`` (numpy's default linear interpolation).

    Returns
    -------
    xr.Dataset
        SCENARIO dataset with K + N scenarios: clusters ordered by their first day, then the
        extreme days in pick order. Attribute ``metrics`` holds
        :func:`scenarios_gen.metrics.representation_metrics` as JSON.
    """
    check_history(history)
    quantiles = _check_quantiles(quantiles)
    days = day_starts(history)
    _check_extreme_days(extreme_days, len(days))
    check_method(method, n_clusters, len(days) - extreme_days)
    cube = day_cube(history)
    net_load, renewable = daily_energy(cube, history["pv_kw"].values,
                                       history["wind_kw"].values, float(history.attrs["step_h"]))
    picks = pick_extreme_days(net_load, renewable, int(extreme_days))
    pool = np.setdiff1d(np.arange(len(days)), [d for d, _ in picks])
    logger.info("generating scenarios: %d days, %d clusters (%s), %d extreme days",
                len(days), n_clusters, method, extreme_days)
    features = fit_scaling(history).features(cube[pool])
    groups = _join(_cluster_groups(cube, days, pool, features, n_clusters, method, seed),
                   _extreme_groups(cube, days, picks))
    attrs = {"method": method, "n_clusters": len(groups.members) - len(picks),
             "n_extreme_days": len(picks), "seed": int(seed)}
    ds = _assemble(history, cube, days, groups, quantiles, attrs)
    ds.attrs["metrics"] = json.dumps(representation_metrics(history, ds))
    return ds


def _select_days(history: xr.Dataset, days: Iterable | None) -> np.ndarray:
    """Indices of the selected days (all when ``days`` is None), in chronological order."""
    starts = day_starts(history)
    if days is None:
        return np.arange(len(starts))
    wanted = pd.to_datetime(list(days)).values.astype("datetime64[ns]")
    position = {d: k for k, d in enumerate(starts.astype("datetime64[ns]"))}
    missing = [_date(d) for d in wanted if d not in position]
    if missing:
        raise InputError(f"days: expected starts of days of the history, not found: "
                         f"{missing[:5]}")
    index = np.unique([position[d] for d in wanted])
    if index.size == 0:
        raise InputError("days: expected at least one day, got none")
    return index


def days_as_scenarios(history: xr.Dataset, days: Iterable | None = None) -> xr.Dataset:
    """Every historical day (or every selected day) as its own scenario.

    Parameters
    ----------
    history : xr.Dataset
        HISTORY dataset.
    days : iterable of date-like, optional
        Starts of the days to use (for example ``["2016-01-07"]``); all days when omitted.

    Returns
    -------
    xr.Dataset
        SCENARIO dataset with one scenario per selected day, probability ``1/D``; the
        ``day`` dimension holds the selected days, ``membership`` maps day ``i`` to
        scenario ``i`` and the quantiles equal the day's values. ``method`` is ``"days"``.
    """
    check_history(history)
    index = _select_days(history, days)
    starts = day_starts(history)[index]
    cube = day_cube(history)[index]
    groups = _Groups(members=[np.array([k]) for k in range(len(index))],
                     representatives=cube, representative_day=starts,
                     labels=[f"day-{_date(d)}" for d in starts],
                     is_extreme=np.zeros(len(index), dtype=bool))
    attrs = {"method": "days", "n_clusters": len(index), "n_extreme_days": 0, "seed": 0}
    ds = _assemble(history, cube, starts, groups, DEFAULT_QUANTILES, attrs)
    ds.attrs["metrics"] = json.dumps(representation_metrics(history, ds))
    return ds


def write_scenarios(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a scenario dataset to NetCDF atomically (checked first); return the path."""
    validate_scenarios(ds, where=str(path))
    return write_netcdf(ds, path)


def read_scenarios(path: str | Path) -> xr.Dataset:
    """Read ``scenarios.nc`` into memory and check it against the schema.

    Raises
    ------
    InputError
        The file is missing or not NetCDF, or :func:`validate_scenarios` finds a problem;
        the message names the file and the variable.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: scenario file not found")
    try:
        with xr.open_dataset(path) as opened:
            ds = opened.load()
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable NetCDF scenario file: {err}") from None
    validate_scenarios(ds, where=str(path))
    return ds


def _check_variable(ds: xr.Dataset, name: str, dims: tuple[str, ...], where: str) -> None:
    if name not in ds.variables:
        raise InputError(f"{where}: variable {name!r} is missing")
    var = ds[name]
    if var.dims != dims:
        raise InputError(f"{where}: variable {name!r}: expected dimensions {dims}, got "
                         f"{var.dims}")
    if var.dtype.kind in "fiu" and var.size:
        if bool(var.isnull().any()):
            raise InputError(f"{where}: variable {name!r} contains NaN "
                             f"({int(var.isnull().sum())} values)")
        if float(var.min()) < 0:
            raise InputError(f"{where}: variable {name!r}: expected values >= 0, got "
                             f"minimum {float(var.min())!r}")
        if name.startswith(("pv_pu", "wind_pu")) and float(var.max()) > 1 + PU_TOLERANCE:
            at = {dim: var[dim].values[i] if dim in var.coords else i for dim, i in zip(
                var.dims, np.unravel_index(int(np.argmax(var.values)), var.shape), strict=True)}
            raise InputError(f"{where}: variable {name!r}: expected per-unit availability "
                             f"<= 1, got {float(var.max())!r} at "
                             + ", ".join(f"{dim} {value}" for dim, value in at.items()))


def _check_coords(ds: xr.Dataset, where: str) -> None:
    n_scen = ds.sizes.get("scenario", 0)
    if n_scen == 0 or ds.sizes.get("step", 0) == 0:
        raise InputError(f"{where}: expected at least one scenario and one step, got sizes "
                         f"{dict(ds.sizes)}")
    if not np.array_equal(ds["scenario"].values, np.arange(n_scen)):
        raise InputError(f"{where}: coordinate 'scenario': expected 0..{n_scen - 1}")
    quantiles = ds["quantile"].values
    if quantiles.size and (quantiles.min() < 0 or quantiles.max() > 1):
        raise InputError(f"{where}: coordinate 'quantile': expected values in [0, 1], got "
                         f"{quantiles.tolist()}")
    if "step_h" not in ds.attrs:
        raise InputError(f"{where}: attribute 'step_h' is missing")


def validate_scenarios(ds: xr.Dataset, where: str = "scenarios") -> None:
    """Check a scenario dataset against :data:`SCHEMA`; an :class:`InputError` if wrong.

    Checks: every variable present with its dimensions; no NaN and no negative values in
    numeric variables; probabilities summing to 1 within :data:`PROBABILITY_TOLERANCE`;
    ``membership`` naming existing scenarios; ``is_extreme`` boolean; attribute ``step_h``.
    """
    for name, dims in SCHEMA.items():
        _check_variable(ds, name, dims, where)
    _check_coords(ds, where)
    total = float(ds["probability"].sum())
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        raise InputError(f"{where}: variable 'probability': expected values summing to 1 "
                         f"(within {PROBABILITY_TOLERANCE}), got sum {total!r}")
    membership = ds["membership"].values
    if membership.size and (membership.dtype.kind not in "iu"
                            or membership.max() >= ds.sizes["scenario"]):
        raise InputError(f"{where}: variable 'membership': expected scenario indices 0.."
                         f"{ds.sizes['scenario'] - 1}")
    if ds["is_extreme"].dtype != bool:
        raise InputError(f"{where}: variable 'is_extreme': expected booleans, got "
                         f"{ds['is_extreme'].dtype}")
