"""Day matrix, feature scaling, extreme days and the clustering of historical days.

A *day* is the vector of every microgrid's ``load_kw``, ``pv_pu`` and ``wind_pu`` over the
steps of one calendar day. :func:`day_cube` arranges the history as an array
``(day, quantity, step, microgrid)`` in original units; :func:`fit_scaling` and
:func:`scaled_days` turn it into the flat feature matrix that is clustered.

Scaling
-------
Each *feature series* (one quantity of one microgrid, over the whole history) is min-max
scaled, ``x' = (x - min) / (max - min)``, with one offset and one factor for all steps of
the series, so the shape of a day is kept and every series spans ``[0, 1]`` (the scaling
tsam uses). A series is *inactive*, and left out of the features, when its range is 0
(it cannot tell days apart, and dividing by 0 would blow up) or when it is a ``pv_pu`` or
``wind_pu`` series of a microgrid without that plant (``pv_kw = 0`` or ``wind_kw = 0``:
its availability has no effect on the microgrid).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import xarray as xr
from sklearn.cluster import AgglomerativeClustering
from threadpoolctl import threadpool_limits

from framework.errors import InputError
from framework.system import QUANTITIES

logger = logging.getLogger(__name__)

METHODS = ("kmeans", "kmedoids", "hierarchical")
"""Clustering methods of :func:`cluster_days`."""

KMEANS_N_INIT = 50
"""Starts of k-means (each: greedy k-means++ seeding, then Lloyd iterations)."""

KMEANS_N_REFINE = 5
"""Best distinct Lloyd results that Hartigan single-day moves improve; the best is kept."""

KMEDOIDS_N_INIT = 10
"""Starts of FasterPAM (the first from BUILD, the others random); the lowest loss wins."""

LLOYD_MAX_ITER = 300
"""Most Lloyd iterations of one k-means start."""

HARTIGAN_MAX_PASSES = 100
"""Most passes of single-day moves after Lloyd (they stop earlier when none improves)."""

MOVE_TOLERANCE = 1e-12
"""Relative improvement of the sum of squares a single-day move must bring."""

CAPACITY_OF = {"pv_pu": "pv_kw", "wind_pu": "wind_kw"}
"""The installed capacity (kW) that an availability series (per unit) multiplies."""


def steps_per_day(history: xr.Dataset) -> int:
    """Number of steps in a day, ``24 / step_h``; an :class:`InputError` if not whole."""
    step_h = float(history.attrs.get("step_h", np.nan))
    if not (np.isfinite(step_h) and step_h > 0):
        raise InputError(f"history: attribute step_h: expected a step in hours > 0, got "
                         f"{history.attrs.get('step_h')!r}")
    steps = round(24.0 / step_h)
    if abs(steps * step_h - 24.0) > 1e-9:
        raise InputError(f"history: attribute step_h: expected a step that divides 24 h, "
                         f"got {step_h}")
    return steps


def check_history(history: xr.Dataset) -> int:
    """Check the parts of a history that clustering needs; return the steps per day.

    Raises
    ------
    InputError
        A variable is missing or has other dimensions, values are NaN, or the time axis
        does not hold whole days.
    """
    expected = {q: ("time", "microgrid") for q in QUANTITIES}
    expected.update(pv_kw=("microgrid",), wind_kw=("microgrid",))
    for name, dims in expected.items():
        if name not in history:
            raise InputError(f"history: variable {name!r} is missing")
        if history[name].dims != dims:
            raise InputError(f"history: variable {name!r}: expected dimensions {dims}, "
                             f"got {history[name].dims}")
        if bool(history[name].isnull().any()):
            raise InputError(f"history: variable {name!r} contains NaN")
    steps = steps_per_day(history)
    n_time = history.sizes["time"]
    if n_time == 0 or n_time % steps:
        raise InputError(f"history: time: expected whole days of {steps} steps, got "
                         f"{n_time} steps")
    return steps


def day_starts(history: xr.Dataset) -> np.ndarray:
    """The start of every day of the history (datetime64), shape ``(day,)``."""
    steps = check_history(history)
    return history["time"].values[::steps]


def day_cube(history: xr.Dataset) -> np.ndarray:
    """The history as days, in original units.

    Returns
    -------
    ndarray, shape (day, quantity, step, microgrid)
        Quantities in the order of ``framework.system.QUANTITIES`` (kW, per unit, per unit).
    """
    steps = check_history(history)
    n_days = history.sizes["time"] // steps
    n_mg = history.sizes["microgrid"]
    series = np.stack([history[q].values.astype(float) for q in QUANTITIES])  # (q, time, m)
    return series.reshape(len(QUANTITIES), n_days, steps, n_mg).transpose(1, 0, 2, 3)


@dataclass(frozen=True)
class FeatureScaling:
    """Min-max scaling of the feature series, ``x' = (x - offset) / scale``.

    Attributes
    ----------
    offset, scale : ndarray, shape (quantity, microgrid)
        Minimum and range of each series over the history (original units); the scale of
        an inactive series is 1.
    active : ndarray of bool, shape (quantity, microgrid)
        Series that enter the features (range > 0 and, for availability, a plant installed).
    """

    offset: np.ndarray
    scale: np.ndarray
    active: np.ndarray

    def apply(self, cube: np.ndarray) -> np.ndarray:
        """Scale a ``(day, quantity, step, microgrid)`` array; every series, active or not."""
        return (cube - self.offset[None, :, None, :]) / self.scale[None, :, None, :]

    def features(self, cube: np.ndarray) -> np.ndarray:
        """The flat feature matrix ``(day, feature)`` of the active series.

        Features are ordered by quantity, then microgrid, then step.
        """
        scaled = self.apply(cube).transpose(0, 1, 3, 2)  # (day, quantity, microgrid, step)
        return scaled[:, self.active, :].reshape(cube.shape[0], -1)


def fit_scaling(history: xr.Dataset) -> FeatureScaling:
    """Min-max scaling of each feature series over the whole history (see module notes)."""
    cube = day_cube(history)
    low = cube.min(axis=(0, 2))
    span = cube.max(axis=(0, 2)) - low
    active = span > 0
    for k, quantity in enumerate(QUANTITIES):
        if quantity in CAPACITY_OF:
            active[k] &= history[CAPACITY_OF[quantity]].values > 0
    return FeatureScaling(offset=low, scale=np.where(span > 0, span, 1.0), active=active)


def scaled_days(history: xr.Dataset) -> np.ndarray:
    """The feature matrix ``(day, feature)`` of a history (scaled active series)."""
    return fit_scaling(history).features(day_cube(history))


def daily_energy(cube: np.ndarray, pv_kw: np.ndarray, wind_kw: np.ndarray,
                 step_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Total net load and renewable energy of each day, summed over microgrids (kWh).

    ``renewable = sum_{t,m} (pv_kw_m pv_pu_tm + wind_kw_m wind_pu_tm) step_h`` and
    ``net_load = sum_{t,m} load_kw_tm step_h - renewable``.

    Returns
    -------
    net_load_kwh, renewable_kwh : ndarray, shape (day,)
    """
    load, pv, wind = (cube[:, QUANTITIES.index(q)] for q in ("load_kw", "pv_pu", "wind_pu"))
    renewable = (pv * pv_kw + wind * wind_kw).sum(axis=(1, 2)) * step_h
    return load.sum(axis=(1, 2)) * step_h - renewable, renewable


