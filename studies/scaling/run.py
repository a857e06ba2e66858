"""Scaling study: progressive hedging over MPI ranks (and bundles) against the extensive form.

Runs ``studies/benchmarks/ph_vs_ef.py`` (:func:`benchmark`: the extensive form in one
process, PH to a certified 1 % gap under ``mpiexec -n N`` for each rank count) or, with
``--from``, reads the JSON such a run wrote, and writes to the output folder:

- ``scaling.json``: the benchmark's rows, as they are;
- ``summary.md`` and ``summary.csv``: one row per architecture (``mode``) and PH run
  (:data:`COLUMNS`);
- ``figures/scaling.pdf`` and ``.png``: :func:`framework.plotting.plot_scaling`.

Run from the repository root::

    python studies/scaling/run.py --quick --ranks 1 2            # a laptop: 24 days
    python studies/scaling/run.py --ranks 1 2 4 8 16             # a cluster node
    python studies/scaling/run.py --from results/benchmarks/ph_vs_ef.json

Every file is written atomically and only when its content changed; the content holds no
date, so a rerun from the same rows leaves every byte as it was.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from framework.errors import InputError
from framework.io import write_if_changed
from framework.plotting import plot_scaling, save_figure

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = ROOT / "studies" / "benchmarks" / "ph_vs_ef.py"
EXPECTED = "a JSON list of rows of studies/benchmarks/ph_vs_ef.py"
FIELDS = {  # the fields a row needs (dotted: nested), and their type
    "days": int, "mode": str, "ranks": int, "bundles_per_rank": int, "spokes": str,
    "ef.wall_s": float, "ef.objective": float, "ef.peak_mb": list,
    "ph.wall_s": float, "ph.iterations": int, "ph.rel_gap": float, "ph.peak_mb": list,
    "ef_within_bounds": bool, "load_average": float,
}
COLUMNS = {  # column of summary.csv: heading in summary.md
    "days": "days", "mode": "architecture", "ranks": "ranks", "bundles_per_rank": "bundles/rank",
    "spokes": "spokes", "ef_s": "EF s", "ph_s": "PH s to 1 %", "ratio": "ratio PH/EF",
    "iterations": "iterations", "final_gap": "final gap", "ef_within_bounds": "EF in bounds",
    "ef_peak_mb": "EF peak MB", "ph_peak_mb": "PH peak MB per rank", "load_average": "load",
}

INTRO = """# Scaling: progressive hedging over MPI ranks against the extensive form

PH (mpi-sppy) stops at a certified gap of 1 %. `PH s` is its wall time (scenario models,
PH, the dispatch at the final capacities), `EF s` the extensive form's in one process,
`ratio` = PH s / EF s; `final gap` is PH's certified gap, `EF in bounds` whether the EF
optimum lies between PH's bounds. `load` is the machine's 1-minute load average after the
run: other work slows every timing. See `studies/scaling/README.md`.
"""


def _field(row: Mapping, name: str) -> object:
    value: object = row
    for key in name.split("."):
        value = value[key]  # type: ignore[index]
    return value


def _check(value: object, kind: type) -> bool:
    """Whether ``value`` is of ``kind`` (float: any number; list: numbers, one at least)."""
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is list:
        return isinstance(value, list) and bool(value) and all(_check(v, float) for v in value)
    return isinstance(value, kind)


def load_rows(path: str | Path) -> list[dict]:
    """The rows of a benchmark JSON file, checked.

    Raises
    ------
    InputError
        The file is missing or not JSON, or a row lacks a field of :data:`FIELDS` or has
        one of another type; the message names the file (and the row and field).
    """
    path = Path(path)
    try:
        rows = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; expected {EXPECTED}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc}); expected {EXPECTED}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno}); expected {EXPECTED}") from None
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{path}: expected {EXPECTED} (one or more), got "
                         f"{type(rows).__name__ if rows else 'nothing'}")
    for i, row in enumerate(rows):
        for name, kind in FIELDS.items():
            try:
                value = _field(row, name)
            except (KeyError, TypeError):
                raise InputError(f"{path}: row {i}: no field '{name}'; expected "
                                 f"{EXPECTED}") from None
            if not _check(value, kind):
                expected = "a list of numbers" if kind is list else kind.__name__
                raise InputError(f"{path}: row {i}: '{name}' is {value!r}; expected "
                                 f"{expected}")
    return rows


def spokes_run(row: Mapping) -> str:
    """The spokes PH ran with (``default``: :func:`framework.solve.ph.default_spokes`)."""
    if row["spokes"] != "default":
        return str(row["spokes"])
    from framework.solve.ph import default_spokes

    return ",".join(default_spokes(int(row["ranks"]))) or "none"


def table(rows: Sequence[Mapping]) -> list[dict]:
    """One record per row with the keys of :data:`COLUMNS` (times in s, gap a fraction)."""
    return [{
        "days": r["days"], "mode": r["mode"], "ranks": r["ranks"],
        "bundles_per_rank": r["bundles_per_rank"], "spokes": spokes_run(r),
        "ef_s": r["ef"]["wall_s"], "ph_s": r["ph"]["wall_s"],
        "ratio": r["ph"]["wall_s"] / r["ef"]["wall_s"], "iterations": r["ph"]["iterations"],
        "final_gap": r["ph"]["rel_gap"], "ef_within_bounds": r["ef_within_bounds"],
        "ef_peak_mb": max(r["ef"]["peak_mb"]), "ph_peak_mb": list(r["ph"]["peak_mb"]),
        "load_average": r["load_average"],
    } for r in rows]


def summary_csv(records: Sequence[Mapping]) -> str:
    """``summary.csv``: the records, peak memory per rank joined by ``;``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({**rec, "ph_peak_mb": ";".join(f"{m:.1f}" for m in rec["ph_peak_mb"])})
    return buffer.getvalue()


