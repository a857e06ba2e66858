"""The cleaning rules of scenarios_gen.clean, each on a small hand-made CSV file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.errors import InputError
from framework.system import History
from scenarios_gen.clean import Origin, clean_table, is_dst_change

STEP = pd.Timedelta(minutes=15)


def _rows(start: str = "2016-01-01", days: int = 2, step: pd.Timedelta = STEP) -> list[list]:
    """Rows [time text, load, pv]: load = 100 + k at step k (linear, so gaps interpolate
    exactly), pv = 0.5."""
    times = pd.date_range(start, periods=int(days * pd.Timedelta(days=1) / step), freq=step)
    return [[t.strftime("%Y-%m-%d %H:%M"), 100.0 + k, 0.5] for k, t in enumerate(times)]


def _write(tmp_path: Path, rows: list[list], name: str = "hist.csv") -> Path:
    path = tmp_path / name
    lines = ["time,load,pv"] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _clean(path: Path, **history) -> tuple[pd.DataFrame, list[dict]]:
    history = History(**{"step_h": 0.25, **history})
    raw = pd.read_csv(path)
    table, log = clean_table(raw, Origin(str(path), "time"), history, ["pv"])
    return table, json.loads(log.to_json())


def _find(records: list[dict], rule: str) -> dict:
    matches = [r for r in records if r["rule"] == rule]
    assert len(matches) == 1, records
    return matches[0]


def _error(path: Path, *parts: str, **history) -> str:
    with pytest.raises(InputError) as err:
        _clean(path, **history)
    message = str(err.value)
    for part in (path.name, *parts):
        assert part in message, message
    return message


# rule 1: duplicates and daylight-saving folds


def test_duplicate_timestamp_is_averaged_and_recorded(tmp_path):
    rows = _rows()
    rows.insert(21, [rows[20][0], 200.0, 0.7])  # 05:00 a second time
    table, records = _clean(_write(tmp_path, rows))
    at = pd.Timestamp("2016-01-01 05:00")
    assert table.loc[at, "load"] == pytest.approx((120.0 + 200.0) / 2)
    assert table.loc[at, "pv"] == pytest.approx(0.6)
    assert len(table) == 192
    record = _find(records, "duplicate")
    assert (record["count"], record["first_time"]) == (1, "2016-01-01T05:00:00")


def test_dst_fold_is_averaged_and_recorded(tmp_path):
    rows = _rows("2016-10-30", days=1)
    fold = [[r[0], 1000.0, 0.1] for r in rows[8:12]]  # 02:00-02:45 again, other values
    rows = rows[:12] + fold + rows[12:]
    table, records = _clean(_write(tmp_path, rows))
    assert len(table) == 96
    assert table.loc["2016-10-30 02:15", "load"] == pytest.approx((109.0 + 1000.0) / 2)
    record = _find(records, "dst_fold")
    assert (record["count"], record["first_time"]) == (4, "2016-10-30T02:00:00")
    assert record["column"] == "time"


def test_dst_dates_of_both_rules():
    eu_gap = pd.date_range("2016-03-27 02:00", periods=4, freq="15min")
    assert is_dst_change(eu_gap, fold=False)
    assert not is_dst_change(eu_gap, fold=True)
    assert is_dst_change(pd.DatetimeIndex(["2016-10-30 02:30"]), fold=True)
    assert is_dst_change(pd.DatetimeIndex(["2016-03-13 02:00"]), fold=False)  # US
    assert is_dst_change(pd.DatetimeIndex(["2016-11-06 01:15"]), fold=True)  # US
    assert not is_dst_change(pd.DatetimeIndex(["2016-03-27 03:00"]), fold=False)
    assert not is_dst_change(pd.DatetimeIndex(["2016-03-20 02:00"]), fold=False)


# rule 2: wrong or mixed steps


def test_irregular_step_names_first_offending_time(tmp_path):
    rows = _rows()
    rows[30][0] = "2016-01-01 07:20"  # 07:15 -> 07:20 -> 07:45
    _error(_write(tmp_path, rows), "'time'", "2016-01-01 07:20", "regular step of 15 min",
           "5 min after 2016-01-01 07:15")


def test_a_switch_to_a_coarser_resolution_is_an_error(tmp_path):
    rows = _rows(days=1) + [r for k, r in enumerate(_rows(start="2016-01-02", days=2))
                            if k % 4 == 0]  # 15-min rows, then hourly ones
    _error(_write(tmp_path, rows), "'time'", "one resolution of 15 min throughout",
           "1 h steps from 2016-01-02 00:00")
    # a single gap of the same length is a gap, filled as before
    rows = _rows()
    del rows[40:43]
    _clean(_write(tmp_path, rows, "gap.csv"))


def test_time_going_backwards_is_an_error(tmp_path):
    rows = _rows()
    rows[40], rows[41] = rows[41], rows[40]
    _error(_write(tmp_path, rows), "'time'", "2016-01-01 10:00", "increasing")


def test_times_off_the_step_grid_are_an_error(tmp_path):
    rows = [[(pd.Timestamp(r[0]) + pd.Timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M"), *r[1:]]
            for r in _rows()]
    _error(_write(tmp_path, rows), "'time'", "2016-01-01 00:05", "from midnight")


def test_step_that_does_not_divide_step_h_is_an_error(tmp_path):
    path = _write(tmp_path, _rows(step=pd.Timedelta(minutes=20)))
    _error(path, "'time'", "divides step_h = 0.5 h, got 20 min", step_h=0.5)


# rule 3: gaps


def test_missing_steps_are_interpolated_linearly(tmp_path):
    rows = _rows()
    del rows[40:43]  # 10:00, 10:15, 10:30
    table, records = _clean(_write(tmp_path, rows))
    assert table.loc["2016-01-01 10:00":"2016-01-01 10:30", "load"].tolist() == pytest.approx(
        [140.0, 141.0, 142.0])
    record = _find(records, "gap")
    assert (record["count"], record["first_time"]) == (3, "2016-01-01T10:00:00")


def test_dst_gap_is_interpolated_and_recorded(tmp_path):
    rows = _rows("2016-03-27", days=1)
    del rows[8:12]
    table, records = _clean(_write(tmp_path, rows))
    assert len(table) == 96
    assert table.loc["2016-03-27 02:30", "load"] == pytest.approx(110.0)
    record = _find(records, "dst_gap")
    assert (record["count"], record["first_time"]) == (4, "2016-03-27T02:00:00")


def test_empty_cells_are_interpolated_and_counted(tmp_path):
    rows = _rows()
    rows[50][2] = ""
    rows[51][2] = ""
    rows[52][2] = 0.8  # pv 0.5, NaN, NaN, 0.8 -> 0.6, 0.7
    table, records = _clean(_write(tmp_path, rows))
    assert table["pv"].iloc[50:53].tolist() == pytest.approx([0.6, 0.7, 0.8])
    record = _find(records, "nan")
    assert (record["column"], record["count"]) == ("pv", 2)


def test_long_nan_run_names_column_and_its_ends(tmp_path):
    rows = _rows()
    for row in rows[60:69]:  # 9 steps = 2.25 h > max_gap_h = 2
        row[1] = ""
    _error(_write(tmp_path, rows), "'load'", "2016-01-01 15:00:00", "2016-01-01 17:00:00",
           "max_gap_h = 2.0")


def test_long_run_of_missing_steps_names_time_column(tmp_path):
    rows = _rows()
    del rows[60:65]  # 1.25 h
    _error(_write(tmp_path, rows), "'time'", "2016-01-01 15:00:00", "2016-01-01 16:00:00",
           max_gap_h=1.0)


def test_missing_values_at_the_end_drop_that_partial_day(tmp_path):
    rows = _rows()
    rows[-1][2] = ""
    table, records = _clean(_write(tmp_path, rows))
    assert table.index[-1] == pd.Timestamp("2016-01-01 23:45")
    assert _find(records, "nan_edge")["count"] == 1
    assert _find(records, "partial_day")["count"] == 95


# rule 4: non-numeric cells


def test_non_numeric_cell_names_row_and_text(tmp_path):
    rows = _rows()
    rows[5][1] = "12,5kW"
    path = _write(tmp_path, [[r[0], f'"{r[1]}"', r[2]] for r in rows])
    _error(path, "'load'", "row 6 (line 7)", "'12,5kW'")


def test_infinite_value_is_an_error(tmp_path):
    rows = _rows()
    rows[3][2] = "inf"
    _error(_write(tmp_path, rows), "'pv'", "row 4 (line 5)", "finite")


# rule 5: negatives


def test_tiny_negatives_are_clipped_and_counted(tmp_path):
    rows = _rows()
    for k in (10, 11, 70):
        rows[k][2] = -1e-5
    table, records = _clean(_write(tmp_path, rows))
    assert table["pv"].min() == 0.0
    assert table["pv"].iloc[10] == 0.0
    record = _find(records, "negative")
    assert (record["column"], record["count"], record["first_time"]) == (
        "pv", 3, "2016-01-01T02:30:00")


def test_negative_beyond_tolerance_is_an_error(tmp_path):
    rows = _rows()
    rows[10][1] = -5.0
    _error(_write(tmp_path, rows), "'load'", "2016-01-01 02:30", ">= -0.001", "-5.0")


# rule 6: per unit above 1


def test_per_unit_slightly_above_one_is_clipped(tmp_path):
    rows = _rows()
    rows[7][2] = 1.004
    rows[8][2] = 1.01
    table, records = _clean(_write(tmp_path, rows))
    assert table["pv"].max() == 1.0
    record = _find(records, "above_one")
    assert (record["column"], record["count"]) == ("pv", 2)
    assert table["load"].max() == 291.0  # the load column is not per unit


def test_per_unit_far_above_one_is_an_error(tmp_path):
    rows = _rows()
    rows[9][2] = 1.2
    _error(_write(tmp_path, rows), "'pv'", "2016-01-01 02:15", "<= 1 + 0.01", "1.2")


# rule 7: partial days


def test_partial_days_at_both_ends_are_dropped(tmp_path):
    rows = _rows(days=3)[48:-8]  # starts 12:00 on day 1, ends 22:00 on day 3
    table, records = _clean(_write(tmp_path, rows), step_h=1.0)
    assert table.index[0] == pd.Timestamp("2016-01-02 00:00")
    assert len(table) == 24
    partial = [r for r in records if r["rule"] == "partial_day"]
    assert [(r["first_time"], r["count"]) for r in partial] == [
        ("2016-01-01T12:00:00", 48), ("2016-01-03T00:00:00", 88)]


def test_no_whole_day_is_an_error(tmp_path):
    _error(_write(tmp_path, _rows()[10:100]), "'time'", "whole day")


# rule 8: timestamps


def test_unparseable_timestamp_names_row(tmp_path):
    rows = _rows()
    rows[12][0] = "2016-01-01 25:00"
    _error(_write(tmp_path, rows), "'time'", "row 13 (line 14)", "'2016-01-01 25:00'")


def test_simbench_time_format_is_understood(tmp_path):
    rows = [[pd.Timestamp(r[0]).strftime("%d.%m.%Y %H:%M"), *r[1:]] for r in _rows()]
    table, _ = _clean(_write(tmp_path, rows), step_h=1.0)
    assert table.index[1] == pd.Timestamp("2016-01-01 01:00")
    assert table.index[-1] == pd.Timestamp("2016-01-02 23:00")


def test_one_utc_offset_is_dropped_and_mixed_offsets_are_an_error(tmp_path):
    rows = [[r[0].replace(" ", "T") + "+01:00", *r[1:]] for r in _rows()]
    table, _ = _clean(_write(tmp_path, rows))
    assert table.index[0] == pd.Timestamp("2016-01-01 00:00")
    assert table.index.tz is None
    rows[-1][0] = rows[-1][0].replace("+01:00", "+02:00")
    _error(_write(tmp_path, rows, "mixed.csv"), "'time'", "mixed UTC offsets")


# resampling


def test_resampling_takes_the_mean_over_each_step(tmp_path):
    table, records = _clean(_write(tmp_path, _rows()), step_h=1.0)
    assert len(table) == 48
    assert table["load"].iloc[:2].tolist() == pytest.approx([101.5, 105.5])
    assert table.index.dtype == "datetime64[ns]"
    assert records == []


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 1000), min_size=96, max_size=96),
       st.sampled_from([0.5, 1.0, 2.0, 6.0]))
def test_resampling_keeps_the_energy(values, step_h):
    times = pd.date_range("2016-01-01", periods=96, freq="15min")
    raw = pd.DataFrame({"time": times.strftime("%Y-%m-%d %H:%M"), "load": values})
    table, _ = clean_table(raw, Origin("mem.csv", "time"), History(step_h=step_h), [])
    assert len(table) == 24 / step_h
    assert table["load"].sum() * step_h == pytest.approx(np.sum(values) * 0.25, abs=1e-6)
