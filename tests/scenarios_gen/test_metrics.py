"""Representation metrics (scenarios_gen.metrics)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framework.errors import InputError
from scenarios_gen.cluster import METHODS
from scenarios_gen.metrics import reconstruct, representation_metrics
from scenarios_gen.scenarios import days_as_scenarios, generate_scenarios


def _all_zero(metrics: dict) -> bool:
    return (metrics["rmse_scaled"] == 0.0
            and all(v == 0.0 for v in metrics["rmse"].values())
            and all(v == 0.0 for v in metrics["duration_rmse"].values()))


@pytest.mark.parametrize("method", METHODS)
def test_one_cluster_per_day_reconstructs_exactly(history, method):
    ds = generate_scenarios(history, 30, method)
    metrics = json.loads(ds.attrs["metrics"])
    assert metrics["n_days"] == 30
    assert _all_zero(metrics)
    assert set(metrics["energy_ratio_load"].values()) == {1.0}
    original, rec = reconstruct(history, ds)
    assert np.array_equal(original, rec)


def test_extreme_days_and_clusters_together_reconstruct_exactly(history):
    ds = generate_scenarios(history, 27, "kmeans", extreme_days=3)
    assert _all_zero(representation_metrics(history, ds))


def test_days_as_scenarios_reconstruct_exactly(history):
    assert _all_zero(representation_metrics(history, days_as_scenarios(history)))


def _two_days(make_history):
    """Day A load 10, 14, 10, 14 kW; day B the reverse; no renewables."""
    load = np.array([[10.0, 14.0, 10.0, 14.0], [14.0, 10.0, 14.0, 10.0]])[..., None]
    zeros = np.zeros((2, 4, 1))
    return make_history(load, zeros, zeros, pv_kw=(0.0,), wind_kw=(0.0,))


def test_mean_of_two_days_by_hand(make_history):
    history = _two_days(make_history)
    metrics = representation_metrics(history, generate_scenarios(history, 1, "kmeans"))
    # every step becomes 12 kW: error 2 kW; sorted: [10]*4 + [14]*4 against [12]*8: 2 kW
    assert metrics["rmse"]["load_kw"] == 2.0
    assert metrics["duration_rmse"]["load_kw"] == 2.0
    assert metrics["rmse"]["net_load_kw"] == 2.0
    # scaled by the range 4 kW: error 0.5 everywhere
    assert metrics["rmse_scaled"] == 0.5
    assert metrics["energy_ratio_load"] == {"mg0": 1.0}
    assert metrics["energy_ratio_renewable"] == {"mg0": 1.0}


def test_medoid_of_two_days_keeps_the_duration_curve(make_history):
    history = _two_days(make_history)
    metrics = representation_metrics(history, generate_scenarios(history, 1, "kmedoids"))
    # one day is replaced by the other: 4 of 8 steps off by 4 kW; same sorted values
    assert metrics["rmse"]["load_kw"] == pytest.approx(np.sqrt(8.0), abs=1e-15)
    assert metrics["duration_rmse"]["load_kw"] == 0.0
    assert metrics["rmse_scaled"] == pytest.approx(np.sqrt(0.5), abs=1e-15)


def test_energy_ratio_of_a_medoid_by_hand(make_history):
    load = np.array([[10.0] * 4, [20.0] * 4, [12.0] * 4])[..., None]
    pv = np.array([[0.5] * 4, [0.0] * 4, [0.4] * 4])[..., None]
    history = make_history(load, pv, np.zeros((3, 4, 1)), pv_kw=(10.0,), wind_kw=(0.0,))
    ds = generate_scenarios(history, 1, "kmedoids")
    assert str(ds["representative_day"].values[0])[:10] == "2016-01-03"
    metrics = representation_metrics(history, ds)
    assert metrics["energy_ratio_load"]["mg0"] == pytest.approx(36.0 / 42.0, abs=1e-15)
    assert metrics["energy_ratio_renewable"]["mg0"] == pytest.approx(1.2 / 0.9, abs=1e-15)


def test_metrics_need_day_membership(history):
    given = days_as_scenarios(history, ["2016-01-02"]).isel(day=slice(0, 0))
    with pytest.raises(InputError, match="'day' is empty"):
        representation_metrics(history, given)


def test_metrics_of_selected_days_cover_only_those_days(history):
    ds = days_as_scenarios(history, ["2016-01-02", "2016-01-05"])
    metrics = representation_metrics(history, ds)
    assert metrics["n_days"] == 2 and _all_zero(metrics)
    with pytest.raises(InputError, match="not found in the history"):
        representation_metrics(history.isel(time=slice(0, 8)), ds)