def summary_md(records: Sequence[Mapping]) -> str:
    """``summary.md``: what the numbers are, and the table."""
    cells = [[
        str(rec["days"]), str(rec["mode"]), str(rec["ranks"]), str(rec["bundles_per_rank"]),
        str(rec["spokes"]), f"{rec['ef_s']:.1f}", f"{rec['ph_s']:.1f}", f"{rec['ratio']:.2f}",
        str(rec["iterations"]), f"{rec['final_gap']:.3%}",
        "yes" if rec["ef_within_bounds"] else "NO", f"{rec['ef_peak_mb']:.0f}",
        ", ".join(f"{m:.0f}" for m in rec["ph_peak_mb"]), f"{rec['load_average']:.1f}",
    ] for rec in records]
    align = ["---:" if c not in ("mode", "spokes", "ef_within_bounds", "ph_peak_mb")
             else "---" for c in COLUMNS]
    lines = [INTRO, "| " + " | ".join(COLUMNS.values()) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def write_outputs(rows: Sequence[Mapping], out: str | Path) -> list[Path]:
    """Write ``scaling.json``, ``summary.md``, ``summary.csv`` and ``figures/scaling.*``.

    Returns
    -------
    list of Path
        The files (each rewritten only if its content changed).
    """
    out = Path(out)
    records = table(rows)
    texts = {"scaling.json": json.dumps(list(rows), indent=2) + "\n",
             "summary.md": summary_md(records), "summary.csv": summary_csv(records)}
    for name, text in texts.items():
        write_if_changed(out / name, text)
    figures = save_figure(plot_scaling(rows), out / "figures" / "scaling",
                          description="sesplan scaling study: PH against the extensive form")
    return [out / name for name in texts] + figures


def run_benchmark(quick: bool, ranks: Sequence[int], modes: Sequence[str]) -> list[dict]:
    """The rows of ``studies/benchmarks/ph_vs_ef.py``'s :func:`benchmark` (runs PH)."""
    spec = importlib.util.spec_from_file_location("ph_vs_ef", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.benchmark(quick, ranks, modes)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the module docstring); 0 when every EF optimum lies within PH's
    bounds, 1 otherwise, 2 on bad input."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", metavar="N",
                        help="MPI rank counts of PH (default: 1 2)")
    parser.add_argument("--quick", action="store_true", help="24 clustered days only")
    parser.add_argument("--architectures", metavar="NAMES",
                        help="comma-separated architectures (default: accounts,individual)")
    parser.add_argument("--from", dest="source", metavar="JSON",
                        help="reuse the rows of a benchmark run instead of running it")
    parser.add_argument("-o", "--output", default="results/scaling")
    args = parser.parse_args(argv)
    if args.source and (args.ranks or args.quick or args.architectures):
        parser.error("--from reuses a benchmark's rows: --ranks, --quick and "
                     "--architectures do not apply")
    if args.ranks and min(args.ranks) < 1:
        parser.error(f"--ranks: expected positive rank counts, got {args.ranks}")
    try:
        rows = (load_rows(args.source) if args.source else
                run_benchmark(args.quick, args.ranks or [1, 2],
                              (args.architectures or "accounts,individual").split(",")))
    except InputError as exc:
        print(f"scaling: error: {exc}", file=sys.stderr)
        return 2
    paths = write_outputs(rows, args.output)
    print(Path(args.output, "summary.md").read_text())
    print("written:\n" + "\n".join(f"  {p}" for p in paths))
    if not all(r["ef_within_bounds"] for r in rows):
        print("scaling: an EF optimum lies outside the PH bounds", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
