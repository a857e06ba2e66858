"""Benchmark: the whole extensive-form pipeline against HiGHS alone on the same LP, for
every sharing architecture side by side.

For each case (the default system with 24 clustered days and with all 366 days; then 4, 16
and 64 microgrids on 24 clustered days) and each architecture, one child process runs the
pipeline (extensive-form model build, compilation to matrices, HiGHS, where energy can move
between microgrids the least-exchange second solve, result dataset) and reports its timings
and peak memory; another reads the same LP (the first solve's) from an MPS file and solves
it with HiGHS alone. Prints a table per case and architecture, the ratios side by side, and
writes JSON. ``ratio`` is the whole pipeline over HiGHS alone; ``ratio w/o 2nd`` leaves the
least-exchange solve out (the same work as HiGHS alone plus the pipeline's overhead).

    python studies/benchmarks/ef_vs_highs.py [-o results/benchmarks/ef_vs_highs.json]
    python studies/benchmarks/ef_vs_highs.py --quick      # 24 days and 4 microgrids only
    python studies/benchmarks/ef_vs_highs.py --architectures individual,accounts,pooled
    python studies/benchmarks/ef_vs_highs.py --chronological -o results/benchmarks/chrono.json
                                           # 366 days in order, one LP (issue 16)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from framework.io import write_json

LOADS = ["H0-A", "G1-A", "L0-A", "G3-A", "H0-B", "G0-A", "L1-A", "G4-A", "H0-C", "G2-A",
         "L2-A", "G5-A", "H0-G", "G6-A", "H0-L", "G1-B"]
PV = ["PV3", "PV5", "PV8", "PV1", "PV2", "PV4", "PV6", "PV7"]
WIND = ["WP4", "WP2", "WP1", "WP3", "WP5", "WP6", "WP7", "WP8"]


def scaled_system(n: int):
    """The default system with ``n`` microgrids: the four kinds repeated on other profiles."""
    from framework.system import default_system

    base = default_system()
    mgs = []
    for j in range(n):
        kind = base.microgrids[j % len(base.microgrids)]
        mgs.append(replace(
            kind, name=f"{kind.name}-{j}" if n > len(base.microgrids) else kind.name,
            load_profile=LOADS[j % len(LOADS)],
            pv_profile=PV[j % len(PV)] if kind.pv_kw else None,
            wind_profile=WIND[j % len(WIND)] if kind.wind_kw else None))
    return replace(base, microgrids=tuple(mgs))


def storage_architectures() -> list[str]:
    """The default architectures: every one with storage."""
    from framework.architecture import ARCHITECTURES, architecture

    return [a for a in ARCHITECTURES if architecture(a).storage != "none"]


def run_pipeline(n_microgrids: int, days: int, mode: str, mps: str,
                 chronological: bool = False) -> dict:
    """Child process: scenarios (untimed), then the timed pipeline of architecture ``mode``
    (with ``chronological``, every day in order, the state of charge carried:
    :func:`framework.chronological.solve_chronological`); writes the LP (of the first
    solve) as MPS."""
    import highspy

    from framework.chronological import solve_chronological
    from framework.solve.ef import solve_ef
    from framework.solve.highs import to_highs_lp
    from scenarios_gen.pipeline import scenarios_for

    system = scaled_system(n_microgrids)
    scenarios = scenarios_for(system, all_days=days == 0, n_clusters=days or 1)
    start = time.perf_counter()
    solve = solve_chronological if chronological else solve_ef
    ds = solve(system, scenarios, mode).sel(mode=mode)
    total = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from framework.model import build_extensive_model, scenario_data

    data = [scenario_data(scenarios, k) for k in range(scenarios.sizes["scenario"])]
    lp, _, offset = to_highs_lp(build_extensive_model(system, data, mode,
                                                      chronological=chronological))
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    h.writeModel(mps)
    return {"scenarios": int(scenarios.sizes["scenario"]), "columns": int(lp.num_col_),
            "rows": int(lp.num_row_), "objective": float(ds["objective"].item()),
            "offset": offset, "build_s": float(ds["build_s"].item()),
            "compile_s": float(ds["compile_s"].item()),
            "highs_in_pipeline_s": float(ds["solve_s"].item() - ds["compile_s"].item()),
            "least_exchange_s": float(np.nan_to_num(ds["least_exchange_s"].item())),
            "results_s": float(ds["results_s"].item()), "total_s": total,
            "peak_mb": peak_mb}


def run_highs_alone(mps: str) -> dict:
    """Child process: HiGHS reads the MPS file and solves it."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    start = time.perf_counter()
    h.readModel(mps)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    h.run()
    return {"read_s": read_s, "solve_s": time.perf_counter() - start,
            "objective": h.getInfo().objective_function_value,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(kind: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_architectures(text: str | None) -> list[str]:
    """``--architectures``: comma-separated names (default every one with storage)."""
    from framework.architecture import architecture

    if not text:
        return storage_architectures()
    names = [a.strip() for a in text.split(",") if a.strip()]
    for name in names:
        architecture(name)  # an InputError names the valid ones
    return names


def measure(cases: list[tuple[int, int]], modes: list[str],
            chronological: bool = False) -> list[dict]:
    """One row per case and architecture: the pipeline and HiGHS alone, in child processes."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, days in cases:
            for mode in modes:
                mps = str(Path(tmp) / f"ef_{n}_{days}_{mode.replace('+', '_')}.mps")
                pipe = child("pipeline", str(n), str(days), mode, mps, str(int(chronological)))
                alone = child("highs", mps)
                first = pipe["total_s"] - pipe["least_exchange_s"]
                rows.append({"microgrids": n, "days": days or 366, "architecture": mode,
                             "chronological": chronological,
                             "pipeline": pipe, "highs_alone": alone,
                             "ratio_total_to_highs": pipe["total_s"] / alone["solve_s"],
                             "ratio_first_solve_to_highs": first / alone["solve_s"]})
                print(f"{n} microgrids, {days or 366} days, {mode}: {pipe['total_s']:.1f} s "
                      f"pipeline, {alone['solve_s']:.1f} s HiGHS alone", file=sys.stderr)
                if abs(pipe["objective"] - (alone["objective"] + pipe["offset"])) > \
                        1e-6 * abs(pipe["objective"]):
                    raise SystemExit(f"{mode}: pipeline and HiGHS alone disagree on the "
                                     "objective")
    return rows


def tables(rows: list[dict], modes: list[str]) -> str:
    """The detailed table (one row per case and architecture) and the ratios side by side."""
    lines = ["| microgrids | days | architecture | columns | build s | compile s | "
             "HiGHS s (pipeline) | 2nd solve s | results s | total s | HiGHS alone s | "
             "ratio | ratio w/o 2nd | peak MB (pipeline / alone) |",
             "|" + "---:|" * 2 + "---|" + "---:|" * 11]
    for r in rows:
        p, a = r["pipeline"], r["highs_alone"]
        lines.append(
            f"| {r['microgrids']} | {r['days']} | {r['architecture']} | {p['columns']:,} | "
            f"{p['build_s']:.2f} | {p['compile_s']:.2f} | {p['highs_in_pipeline_s']:.2f} | "
            f"{p['least_exchange_s']:.2f} | {p['results_s']:.2f} | {p['total_s']:.2f} | "
            f"{a['solve_s']:.2f} | {r['ratio_total_to_highs']:.2f} | "
            f"{r['ratio_first_solve_to_highs']:.2f} | {p['peak_mb']:.0f} / {a['peak_mb']:.0f} |")
    lines += ["", "Ratio of the pipeline to HiGHS alone (w/o the least-exchange solve in "
              "brackets where there is one):", "",
              "| microgrids | days | " + " | ".join(modes) + " |",
              "|---:|---:|" + "---:|" * len(modes)]
    for n, days in dict.fromkeys((r["microgrids"], r["days"]) for r in rows):
        cells = []
        for mode in modes:
            r = next(r for r in rows if (r["microgrids"], r["days"], r["architecture"])
                     == (n, days, mode))
            cell = f"{r['ratio_total_to_highs']:.2f}"
            if r["pipeline"]["least_exchange_s"] > 0:
                cell += f" ({r['ratio_first_solve_to_highs']:.2f})"
            cells.append(cell)
        lines.append(f"| {n} | {days} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="results/benchmarks/ef_vs_highs.json")
    parser.add_argument("--quick", action="store_true", help="the smallest case only")
    parser.add_argument("--architectures", metavar="NAMES",
                        help="comma-separated architectures (default: every one with storage)")
    parser.add_argument("--chronological", action="store_true",
                        help="the default system's 366 days in order, the state of charge "
                        "carried from day to day (one LP), instead of the usual cases")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = (run_pipeline(int(rest[0]), int(rest[1]), rest[2], rest[3], rest[4] == "1")
                  if kind == "pipeline" else run_highs_alone(rest[0]))
        print(json.dumps(result))
        return
    modes = parse_architectures(args.architectures)
    cases = [(4, 0)] if args.chronological else [(4, 24)] if args.quick else [
        (4, 24), (4, 0), (16, 24), (64, 24)]
    rows = measure(cases, modes, args.chronological)
    print(tables(rows, modes))
    print(f"\nwritten to {write_json(rows, args.output)}")


if __name__ == "__main__":
    main()
