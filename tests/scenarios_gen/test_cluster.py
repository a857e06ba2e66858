"""Day matrix, scaling, extreme days and clustering (scenarios_gen.cluster)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.errors import InputError
from scenarios_gen.cluster import (
    METHODS,
    _hartigan,
    check_history,
    cluster_days,
    daily_energy,
    day_cube,
    day_starts,
    fit_scaling,
    pick_extreme_days,
    scaled_days,
)


def test_day_cube_arranges_days_quantities_steps_microgrids(history):
    cube = day_cube(history)
    assert cube.shape == (30, 3, 4, 2)
    # day 2, step 3, microgrid 1 is time index 2 * 4 + 3 = 11
    assert cube[2, 0, 3, 1] == history["load_kw"].values[11, 1]
    assert cube[2, 2, 3, 1] == history["wind_pu"].values[11, 1]
    assert np.array_equal(day_starts(history), history["time"].values[::4])


def test_check_history_rejects_partial_days_and_missing_variables(history):
    with pytest.raises(InputError, match="whole days of 4 steps, got 118"):
        check_history(history.isel(time=slice(0, 118)))
    with pytest.raises(InputError, match="'wind_pu' is missing"):
        check_history(history.drop_vars("wind_pu"))
    bad = history.copy(deep=True)
    bad["pv_pu"][5, 0] = np.nan
    with pytest.raises(InputError, match="'pv_pu' contains NaN"):
        check_history(bad)


def test_min_max_scaling_by_hand(make_history):
    load = np.array([[[10.0], [20.0]], [[30.0], [50.0]]])  # 2 days, 2 steps, 1 microgrid
    pv = np.array([[[0.0], [0.5]], [[0.25], [0.0]]])
    wind = np.full((2, 2, 1), 0.3)  # constant: zero variance
    h = make_history(load, pv, wind, pv_kw=(10.0,), wind_kw=(5.0,), step_h=12.0)
    scaling = fit_scaling(h)
    assert scaling.offset.tolist() == [[10.0], [0.0], [0.3]]
    assert scaling.scale.tolist() == [[40.0], [0.5], [1.0]]
    assert scaling.active.tolist() == [[True], [True], [False]]
    features = scaled_days(h)
    assert np.array_equal(features, [[0.0, 0.25, 0.0, 1.0], [0.5, 1.0, 0.5, 0.0]])


def test_availability_without_plant_is_not_a_feature(make_history):
    rng = np.random.default_rng(0)
    shape = (3, 4, 2)
    h = make_history(rng.uniform(1, 2, shape), rng.uniform(0, 1, shape),
                     rng.uniform(0, 1, shape), pv_kw=(5.0, 0.0), wind_kw=(0.0, 0.0))
    scaling = fit_scaling(h)
    assert scaling.active.tolist() == [[True, True], [True, False], [False, False]]
    assert scaled_days(h).shape == (3, 3 * 4)
    assert np.all(np.isfinite(scaling.apply(day_cube(h))))


def test_daily_energy_by_hand(make_history):
    load = np.array([[[10.0, 4.0]] * 4])  # 1 day, 4 steps of 6 h, 2 microgrids
    pv = np.array([[[0.5, 0.0]] * 4])
    wind = np.array([[[0.0, 0.25]] * 4])
    cube = day_cube(make_history(load, pv, wind, pv_kw=(8.0, 0.0), wind_kw=(0.0, 4.0)))
    net, ren = daily_energy(cube, np.array([8.0, 0.0]), np.array([0.0, 4.0]), step_h=6.0)
    assert ren.tolist() == [(4.0 + 1.0) * 4 * 6]
    assert net.tolist() == [(14.0 - 5.0) * 4 * 6]


def test_extreme_days_alternate_and_never_repeat():
    net = np.array([5.0, 9.0, 1.0, 9.0, 3.0])
    ren = np.array([2.0, 0.5, 7.0, 4.0, 0.5])
    # highest net load: day 1 (tie with 3, earlier wins); lowest renewable: day 1 is taken,
    # so day 4; next highest net load: day 3; next lowest renewable: day 0
    assert pick_extreme_days(net, ren, 4) == [(1, "net-load"), (4, "low-renewable"),
                                             (3, "net-load"), (0, "low-renewable")]
    assert pick_extreme_days(net, ren, 0) == []


@pytest.mark.parametrize("method", METHODS)
def test_clustering_is_deterministic_and_numbered_by_first_day(history, method):
    features = scaled_days(history)
    first = cluster_days(features, 6, method, seed=3)
    again = cluster_days(features, 6, method, seed=3)
    assert np.array_equal(first.labels, again.labels)
    assert sorted(set(first.labels.tolist())) == list(range(6))
    _, first_day = np.unique(first.labels, return_index=True)
    assert np.all(np.diff(first_day) > 0)
    assert first.labels[0] == 0


@pytest.mark.parametrize("method", METHODS)
def test_one_cluster_per_day_when_k_equals_days(history, method):
    result = cluster_days(scaled_days(history), 30, method)
    assert np.array_equal(result.labels, np.arange(30))


def test_kmedoids_medoids_belong_to_their_clusters(history):
    result = cluster_days(scaled_days(history), 5, "kmedoids", seed=1)
    assert result.medoids is not None and len(result.medoids) == 5
    assert np.array_equal(result.labels[result.medoids], np.arange(5))


def test_identical_days_give_fewer_clusters_with_a_warning(caplog):
    features = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    with caplog.at_level(logging.WARNING, logger="scenarios_gen.cluster"):
        result = cluster_days(features, 3, "kmeans")
    assert result.labels.tolist() == [0, 0, 1, 1]
    assert "only 2 distinct clusters" in caplog.text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "kmode"}, r"method: expected one of \('kmeans', 'kmedoids', 'hierarchical'\)"),
    ({"n_clusters": 0}, "n_clusters: expected an integer from 1 to 30"),
    ({"n_clusters": 31}, "n_clusters: expected an integer from 1 to 30"),
    ({"n_clusters": 2.5}, "n_clusters: expected an integer"),
])
def test_bad_options_name_the_option_and_allowed_values(history, kwargs, message):
    options = {"n_clusters": 3, "method": "kmeans", **kwargs}
    with pytest.raises(InputError, match=message):
        cluster_days(scaled_days(history), **options)


def _sse(features: np.ndarray, labels: np.ndarray) -> float:
    return sum(float(((features[labels == k] - features[labels == k].mean(axis=0)) ** 2).sum())
               for k in np.unique(labels))


def test_kmeans_finds_the_optimum_of_a_small_problem():
    features = np.random.default_rng(5).normal(size=(8, 2))
    labelings = np.array(np.meshgrid(*[range(3)] * 8, indexing="ij")).reshape(8, -1).T
    total = np.zeros(len(labelings))
    for k in range(3):  # sum of squares of cluster k: sum |x|^2 - |sum x|^2 / n
        mask = (labelings == k).astype(float)
        sums = mask @ features
        total += mask @ (features ** 2).sum(axis=1) - (sums ** 2).sum(axis=1) / np.maximum(
            mask.sum(axis=1), 1)
    optimum = total.min()
    assert _sse(features, cluster_days(features, 3, "kmeans").labels) == pytest.approx(
        optimum, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(n_days=st.integers(3, 25), n_features=st.integers(1, 4), n_clusters=st.integers(2, 4),
       seed=st.integers(0, 2**16))
def test_hartigan_leaves_no_improving_single_move(n_days, n_features, n_clusters, seed):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_days, n_features))
    start = rng.integers(n_clusters, size=n_days)
    labels = _hartigan(features, (features ** 2).sum(axis=1), start, n_clusters)
    sse = _sse(features, labels)
    assert sse <= _sse(features, start) + 1e-12
    for i in range(n_days):
        if np.sum(labels == labels[i]) == 1:
            continue
        for b in set(range(n_clusters)) - {labels[i]}:
            moved = labels.copy()
            moved[i] = b
            assert _sse(features, moved) >= sse - 1e-9 * max(sse, 1.0)
