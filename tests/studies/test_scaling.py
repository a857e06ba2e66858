"""The scaling study's tables, figure and input checks, on hand-made benchmark rows.

No PH runs here: ``studies/scaling/run.py --quick`` does that (minutes).
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from framework.errors import InputError
from framework.plotting import plot_scaling
from tests.studies.conftest import load_study_script

run = load_study_script("scaling", "run.py")


def _row(days, mode, ranks, bundles, spokes, ef_s, ph_s, iterations, gap, peaks):
    return {"load_average": 1.5, "days": days, "mode": mode, "ranks": ranks,
            "bundles_per_rank": bundles, "spokes": spokes,
            "ef": {"wall_s": ef_s, "objective": 100.0, "peak_mb": [250.0]},
            "ph": {"wall_s": ph_s, "iterations": iterations, "outer_bound": 99.5,
                   "inner_bound": 100.2, "rel_gap": gap, "peak_mb": peaks,
                   "first_1pct_s": ph_s / 2},
            "ratio_to_ef": ph_s / ef_s, "ef_within_bounds": True}


ROWS = [
    _row(24, "accounts", 1, 0, "default", 0.8, 2.4, 5, 0.0093, [275.0]),
    _row(24, "accounts", 2, 0, "default", 0.8, 2.0, 5, 0.0093, [257.0, 254.0]),
    _row(366, "accounts", 2, 2, "default", 15.0, 12.0, 1, 0.0012, [494.0, 489.0]),
]


def test_table_has_the_rows_numbers() -> None:
    records = run.table(ROWS)
    assert [r["ratio"] for r in records] == pytest.approx([3.0, 2.5, 0.8])
    assert [r["spokes"] for r in records] == ["none", "none", "none"]
    assert records[2]["ph_peak_mb"] == [494.0, 489.0]
    parsed = list(csv.DictReader(io.StringIO(run.summary_csv(records))))
    assert list(parsed[0]) == list(run.COLUMNS)
    assert [float(r["ratio"]) for r in parsed] == pytest.approx([3.0, 2.5, 0.8])
    assert [float(r["ph_s"]) / float(r["ef_s"]) for r in parsed] == pytest.approx(
        [float(r["ratio"]) for r in parsed])
    assert parsed[2]["ph_peak_mb"] == "494.0;489.0"
    lines = run.summary_md(records).splitlines()
    header = [c.strip() for c in next(x for x in lines if x.startswith("| days")).split("|")]
    body = [[c.strip() for c in x.split("|")] for x in lines
            if x.startswith("| ") and not x.startswith("| days")]
    assert len(body) == 3
    col = {name: header.index(name) for name in ("EF s", "PH s to 1 %", "ratio PH/EF",
                                                 "final gap", "PH peak MB per rank")}
    assert [row[col["ratio PH/EF"]] for row in body] == ["3.00", "2.50", "0.80"]
    assert [row[col["EF s"]] for row in body] == ["0.8", "0.8", "15.0"]
    assert [row[col["PH s to 1 %"]] for row in body] == ["2.4", "2.0", "12.0"]
    assert body[2][col["final gap"]] == "0.120%"
    assert body[1][col["PH peak MB per rank"]] == "257, 254"


def test_default_spokes_are_resolved_by_rank_count() -> None:
    rows = [dict(ROWS[0], ranks=3), dict(ROWS[0], ranks=2, spokes="lagrangian")]
    assert [r["spokes"] for r in run.table(rows)] == ["lagrangian,xhatxbar", "lagrangian"]


def test_outputs_are_written_and_identical_on_rerun(tmp_path) -> None:
    first = run.write_outputs(ROWS, tmp_path / "one")
    second = run.write_outputs(ROWS, tmp_path / "two")
    names = [p.relative_to(tmp_path / "one").as_posix() for p in first]
    assert names == ["scaling.json", "summary.md", "summary.csv", "figures/scaling.pdf",
                     "figures/scaling.png"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert json.loads(first[0].read_text()) == ROWS
    assert first[3].read_bytes().startswith(b"%PDF")
    assert first[4].read_bytes().startswith(b"\x89PNG")
    stamps = [p.stat().st_mtime_ns for p in first]
    run.write_outputs(ROWS, tmp_path / "one")
    assert [p.stat().st_mtime_ns for p in first] == stamps


def test_plot_scaling_draws_ph_and_ef() -> None:
    rows = ROWS + [_row(24, "accounts", 2, 0, "lagrangian", 0.8, 4.0, 8, 0.007, [1.0, 1.0])]
    fig = plot_scaling(rows)
    times, ratio = fig.axes[:2]
    assert times.get_xscale() == "log" and times.get_yscale() == "log"
    assert [t.get_text() for t in times.get_xticklabels()] == ["1", "2"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["24 days, station (accounts)",
                      "24 days, station (accounts), spokes lagrangian",
                      "366 days, station (accounts)"]
    assert [line.get_ydata()[0] for line in times.lines if line.get_linestyle() == "--"] == [
        0.8, 15.0]
    assert list(ratio.lines[0].get_ydata()) == pytest.approx([3.0, 2.5])
    with pytest.raises(InputError, match="no benchmark rows"):
        plot_scaling([])


def test_from_missing_file_names_it(tmp_path, capsys) -> None:
    path = tmp_path / "nothing.json"
    with pytest.raises(InputError, match=r"nothing\.json: no such file; expected a JSON list"):
        run.load_rows(path)
    assert run.main(["--from", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "nothing.json: no such file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("[{\"days\": 24,", r"broken\.json: not valid JSON \(.* at line 1"),
    ("{\"days\": 24}", r"broken\.json: expected a JSON list of rows .*, got dict"),
    ("[]", r"broken\.json: expected a JSON list of rows .*, got nothing"),
    (json.dumps([{k: v for k, v in ROWS[0].items() if k != "ph"}]),
     r"broken\.json: row 0: no field 'ph\.wall_s'"),
    (json.dumps([ROWS[0], dict(ROWS[1], ranks="2")]),
     r"broken\.json: row 1: 'ranks' is '2'; expected int"),
    (json.dumps([dict(ROWS[0], ph=dict(ROWS[0]["ph"], peak_mb=[]))]),
     r"broken\.json: row 0: 'ph\.peak_mb' is \[\]; expected a list of numbers"),
])
def test_from_malformed_file_names_it(tmp_path, text, message) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        run.load_rows(path)


def test_from_rejects_run_options(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        run.main(["--from", str(tmp_path / "x.json"), "--ranks", "4"])
    assert "--from reuses" in capsys.readouterr().err


def test_from_writes_outputs(tmp_path, capsys) -> None:
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(ROWS))
    assert run.main(["--from", str(path), "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "| 366 | accounts | 2 | 2 | none | 15.0 | 12.0 | 0.80 |" in out
    assert str(tmp_path / "out" / "figures" / "scaling.png") in out


def test_benchmark_cases_by_ranks() -> None:
    bench = load_study_script("benchmarks", "ph_vs_ef.py")
    assert bench.cases(False) == [(24, 1, 0, "default"), (24, 2, 0, "default"),
                                  (24, 2, 0, "lagrangian"), (0, 1, 4, "default"),
                                  (0, 2, 2, "default")]
    assert bench.cases(True, [4, 1]) == [(24, 1, 0, "default"), (24, 4, 0, "default")]
    assert [bench.bundles_per_rank(n) for n in (1, 2, 3, 4, 6, 8, 16)] == [4, 2, 4, 1, 2, 1, 1]
