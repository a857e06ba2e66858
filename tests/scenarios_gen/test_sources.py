"""History loaders (SimBench, CSV, NetCDF) and given days, scenarios_gen.sources."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from framework.errors import InputError
from framework.system import default_system, system_from_dict
from scenarios_gen import sources
from scenarios_gen.sources import load_days, load_history, simbench_folder

CSEE = Path("/work/shared/data/csee2024a/typical_day.csv")


def _system(tmp_path: Path, history: dict, microgrids: list[dict] | None = None):
    microgrids = microgrids or [
        {"name": "A", "pv_kw": 100.0, "columns": {"load_kw": "load_a", "pv_pu": "pv_a"}},
        {"name": "B", "wind_kw": 50.0, "columns": {"load_kw": "load_b", "wind_pu": "wind_b"}},
    ]
    return system_from_dict({"microgrid": microgrids, "history": history}, base_dir=tmp_path)


# SimBench


@pytest.fixture(scope="module")
def simbench_history() -> xr.Dataset:
    start = time.perf_counter()
    ds = load_history(default_system())
    print(f"\nSimBench default system loaded in {time.perf_counter() - start:.2f} s")
    return ds


def test_simbench_history_is_whole_clean_days(simbench_history):
    ds = simbench_history
    assert ds.sizes == {"time": 366 * 24, "microgrid": 4}
    assert list(ds["microgrid"].values) == ["households", "commerce", "farm", "industry"]
    assert ds["time"].dtype == "datetime64[ns]"
    assert ds["time"].values[0] == np.datetime64("2016-01-01T00:00")
    for name in ("load_kw", "pv_pu", "wind_pu"):
        values = ds[name].values
        assert values.dtype == np.float64
        assert not np.isnan(values).any()
        assert values.min() >= 0.0
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"]
    assert ds["pv_pu"].max() <= 1.0 and ds["wind_pu"].max() <= 1.0
    assert ds["pv_pu"].sel(microgrid="farm").max() == 0.0  # no PV profile: zeros
    assert ds["wind_kw"].values.tolist() == [0.0, 0.0, 400.0, 300.0]
    assert ds.attrs["step_h"] == 1.0
    assert ds.attrs["source"].startswith("simbench 1.")


def test_simbench_cleaning_record(simbench_history):
    records = json.loads(simbench_history.attrs["cleaning"])
    by_rule = {(r["file"].split("/")[-1], r["column"], r["rule"]): r for r in records}
    for file in ("LoadProfile.csv", "RESProfile.csv"):
        gap = by_rule[(file, "time", "dst_gap")]
        fold = by_rule[(file, "time", "dst_fold")]
        assert (gap["first_time"], gap["count"]) == ("2016-03-27T02:00:00", 4)
        assert (fold["first_time"], fold["count"]) == ("2016-10-30T02:00:00", 4)
    assert by_rule[("RESProfile.csv", "WP4", "negative")]["count"] == 71
    assert by_rule[("RESProfile.csv", "WP2", "negative")]["count"] == 21
    assert set(records[0]) == {"file", "column", "rule", "count", "first_time", "action"}


def test_simbench_annual_energy_matches_the_raw_file(simbench_history):
    raw = pd.read_csv(simbench_folder() / "LoadProfile.csv", sep=";", usecols=["H0-A_pload"])
    expected_kwh = raw["H0-A_pload"].sum() * 0.25 * 300.0
    got_kwh = float(simbench_history["load_kw"].sel(microgrid="households").sum()) * 1.0
    assert got_kwh == pytest.approx(expected_kwh, rel=0.005)


def test_simbench_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match=r"pip install 'sesplan\[simbench\]'"):
        load_history(default_system())


def test_simbench_unknown_profile_lists_available(tmp_path):
    system = _system(tmp_path, {}, [{"name": "x", "peak_load_kw": 10.0, "load_profile": "H9"}])
    with pytest.raises(InputError, match=r"'H9'.*available: \[.*'H0-A'"):
        load_history(system)
    system = _system(tmp_path, {}, [{"name": "x", "load_profile": "H0-A", "pv_profile": "PV99"}])
    with pytest.raises(InputError, match=r"pv_profile.*'PV99'.*'PV1'"):
        load_history(system)


def test_simbench_profile_of_the_wrong_kind_is_an_error(tmp_path):
    system = _system(tmp_path, {}, [{"name": "x", "load_profile": "H0-A", "wind_kw": 5.0,
                                     "wind_profile": "PV3"}])
    with pytest.raises(InputError, match=r"'x': wind_profile: unknown SimBench profile 'PV3'; "
                       r"available: \['WP1'"):
        load_history(system)


@pytest.mark.parametrize("kind", ["pv", "wind"])
def test_simbench_capacity_without_a_profile_is_an_error(tmp_path, kind):
    system = _system(tmp_path, {}, [{"name": "x", "load_profile": "H0-A", f"{kind}_kw": 5.0}])
    with pytest.raises(InputError, match=f"'x': {kind}_kw = 5.0 but no {kind}_profile"):
        load_history(system)


def test_csv_capacity_without_a_column_is_an_error(tmp_path):
    _frame().rename_axis("time").to_csv(tmp_path / "h.csv")
    system = _system(tmp_path, {"source": "csv", "path": "h.csv"}, [
        {"name": "A", "pv_kw": 100.0, "columns": {"load_kw": "load_a"}}])
    with pytest.raises(InputError, match="'A': pv_kw = 100.0 but columns has no pv_pu"):
        load_history(system)


def test_simbench_needs_a_load_profile(tmp_path):
    system = _system(tmp_path, {}, [{"name": "x", "peak_load_kw": 10.0}])
    with pytest.raises(InputError, match="'x': load_profile"):
        load_history(system)


# CSV and NetCDF


def _frame(days: int = 2) -> pd.DataFrame:
    """15-min data with known hourly means."""
    times = pd.date_range("2021-06-01", periods=days * 96, freq="15min")
    k = np.arange(len(times))
    return pd.DataFrame({"load_a": 50.0 + k % 7, "load_b": 20.0 + (k % 4) * 2.0,
                         "pv_a": (k % 96) / 100.0, "wind_b": 0.25 + 0.5 * (k % 2)}, index=times)


def _hourly(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.resample("1h").mean()


def _check_round_trip(ds: xr.Dataset, frame: pd.DataFrame) -> None:
    expected = _hourly(frame)
    assert ds.sizes == {"time": 48, "microgrid": 2}
    np.testing.assert_array_equal(ds["time"].values, expected.index.values)
    np.testing.assert_allclose(ds["load_kw"].sel(microgrid="A"), expected["load_a"])
    np.testing.assert_allclose(ds["load_kw"].sel(microgrid="B"), expected["load_b"])
    np.testing.assert_allclose(ds["pv_pu"].sel(microgrid="A"), expected["pv_a"])
    np.testing.assert_allclose(ds["wind_pu"].sel(microgrid="B"), expected["wind_b"])
    assert ds["pv_pu"].sel(microgrid="B").max() == 0.0
    assert ds["wind_pu"].sel(microgrid="A").max() == 0.0
    assert ds["pv_kw"].values.tolist() == [100.0, 0.0]
    assert ds["wind_kw"].values.tolist() == [0.0, 50.0]


def test_csv_round_trip(tmp_path):
    frame = _frame()
    frame.rename_axis("stamp").to_csv(tmp_path / "h.csv")
    system = _system(tmp_path, {"source": "csv", "path": "h.csv", "time_column": "stamp"})
    ds = load_history(system)
    _check_round_trip(ds, frame)
    assert ds.attrs["source"] == str(tmp_path / "h.csv")
    assert json.loads(ds.attrs["cleaning"]) == []


def test_csv_with_semicolons_and_a_gap(tmp_path):
    frame = _frame()
    frame.rename_axis("time").drop(frame.index[10]).to_csv(tmp_path / "h.csv", sep=";")
    ds = load_history(_system(tmp_path, {"source": "csv", "path": "h.csv"}))
    frame.iloc[10] = (frame.iloc[9] + frame.iloc[11]) / 2
    _check_round_trip(ds, frame)
    assert float(ds["wind_pu"].sel(microgrid="B")[2]) == pytest.approx((0.75 * 3 + 0.25) / 4)
    record = json.loads(ds.attrs["cleaning"])[0]
    assert (record["rule"], record["first_time"]) == ("gap", "2021-06-01T02:30:00")


def test_csv_missing_column_lists_the_columns(tmp_path):
    _frame().drop(columns="wind_b").rename_axis("time").to_csv(tmp_path / "h.csv")
    with pytest.raises(InputError, match=r"h\.csv: column\(s\) \['wind_b'\] not found.*'pv_a'"):
        load_history(_system(tmp_path, {"source": "csv", "path": "h.csv"}))


def test_csv_needs_a_load_column(tmp_path):
    _frame().rename_axis("time").to_csv(tmp_path / "h.csv")
    system = _system(tmp_path, {"source": "csv", "path": "h.csv"},
                     [{"name": "A", "columns": {"pv_pu": "pv_a"}}])
    with pytest.raises(InputError, match=r"'A': columns\.load_kw"):
        load_history(system)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        load_history(_system(tmp_path, {"source": "csv", "path": "nope.csv"}))


def test_netcdf_round_trip(tmp_path):
    frame = _frame()
    xr.Dataset.from_dataframe(frame.rename_axis("t")).to_netcdf(tmp_path / "h.nc")
    ds = load_history(_system(tmp_path, {"source": "netcdf", "path": "h.nc",
                                         "time_column": "t"}))
    _check_round_trip(ds, frame)


def test_netcdf_errors_name_file_and_variable(tmp_path):
    frame = _frame()
    frame.iloc[5, 0] = -3.0
    xr.Dataset.from_dataframe(frame.rename_axis("time")).to_netcdf(tmp_path / "h.nc")
    system = _system(tmp_path, {"source": "netcdf", "path": "h.nc"})
    with pytest.raises(InputError, match=r"h\.nc: column 'load_a', time 2021-06-01 01:15"):
        load_history(system)
    system = _system(tmp_path, {"source": "netcdf", "path": "h.nc", "time_column": "t"})
    with pytest.raises(InputError, match=r"h\.nc: dimension 't' not found"):
        load_history(system)


def test_days_source_is_refused_by_load_history(tmp_path):
    with pytest.raises(InputError, match="load_days"):
        load_history(_system(tmp_path, {"source": "days", "path": "d.csv"}))


# given days


def _days_frame(labels: list[str], probs: list[float] | None = None) -> pd.DataFrame:
    parts = []
    for k, label in enumerate(labels):
        part = pd.DataFrame({"day": label, "step": np.arange(24),
                             "load_a": 10.0 * (k + 1) + np.arange(24),
                             "load_b": 5.0, "pv_a": np.arange(24) / 24, "wind_b": 0.5})
        if probs is not None:
            part["weight"] = probs[k]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _days_system(tmp_path: Path, frame: pd.DataFrame):
    frame.to_csv(tmp_path / "d.csv", index=False)
    return _system(tmp_path, {"source": "days", "path": "d.csv", "scenario_column": "day",
                              "probability_column": "weight"})


def test_days_with_scenarios_and_probabilities(tmp_path, caplog):
    frame = _days_frame(["winter", "summer", "spring"], [0.2, 0.4, 0.2])
    frame = frame.sample(frac=1.0, random_state=3)  # rows in any order
    with caplog.at_level(logging.WARNING):
        ds = load_days(_days_system(tmp_path, frame))
    assert "normalised" in caplog.text
    order = list(pd.unique(frame["day"]))
    assert list(ds["scenario_label"].values) == order
    assert ds["scenario"].values.tolist() == [0, 1, 2]
    expected = {"winter": 0.25, "summer": 0.5, "spring": 0.25}
    np.testing.assert_allclose(ds["probability"], [expected[o] for o in order])
    k = order.index("summer")
    np.testing.assert_allclose(ds["load_kw"].sel(scenario=k, microgrid="A"), 20.0 + np.arange(24))
    assert float(ds["pv_pu"].sel(scenario=k, step=12, microgrid="A")) == 0.5
    assert float(ds["wind_pu"].sel(scenario=k, step=3, microgrid="A")) == 0.0
    np.testing.assert_array_equal(ds["load_kw_quantile"].sel(quantile=0.9), ds["load_kw"])
    assert ds["load_kw_quantile"].dims == ("quantile", "scenario", "step", "microgrid")
    assert ds["quantile"].values.tolist() == [0.1, 0.9]
    assert ds.sizes["day"] == 0 and ds["membership"].dtype == np.int64
    assert not ds["is_extreme"].any() and ds["is_extreme"].dtype == bool
    assert (ds.attrs["method"], ds.attrs["seed"], ds.attrs["step_h"]) == ("given", 0, 1.0)


def test_days_without_scenario_or_probability_column(tmp_path):
    frame = _days_frame(["x"]).drop(columns=["day"])
    ds = load_days(_days_system(tmp_path, frame))
    assert ds.sizes["scenario"] == 1 and ds.sizes["step"] == 24
    assert ds["probability"].values.tolist() == [1.0]
    assert ds["scenario_label"].values.tolist() == ["0"]
    ds = load_days(_days_system(tmp_path, _days_frame(["1", "2", "3", "4"])))
    assert ds["probability"].values.tolist() == [0.25] * 4
    assert ds["scenario_label"].values.tolist() == ["1", "2", "3", "4"]


def test_days_pass_the_scenario_schema_and_write(tmp_path):
    from scenarios_gen.scenarios import validate_scenarios

    ds = load_days(_days_system(tmp_path, _days_frame(["a", "b"], [0.5, 0.5])))
    validate_scenarios(ds)
    ds.to_netcdf(tmp_path / "s.nc")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda f: f.drop(index=30), r"column 'step', scenario 'b'.*steps 0\.\.23.*missing \[6\]"),
    (lambda f: f.assign(step=f["step"].where(f.index != 3, 4)),
     r"scenario 'a'.*repeated \[4\], missing \[3\]"),
    (lambda f: f.assign(step=f["step"] + 0.5), r"row 1 \(line 2\).*an integer step"),
    (lambda f: f.assign(weight=f["weight"].where(f.index != 30, 0.3)),
     r"'weight', scenario 'b'.*one probability"),
    (lambda f: f.assign(weight=f["weight"].where(f.index != 30, -1.0)), r"row 31.*>= 0"),
    (lambda f: f.assign(weight=0.0), r"'weight'.*positive sum"),
    (lambda f: f.assign(load_a=f["load_a"].where(f.index != 7)), r"'load_a', row 8.*empty"),
    (lambda f: f.assign(pv_a=f["pv_a"].where(f.index != 9, "n/a?")), r"'pv_a', row 10.*'n/a\?'"),
    (lambda f: f.assign(pv_a=f["pv_a"].where(f.index != 9, 1.5)), r"'pv_a', row 10.*<= 1 \+"),
])
def test_bad_days_files_are_errors(tmp_path, edit, message):
    frame = edit(_days_frame(["a", "b"], [0.5, 0.5]))
    with pytest.raises(InputError, match=message) as err:
        load_days(_days_system(tmp_path, frame))
    assert "d.csv" in str(err.value)


def test_days_clip_tiny_negatives_and_record_them(tmp_path):
    frame = _days_frame(["a"])
    frame.loc[4, "wind_b"] = -1e-5
    ds = load_days(_days_system(tmp_path, frame))
    assert float(ds["wind_pu"].sel(scenario=0, step=4, microgrid="B")) == 0.0
    record = json.loads(ds.attrs["cleaning"])[0]
    assert (record["column"], record["rule"], record["count"]) == ("wind_b", "negative", 1)
    assert record["first_time"] == "row 5 (line 6)"


def test_csee_typical_day(tmp_path):
    columns = {"A": {"load_kw": "load_A_kw", "pv_pu": "pv_A_pu"},
               "B": {"load_kw": "load_B_kw", "wind_pu": "wind_B_pu"},
               "C": {"load_kw": "load_C_kw", "pv_pu": "pv_C_pu", "wind_pu": "wind_C_pu"}}
    system = system_from_dict({
        "microgrid": [{"name": name, "columns": cols} for name, cols in columns.items()],
        "history": {"source": "days", "path": str(CSEE), "step_column": "hour"}})
    ds = load_days(system)
    assert ds.sizes["scenario"] == 1 and ds.sizes["step"] == 24
    assert float(ds["load_kw"].sel(scenario=0, step=0, microgrid="A")) == 275.0
    assert float(ds["load_kw"].sel(scenario=0, step=1, microgrid="B")) == 253.0
    assert float(ds["wind_pu"].sel(scenario=0, step=1, microgrid="B")) == 0.3828
    assert ds["probability"].values.tolist() == [1.0]


def test_cleaning_is_logged(tmp_path, caplog):
    frame = _frame(days=3).iloc[:-5]  # the last day is partial
    frame.rename_axis("time").to_csv(tmp_path / "h.csv")
    with caplog.at_level(logging.INFO, logger="scenarios_gen"):
        ds = load_history(_system(tmp_path, {"source": "csv", "path": "h.csv"}))
    assert ds.sizes["time"] == 48
    assert "dropped partial day 2021-06-03 (91 of 96 steps)" in caplog.text
    assert "2 days of 24 steps" in caplog.text
