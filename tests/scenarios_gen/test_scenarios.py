"""Scenario generation, days as scenarios, and the scenario file (scenarios_gen.scenarios)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.errors import InputError
from scenarios_gen.cluster import METHODS
from scenarios_gen.scenarios import (
    SCHEMA,
    days_as_scenarios,
    generate_scenarios,
    read_scenarios,
    write_scenarios,
)

SUNNY, DULL = [0, 2, 4], [1, 3, 5]


@pytest.mark.parametrize("method", METHODS)
def test_same_inputs_and_seed_give_identical_datasets(history, method):
    first = generate_scenarios(history, 5, method, extreme_days=2, seed=7)
    xr.testing.assert_identical(first, generate_scenarios(history, 5, method, extreme_days=2,
                                                          seed=7))
    assert first.sizes["scenario"] == 7
    assert set(SCHEMA) <= set(first.variables)
    assert first.attrs["method"] == method and first.attrs["seed"] == 7
    assert (first.attrs["n_clusters"], first.attrs["n_extreme_days"]) == (5, 2)


@pytest.mark.parametrize("method", METHODS)
def test_probability_is_the_share_of_days(history, method):
    ds = generate_scenarios(history, 6, method, extreme_days=1)
    counts = np.bincount(ds["membership"].values, minlength=7)
    assert np.array_equal(ds["probability"].values, counts / 30)
    assert abs(float(ds["probability"].sum()) - 1.0) < 1e-12


@pytest.mark.parametrize("method", ["kmeans", "hierarchical"])
def test_sunny_and_dull_days_give_two_even_clusters_with_mean_profiles(sunny_dull, method):
    ds = generate_scenarios(sunny_dull, 2, method)
    assert ds["membership"].values.tolist() == [0, 1, 0, 1, 0, 1]
    assert ds["probability"].values.tolist() == [0.5, 0.5]
    # sunny days: pv factors 1, 0.9, 0.95 of [0, 0.8, 0.6, 0] -> mean factor 0.95
    assert np.allclose(ds["pv_pu"].sel(scenario=0, microgrid="mg0"), [0, 0.76, 0.57, 0],
                       rtol=0, atol=1e-15)
    # dull days: factors 1, 1.5, 0.5 of [0, 0.2, 0.1, 0] -> mean factor 1
    assert np.allclose(ds["pv_pu"].sel(scenario=1, microgrid="mg0"), [0, 0.2, 0.1, 0],
                       rtol=0, atol=1e-15)
    assert np.allclose(ds["load_kw"].sel(microgrid="mg0", step=2), [10.1, 12.066666666666666])
    assert np.isnat(ds["representative_day"].values).all()
    assert ds["scenario_label"].values.tolist() == ["c0", "c1"]


def test_kmedoids_representative_is_a_real_day(sunny_dull):
    ds = generate_scenarios(sunny_dull, 2, "kmedoids")
    assert ds["membership"].values.tolist() == [0, 1, 0, 1, 0, 1]
    # the middle day of each cluster in load and in pv: day 4 (sunny) and day 1 (dull)
    assert [str(d)[:10] for d in ds["representative_day"].values] == ["2016-01-05",
                                                                      "2016-01-02"]
    for k, day in enumerate(ds["representative_day"].values):
        original = sunny_dull.sel(time=slice(day, day + np.timedelta64(23, "h")))
        for q in ("load_kw", "pv_pu", "wind_pu"):
            assert np.array_equal(ds[q].sel(scenario=k).values, original[q].values)


@pytest.mark.parametrize("method", ["kmeans", "hierarchical"])
def test_cluster_means_preserve_energy(history, method):
    metrics = json.loads(generate_scenarios(history, 4, method).attrs["metrics"])
    for name in ("energy_ratio_load", "energy_ratio_renewable"):
        for ratio in metrics[name].values():
            assert abs(ratio - 1.0) < 1e-12


def test_spread_is_the_linear_quantile_of_member_days(sunny_dull):
    ds = generate_scenarios(sunny_dull, 2, quantiles=(0.1, 0.5, 0.9))
    pv = ds["pv_pu_quantile"].sel(scenario=0, step=1, microgrid="mg0")
    # sunny members at step 1: 0.72, 0.76, 0.8; linear: 0.72 + q * 2 * 0.04
    assert np.allclose(pv.values, [0.728, 0.76, 0.792], rtol=0, atol=1e-15)
    load = ds["load_kw_quantile"].sel(scenario=1, step=0, microgrid="mg0")
    # dull members: 11.9, 12.0, 12.3
    assert np.allclose(load.values, [11.92, 12.0, 12.24], rtol=0, atol=1e-12)
    assert ds["pv_pu_quantile"].dims == ("quantile", "scenario", "step", "microgrid")


def _extreme_history(make_history):
    """Five days: day 2 has the highest net load, day 4 the lowest renewable energy."""
    load = np.array([50.0, 50.0, 90.0, 50.0, 20.0])[:, None, None] * np.ones((5, 4, 2))
    pv = np.array([0.5, 0.6, 0.4, 0.5, 0.1])[:, None, None] * np.ones((5, 4, 2))
    wind = np.array([0.3, 0.2, 0.3, 0.4, 0.1])[:, None, None] * np.ones((5, 4, 2))
    return make_history(load, pv, wind, pv_kw=(50.0, 30.0), wind_kw=(20.0, 0.0))


def test_extreme_days_are_the_known_ones(make_history):
    history = _extreme_history(make_history)
    ds = generate_scenarios(history, 2, extreme_days=2)
    assert ds.sizes["scenario"] == 4
    assert ds["is_extreme"].values.tolist() == [False, False, True, True]
    assert ds["scenario_label"].values.tolist()[2:] == ["extreme-net-load-2016-01-03",
                                                        "extreme-low-renewable-2016-01-05"]
    assert ds["probability"].values[2:].tolist() == [0.2, 0.2]
    assert ds["membership"].values[[2, 4]].tolist() == [2, 3]
    assert np.array_equal(ds["load_kw"].sel(scenario=2).values, np.full((4, 2), 90.0))
    assert str(ds["representative_day"].values[3])[:10] == "2016-01-05"
    one = generate_scenarios(history, 2, extreme_days=1)
    assert one["scenario_label"].values.tolist()[-1] == "extreme-net-load-2016-01-03"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "pam"}, "method: expected one of"),
    ({"n_clusters": 0}, "n_clusters: expected an integer from 1 to 30"),
    ({"n_clusters": 29, "extreme_days": 2}, "n_clusters: expected an integer from 1 to 28"),
    ({"extreme_days": 30}, "extreme_days: expected an integer from 0 to 29"),
    ({"quantiles": (0.9, 0.1)}, "quantiles: expected increasing values in"),
    ({"quantiles": (0.5, 1.5)}, "quantiles: expected increasing values in"),
])
def test_bad_options_raise_input_errors(history, kwargs, message):
    with pytest.raises(InputError, match=message):
        generate_scenarios(history, **{"n_clusters": 3, **kwargs})


def test_days_as_scenarios_reproduce_the_history(history):
    ds = days_as_scenarios(history)
    assert ds.sizes["scenario"] == 30 and ds.sizes["day"] == 30
    assert np.allclose(ds["probability"].values, 1 / 30, rtol=0, atol=1e-15)
    assert np.array_equal(ds["membership"].values, np.arange(30))
    for q in ("load_kw", "pv_pu", "wind_pu"):
        assert np.array_equal(ds[q].values.reshape(-1, 2), history[q].values)
        assert np.array_equal(ds[f"{q}_quantile"].sel(quantile=0.9), ds[q])
    assert ds["scenario_label"].values[0] == "day-2016-01-01"


def test_days_as_scenarios_selects_days(history):
    ds = days_as_scenarios(history, ["2016-01-09", "2016-01-03"])
    assert [str(d)[:10] for d in ds["representative_day"].values] == ["2016-01-03",
                                                                      "2016-01-09"]
    assert ds["probability"].values.tolist() == [0.5, 0.5]
    assert np.array_equal(ds["load_kw"].sel(scenario=1).values,
                          history["load_kw"].values[8 * 4:9 * 4])
    with pytest.raises(InputError, match=r"not found: \['2017-01-01'\]"):
        days_as_scenarios(history, ["2017-01-01"])


def test_write_read_round_trip(history, tmp_path):
    ds = generate_scenarios(history, 3, "kmedoids", extreme_days=1)
    path = write_scenarios(ds, tmp_path / "out" / "scenarios.nc")
    back = read_scenarios(path)
    xr.testing.assert_identical(back, ds)
    assert back["is_extreme"].dtype == bool
    assert [p.name for p in path.parent.iterdir()] == ["scenarios.nc"]


def test_read_accepts_given_days_without_membership(history, tmp_path):
    ds = days_as_scenarios(history, ["2016-01-02"]).isel(day=slice(0, 0))
    back = read_scenarios(write_scenarios(ds, tmp_path / "days.nc"))
    assert back.sizes["day"] == 0 and back.sizes["scenario"] == 1


def _broken(ds: xr.Dataset, what: str) -> xr.Dataset:
    ds = ds.copy(deep=True)
    if what == "probability":
        ds["probability"] = ds["probability"] * 1.01
    elif what == "missing":
        ds = ds.drop_vars("pv_pu_quantile")
    elif what == "nan":
        ds["wind_pu"][0, 1, 0] = np.nan
    elif what == "negative":
        ds["load_kw"][1, 0, 1] = -3.0
    elif what == "per_unit":
        ds["pv_pu"][2, 1, 0] = 5.0
    else:
        ds["pv_kw"] = ds["pv_kw"].expand_dims(scenario=ds["scenario"])
    return ds


@pytest.mark.parametrize(("what", "message"), [
    ("probability", "variable 'probability': expected values summing to 1"),
    ("missing", "variable 'pv_pu_quantile' is missing"),
    ("nan", "variable 'wind_pu' contains NaN"),
    ("negative", "variable 'load_kw': expected values >= 0, got minimum -3.0"),
    ("per_unit", "variable 'pv_pu': expected per-unit availability <= 1, got 5.0 at "
                 "scenario 2, step 1, microgrid "),
    ("dims", r"variable 'pv_kw': expected dimensions \('microgrid',\)"),
])
def test_read_rejects_bad_files_naming_file_and_variable(history, tmp_path, what, message):
    path = tmp_path / f"{what}.nc"
    _broken(generate_scenarios(history, 3), what).to_netcdf(path)
    with pytest.raises(InputError, match=message) as err:
        read_scenarios(path)
    assert str(path) in str(err.value)


def test_read_missing_file_and_invalid_write(history, tmp_path):
    with pytest.raises(InputError, match="scenario file not found"):
        read_scenarios(tmp_path / "nope.nc")
    with pytest.raises(InputError, match="probability"):
        write_scenarios(_broken(generate_scenarios(history, 3), "probability"),
                        tmp_path / "bad.nc")
    assert list(tmp_path.iterdir()) == []


def test_read_rejects_a_file_that_is_not_netcdf(tmp_path):
    path = Path(tmp_path / "scenarios.nc")
    path.write_text("not netcdf")
    with pytest.raises(InputError, match="not a readable NetCDF"):
        read_scenarios(path)


@settings(max_examples=15, deadline=None)
@given(n_days=st.integers(2, 12), data=st.data())
def test_invariants_on_random_histories(make_history, n_days, data):
    seed = data.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    shape = (n_days, 4, 2)
    history = make_history(rng.uniform(0, 9, shape), rng.uniform(0, 1, shape),
                           rng.uniform(0, 1, shape), pv_kw=(3.0, 1.0), wind_kw=(2.0, 0.0))
    extremes = data.draw(st.integers(0, n_days - 1))
    k = data.draw(st.integers(1, n_days - extremes))
    method = data.draw(st.sampled_from(METHODS))
    ds = generate_scenarios(history, k, method, extreme_days=extremes, seed=seed)
    assert ds.sizes["scenario"] == k + extremes
    assert abs(float(ds["probability"].sum()) - 1.0) < 1e-12
    counts = np.bincount(ds["membership"].values, minlength=k + extremes)
    assert np.array_equal(ds["probability"].values * n_days, counts)
    low, high = ds["load_kw_quantile"].isel(quantile=0), ds["load_kw_quantile"].isel(quantile=-1)
    assert bool((low <= high).all())