def pick_extreme_days(net_load_kwh: np.ndarray, renewable_kwh: np.ndarray,
                      n_days: int) -> list[tuple[int, str]]:
    """Pick ``n_days`` extreme days, alternating the two criteria.

    The first pick is the day with the highest net load, the second the day with the
    lowest renewable energy, then the next highest net load, and so on; a day is picked
    once. Ties go to the earlier day.

    Returns
    -------
    list of (day index, kind)
        ``kind`` is ``"net-load"`` or ``"low-renewable"``, in pick order.
    """
    if not 0 <= n_days <= len(net_load_kwh):
        raise InputError(f"extreme_days: expected 0 to {len(net_load_kwh)} days, got {n_days}")
    by_net_load = np.argsort(-net_load_kwh, kind="stable")
    by_renewable = np.argsort(renewable_kwh, kind="stable")
    picked: list[tuple[int, str]] = []
    taken: set[int] = set()
    for k in range(n_days):
        order, kind = (by_net_load, "net-load") if k % 2 == 0 else (by_renewable,
                                                                     "low-renewable")
        day = next(int(d) for d in order if int(d) not in taken)
        taken.add(day)
        picked.append((day, kind))
    return picked


@dataclass(frozen=True)
class Clustering:
    """Result of :func:`cluster_days`.

    Attributes
    ----------
    labels : ndarray of int, shape (day,)
        Cluster of each day, ``0..K-1``, numbered by the first day of each cluster.
    medoids : ndarray of int, shape (K,), optional
        Index of the medoid day of each cluster (``kmedoids`` only).
    """

    labels: np.ndarray
    medoids: np.ndarray | None = None


