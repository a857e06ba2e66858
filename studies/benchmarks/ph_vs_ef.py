"""Benchmark: progressive hedging (mpi-sppy, certified bounds) against the extensive form.

The default system with 24 clustered days and with all 366 days, with the accounts station
and with individual batteries (``--architectures``). The
extensive form (``solve_ef``) runs in one process; PH (``solve_ph`` with
``rel_gap = 0.01``: it stops at a certified 1 % gap) runs under ``mpiexec -n N`` for each
rank count of ``--ranks`` (default 1 and 2): 24 days without bundles (and, on 2 ranks,
also a hub with a Lagrangian spoke), 366 days with bundles (:func:`bundles_per_rank`: 4
bundles per cylinder in all while a cylinder has at most 4 ranks, one per rank beyond).
Each run is a child process; every rank reports its peak memory. The table gives the
wall time to the certified gap (scenario models, PH, and the dispatch at the final
capacities), its ratio to the EF time, the iterations, the final gap, whether the EF
optimum lies between the PH bounds, and the machine's load average (other work on the
machine slows every timing).

    python studies/benchmarks/ph_vs_ef.py [-o results/benchmarks/ph_vs_ef.json]
    python studies/benchmarks/ph_vs_ef.py --quick       # 24 days only
    python studies/benchmarks/ph_vs_ef.py --ranks 1 2 4 8 16   # a cluster node
    python studies/benchmarks/ph_vs_ef.py --quick --architectures pooled

The spokes are ``solve_ph``'s default: on a multiple of 3 ranks a Lagrangian and an
``xhatxbar`` spoke (a third of the ranks each), on any other count none, with both bounds
on the hub: a hub with spokes needs a rank per cylinder, and spokes on the hub's cores
only take time from it. Scenarios go in the same scenario file for every run.
``studies/scaling/run.py`` runs this benchmark and draws the times against the ranks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from framework.io import write_json

BUNDLES = 4
"""Bundles per cylinder of the 366-day case, at least one per rank."""
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"


def make_scenarios(days: int, path: str) -> None:
    """Child: the scenario file of the default system (``days = 0``: all 366 days)."""
    from framework.system import default_system
    from scenarios_gen.pipeline import scenarios_for
    from scenarios_gen.scenarios import write_scenarios

    write_scenarios(scenarios_for(default_system(), n_clusters=days or 1, all_days=days == 0),
                    path)


def run_ef(path: str, mode: str) -> dict:
    """Child: the extensive form, timed."""
    from framework.solve.ef import solve_ef
    from framework.system import default_system
    from scenarios_gen.scenarios import read_scenarios

    scenarios = read_scenarios(path)
    start = time.perf_counter()
    ds = solve_ef(default_system(), scenarios, mode)
    return {"wall_s": time.perf_counter() - start, "objective": float(ds["objective"].item()),
            "peak_mb": [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]}


def run_ph(path: str, mode: str, bundles_per_rank: int, spokes: str) -> dict | None:
    """Child (every rank): PH to a certified 1 % gap, timed; the result on rank 0."""
    from framework._mpisppy import MPI
    from framework.solve.ph import solve_ph
    from framework.system import default_system
    from scenarios_gen.scenarios import read_scenarios

    comm = MPI.COMM_WORLD
    scenarios = read_scenarios(path)
    comm.Barrier()
    start = time.perf_counter()
    ds = solve_ph(default_system(), scenarios, mode, rel_gap=0.01, max_iterations=300,
                  bundles_per_rank=bundles_per_rank,
                  spokes=None if spokes == "default" else [s for s in spokes.split(",") if s])
    wall = time.perf_counter() - start
    peak = comm.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, root=0)
    if ds is None:
        return None
    return {"wall_s": wall, "iterations": int(ds["ph_iterations"].item()),
            "outer_bound": float(ds["outer_bound"].item()),
            "inner_bound": float(ds["inner_bound"].item()),
            "rel_gap": float(ds["rel_gap"].item()), "peak_mb": peak,
            "first_1pct_s": next((float(t) for g, t in zip(ds["ph_rel_gap"].values[0],
                                                            ds["ph_elapsed_s"].values[0])
                                  if g <= 0.01), None)}


def child(args: list[str], ranks: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--child", *args]
    if ranks:
        cmd = [MPIEXEC, "-n", str(ranks), sys.executable, "-m", "mpi4py", *cmd[1:]]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bundles_per_rank(ranks: int) -> int:
    """Bundles per rank that give :data:`BUNDLES` bundles per cylinder, at least one a rank.

    The hub's cylinder has every rank, or a third of them on a multiple of 3 ranks (with
    the default spokes): 1, 2, 4, 8, 16 ranks give 4, 2, 1, 1, 1 bundles per rank (4, 4,
    4, 8, 16 bundles in all); 3 and 6 ranks give 4 and 2.
    """
    from framework.solve.ph import default_spokes

    return max(1, BUNDLES // (ranks // (1 + len(default_spokes(ranks)))))


def cases(quick: bool, ranks: Sequence[int] = (1, 2)) -> list[tuple[int, int, int, str]]:
    """(days, ranks, bundles per rank, spokes) of each PH run (``days = 0``: all 366).

    24 days without bundles on each rank count, and on 2 ranks (if listed) also a hub with
    a Lagrangian spoke; unless ``quick``, 366 days with :func:`bundles_per_rank`.
    """
    counts = sorted(set(ranks))
    small = [(24, n, 0, "default") for n in counts]
    if 2 in counts:
        small.append((24, 2, 0, "lagrangian"))
    full = [(0, n, bundles_per_rank(n), "default") for n in counts]
    return small if quick else small + full


def benchmark(quick: bool = False, ranks: Sequence[int] = (1, 2),
              modes: Sequence[str] = ("accounts", "individual")) -> list[dict]:
    """Run the EF and every PH case of :func:`cases` as child processes; the table's rows.

    Parameters
    ----------
    quick : bool
        24 clustered days only.
    ranks : sequence of int
        MPI rank counts of PH.
    modes : sequence of str
        Sharing architectures (:data:`framework.architecture.ARCHITECTURES`, with storage).

    Returns
    -------
    list of dict
        One row per architecture (``mode``) and PH case: ``days``, ``mode``, ``ranks``,
        ``bundles_per_rank``, ``spokes``, ``ef`` (``wall_s``, ``objective``, ``peak_mb``),
        ``ph`` (``wall_s``, ``iterations``, ``outer_bound``, ``inner_bound``, ``rel_gap``,
        ``peak_mb`` per rank, ``first_1pct_s``), ``ratio_to_ef``, ``ef_within_bounds``,
        ``load_average``.
    """
    rows = []
    runs = cases(quick, ranks)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for days in sorted({c[0] for c in runs}, reverse=True):
            files[days] = str(Path(tmp) / f"scenarios_{days or 366}.nc")
            child(["scenarios", str(days), files[days]])
        for mode in modes:
            ef = {days: child(["ef", path, mode]) for days, path in files.items()}
            for days, n, bundles, spokes in runs:
                ph = child(["ph", files[days], mode, str(bundles), spokes], ranks=n)
                e = ef[days]
                rows.append({
                    "load_average": os.getloadavg()[0],
                    "days": days or 366, "mode": mode, "ranks": n,
                    "bundles_per_rank": bundles, "spokes": spokes, "ef": e, "ph": ph,
                    "ratio_to_ef": ph["wall_s"] / e["wall_s"],
                    "ef_within_bounds": ph["outer_bound"] <= e["objective"] * (1 + 1e-9)
                    and e["objective"] <= ph["inner_bound"] * (1 + 1e-9)})
                print(f"{days or 366} days {mode}, {n} rank(s): PH {ph['wall_s']:.1f} s, "
                      f"EF {e['wall_s']:.1f} s", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="results/benchmarks/ph_vs_ef.json")
    parser.add_argument("--quick", action="store_true", help="24 clustered days only")
    parser.add_argument("--architectures", default="accounts,individual", metavar="NAMES",
                        help="comma-separated architectures (default: accounts,individual)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2], metavar="N",
                        help="MPI rank counts of PH (default: 1 2)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "scenarios":
            make_scenarios(int(rest[0]), rest[1])
            result: dict | None = {}
        elif kind == "ef":
            result = run_ef(rest[0], rest[1])
        else:
            result = run_ph(rest[0], rest[1], int(rest[2]), rest[3])
        if result is not None:
            print(json.dumps(result))
        return
    if min(args.ranks) < 1:
        parser.error(f"--ranks: expected positive rank counts, got {args.ranks}")
    rows = benchmark(args.quick, args.ranks, args.architectures.split(","))
    print("| days | architecture | ranks | bundles/rank | spokes | EF s | PH s to 1 % | ratio | "
          "iterations | final gap | EF in bounds | peak MB per rank (EF; PH) | load |")
    print("|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---|---|---:|")
    for r in rows:
        e, p = r["ef"], r["ph"]
        print(f"| {r['days']} | {r['mode']} | {r['ranks']} | {r['bundles_per_rank']} | "
              f"{r['spokes']} | {e['wall_s']:.1f} | {p['wall_s']:.1f} | "
              f"{r['ratio_to_ef']:.2f} | {p['iterations']} | {p['rel_gap']:.3%} | "
              f"{'yes' if r['ef_within_bounds'] else 'NO'} | {e['peak_mb'][0]:.0f}; "
              + ", ".join(f"{m:.0f}" for m in p["peak_mb"]) + f" | {r['load_average']:.1f} |")
    print(f"\nwritten to {write_json(rows, args.output)}")
    if not all(r["ef_within_bounds"] for r in rows):
        raise SystemExit("an EF optimum lies outside the PH bounds")


if __name__ == "__main__":
    main()