def check_method(method: str, n_clusters: int, n_days: int) -> None:
    """An :class:`InputError` for an unknown method or a K outside ``1..n_days``."""
    if method not in METHODS:
        raise InputError(f"method: expected one of {METHODS}, got {method!r}")
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) \
            or not 1 <= n_clusters <= n_days:
        raise InputError(f"n_clusters: expected an integer from 1 to {n_days} (the days "
                         f"left to cluster), got {n_clusters!r}")


def _sq_distances(features: np.ndarray, sq_norms: np.ndarray,
                  centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(day, center)``; ``sq_norms`` the days' ``|x|^2``."""
    sq = sq_norms[:, None] + (centers ** 2).sum(axis=1)[None, :]
    return np.maximum(sq - 2.0 * features @ centers.T, 0.0)


def _cluster_sums(features: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum of the member days of each cluster ``(cluster, feature)``."""
    return (labels[None, :] == np.arange(n_clusters)[:, None]).astype(float) @ features


def _means(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cluster means; 0 for an empty cluster."""
    return np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)


def _kmeans_plusplus(pair_sq: np.ndarray, n_clusters: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ seeding: indices of the first centers.

    Each next center is the best (lowest sum of squared distances to the nearest center) of
    ``2 + ln K`` days drawn with probability proportional to that squared distance.
    """
    n_days = len(pair_sq)
    trials = 2 + int(np.log(n_clusters))
    chosen = [int(rng.integers(n_days))]
    closest = pair_sq[chosen[0]].copy()
    for _ in range(1, n_clusters):
        total = closest.sum()
        if total > 0:
            draws = np.searchsorted(np.cumsum(closest), rng.random(trials) * total)
            draws = np.minimum(draws, n_days - 1)
        else:  # every day sits on a center already
            draws = rng.integers(n_days, size=1)
        potential = np.minimum(closest[None, :], pair_sq[draws]).sum(axis=1)
        best = int(draws[np.argmin(potential)])
        chosen.append(best)
        closest = np.minimum(closest, pair_sq[best])
    return np.array(chosen)


def _lloyd(features: np.ndarray, sq_norms: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Lloyd iterations from ``centers`` until the labels repeat; return the labels."""
    labels = np.argmin(_sq_distances(features, sq_norms, centers), axis=1)
    for _ in range(LLOYD_MAX_ITER):
        counts = np.bincount(labels, minlength=len(centers))
        sums = _cluster_sums(features, labels, len(centers))
        centers = np.where(counts[:, None] > 0, _means(sums, counts), centers)
        new = np.argmin(_sq_distances(features, sq_norms, centers), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _improving_days(features: np.ndarray, sq_norms: np.ndarray, labels: np.ndarray,
                    sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Days whose best single move lowers the sum of squares (vectorised test)."""
    rows = np.arange(len(labels))
    dist = _sq_distances(features, sq_norms, _means(sums, counts))
    own = counts[labels]
    remove = np.where(own > 1, own / np.maximum(own - 1, 1) * dist[rows, labels], -np.inf)
    add = counts / (counts + 1) * dist
    add[rows, labels] = np.inf
    return np.flatnonzero(add.min(axis=1) < remove * (1 - MOVE_TOLERANCE))


def _hartigan(features: np.ndarray, sq_norms: np.ndarray, labels: np.ndarray,
              n_clusters: int) -> np.ndarray:
    """Single-day moves that lower the sum of squares, until none is left (Hartigan-Wong).

    Moving day ``x`` from cluster ``a`` (``n_a`` days, mean ``c_a``) to ``b`` changes the
    sum of squares by ``n_b/(n_b+1) |x - c_b|^2 - n_a/(n_a-1) |x - c_a|^2``; a day moves
    when that is negative. This leaves Lloyd fixed points that such a move improves.
    """
    labels = labels.copy()
    counts = np.bincount(labels, minlength=n_clusters).astype(float)
    sums = _cluster_sums(features, labels, n_clusters)
    for _ in range(HARTIGAN_MAX_PASSES):
        candidates = _improving_days(features, sq_norms, labels, sums, counts)
        if candidates.size == 0:
            break
        for i in candidates:  # re-checked with the means moved by earlier moves
            a = labels[i]
            if counts[a] <= 1:
                continue
            dist = ((_means(sums, counts) - features[i]) ** 2).sum(axis=1)
            add = counts / (counts + 1) * dist
            add[a] = np.inf
            b = int(np.argmin(add))
            if add[b] < counts[a] / (counts[a] - 1) * dist[a] * (1 - MOVE_TOLERANCE):
                labels[i] = b
                counts[a], counts[b] = counts[a] - 1, counts[b] + 1
                sums[a] -= features[i]
                sums[b] += features[i]
    return labels


def _pairwise_sq(features: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between all days ``(day, day)``, zero diagonal."""
    sq_norms = (features ** 2).sum(axis=1)
    pair_sq = _sq_distances(features, sq_norms, features)
    np.fill_diagonal(pair_sq, 0.0)
    return pair_sq


def _sum_of_squares(features: np.ndarray, labels: np.ndarray, n_clusters: int) -> float:
    """Sum over days of the squared distance to the mean of the day's cluster."""
    sums = _cluster_sums(features, labels, n_clusters)
    means = _means(sums, np.bincount(labels, minlength=n_clusters).astype(float))
    return float(((features - means[labels]) ** 2).sum())


def _canonical(labels: np.ndarray) -> bytes:
    """The partition as bytes, independent of how its clusters are numbered."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse].astype(np.int64).tobytes()


def _kmeans(features: np.ndarray, n_clusters: int, seed: int) -> Clustering:
    """k-means: ``KMEANS_N_INIT`` k-means++/Lloyd starts; Hartigan moves on the best few.

    The ``KMEANS_N_REFINE`` distinct Lloyd partitions of lowest sum of squares are improved
    by single-day moves (:func:`_hartigan`); the lowest result wins (ties: the earlier).
    Runs with one BLAS thread: the matrices are small and threads only add overhead.
    """
    rng = np.random.default_rng(seed)
    sq_norms = (features ** 2).sum(axis=1)
    with threadpool_limits(limits=1, user_api="blas"):
        pair_sq = _pairwise_sq(features)
        starts: dict[bytes, tuple[float, np.ndarray]] = {}
        for _ in range(KMEANS_N_INIT):
            centers = features[_kmeans_plusplus(pair_sq, n_clusters, rng)]
            labels = _lloyd(features, sq_norms, centers)
            starts.setdefault(_canonical(labels),
                              (_sum_of_squares(features, labels, n_clusters), labels))
        best = sorted(starts.values(), key=lambda start: start[0])[:KMEANS_N_REFINE]
        refined = [_hartigan(features, sq_norms, labels, n_clusters) for _, labels in best]
        sse = [_sum_of_squares(features, labels, n_clusters) for labels in refined]
    return Clustering(labels=refined[int(np.argmin(sse))])


def _kmedoids(features: np.ndarray, n_clusters: int, seed: int) -> Clustering:
    """FasterPAM from the BUILD start and ``KMEDOIDS_N_INIT - 1`` random starts.

    The lowest sum of Euclidean distances to the medoids wins (ties: the earlier start).
    """
    import kmedoids

    dist = np.sqrt(_pairwise_sq(features))
    rng = np.random.default_rng(seed)
    runs = [kmedoids.fasterpam(dist, n_clusters, init="build", random_state=seed, n_cpu=1)]
    runs += [kmedoids.fasterpam(dist, n_clusters, init="random", n_cpu=1,
                                random_state=int(rng.integers(2**31 - 1)))
             for _ in range(KMEDOIDS_N_INIT - 1)]
    best = min(runs, key=lambda run: run.loss)
    return Clustering(labels=np.asarray(best.labels), medoids=np.asarray(best.medoids))


def _hierarchical(features: np.ndarray, n_clusters: int, seed: int) -> Clustering:
    if features.shape[0] == 1:
        return Clustering(labels=np.zeros(1, dtype=int))
    model = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward")
    return Clustering(labels=model.fit_predict(features))


_ALGORITHMS = {"kmeans": _kmeans, "kmedoids": _kmedoids, "hierarchical": _hierarchical}


def _renumber(result: Clustering) -> Clustering:
    """Number clusters by their first day; drop empty ones (identical days)."""
    used, first = np.unique(result.labels, return_index=True)
    order = used[np.argsort(first)]
    new_of_old = np.full(int(result.labels.max()) + 1, -1)
    new_of_old[order] = np.arange(len(order))
    medoids = None if result.medoids is None else np.asarray(result.medoids)[order]
    return Clustering(labels=new_of_old[result.labels].astype(np.int64), medoids=medoids)


def cluster_days(features: np.ndarray, n_clusters: int, method: str = "kmeans",
                 seed: int = 0) -> Clustering:
    """Cluster days given as rows of a scaled feature matrix.

    Parameters
    ----------
    features : ndarray, shape (day, feature)
        Scaled days (:meth:`FeatureScaling.features`).
    n_clusters : int
        K, from 1 to the number of days.
    method : {"kmeans", "kmedoids", "hierarchical"}
        ``kmeans``: minimises the sum of squared distances to the cluster means (the
        squared scaled RMSE of the reconstructed days): ``KMEANS_N_INIT`` starts of greedy
        k-means++ seeding and Lloyd iterations, the best ``KMEANS_N_REFINE`` improved by
        Hartigan single-day moves. ``kmedoids``: FasterPAM on the Euclidean distance
        matrix, minimising the sum of distances to the medoids; best of ``KMEDOIDS_N_INIT``
        starts (BUILD, then random).
        ``hierarchical``: agglomerative clustering with Ward linkage (deterministic).
    seed : int
        Random state of k-means and FasterPAM.

    Returns
    -------
    Clustering
        Labels numbered by each cluster's first day. Fewer than K clusters only when there
        are fewer than K distinct days (logged as a warning).
    """
    check_method(method, n_clusters, features.shape[0])
    if features.shape[1] == 0:  # no active series: all days look alike
        features = np.zeros((features.shape[0], 1))
    start = time.perf_counter()
    result = _renumber(_ALGORITHMS[method](features, int(n_clusters), int(seed)))
    n_found = int(result.labels.max()) + 1
    logger.info("clustered %d days into %d clusters (%s) in %.3f s", features.shape[0],
                n_found, method, time.perf_counter() - start)
    if n_found < n_clusters:
        logger.warning("only %d distinct clusters found for n_clusters = %d (identical days)",
                       n_found, n_clusters)
    return result
