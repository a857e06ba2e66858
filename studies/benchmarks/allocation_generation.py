"""Benchmark: the nucleolus and a certified core check by constraint generation, for 8, 16
and 32 microgrids, on 1 and 2 MPI ranks, with each separation (Lagrangian cuts, the MILP).

The systems are the default system's microgrids repeated on other SimBench profiles
(``scaled_system`` of ``ef_vs_highs.py``), each on 4 clustered days, coalitions sharing the
default ``accounts`` station. For every size, separation and rank count a child
``mpiexec -n R`` process starts from an empty cache and runs
:func:`framework.game.generation.nucleolus_generation` (its first stage is the least core:
its value is certified on the way) and then
:func:`framework.game.generation.core_check_generation` of the nucleolus found. Reported:
wall time, separations and their time, coalitions generated and LPs solved, the certified
least-core value and whether the nucleolus is proven in the core, and per size the MILP's
wall time over the cuts' (same ranks). The MILP runs up to ``--milp-up-to`` microgrids
(default 8: one MILP at 32 takes minutes). Up to ``--enumerate-up-to`` microgrids (default
8) the run also solves all ``2^n - 1`` coalitions (on the same cache) and checks the
nucleolus and the least-core value against :mod:`framework.game.rules`. Prints a table and
writes JSON.

    python studies/benchmarks/allocation_generation.py [-o results/benchmarks/allocation_generation.json]
    python studies/benchmarks/allocation_generation.py --sizes 8 16 --ranks 1 --milp-up-to 16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from coalitions import mpiexec
from ef_vs_highs import scaled_system

DAYS = 4


def run_child(n: int, separation: str, scenarios: str, cache: str, time_limit: float | None,
              enumerate_up_to: int) -> None:
    """Child (every rank): nucleolus and core check of the ``n``-microgrid system; rank 0
    prints one JSON line."""
    import logging

    from framework.game import coalition_values, least_core, nucleolus
    from framework.game.generation import core_check_generation, nucleolus_generation
    from framework.game.values import rank_zero
    from scenarios_gen.scenarios import read_scenarios

    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)9.0f ms %(message)s")
    logging.getLogger("framework.game.values").setLevel(logging.WARNING)
    logging.getLogger("framework.solve").setLevel(logging.WARNING)
    system, data = scaled_system(n), read_scenarios(scenarios)
    start = time.perf_counter()
    nu = nucleolus_generation(system, data, cache_dir=cache, time_limit_s=time_limit,
                              separation=separation)
    left = None if time_limit is None else max(1.0, time_limit - (time.perf_counter() - start))
    check = core_check_generation(system, data, nu.allocation, cache_dir=cache,
                                  time_limit_s=left, separation=separation)
    total = time.perf_counter() - start
    out = {"microgrids": n, "separation": separation, "wall_s": total, "nucleolus_s": nu.wall_s,
           "core_check_s": check.solve_s, "separation_s": nu.separation_s,
           "values_s": nu.values_s, "separations": nu.iterations, "stages": nu.stages,
           "generated": len(nu.coalitions), "lp_solved": nu.solved,
           "least_core_value": nu.epsilon, "least_core_upper": nu.epsilon_upper,
           "certified": nu.certified, "stopped": nu.stopped, "in_core": check.in_core,
           "core_check_certified": check.certified, "max_excess": check.max_excess,
           "max_excess_upper": check.max_excess_upper,
           "allocation": nu.allocation}
    if n <= enumerate_up_to:
        game = coalition_values(system, data, cache_dir=cache).cost()
        exact = nucleolus(game, system.names)
        out["enumeration"] = {
            "least_core_value": least_core(game, system.names).epsilon,
            "nucleolus_max_difference": max(abs(exact[p] - nu.allocation[p]) for p in exact)}
    if rank_zero():
        print(json.dumps(out))


def child(ranks: int, n: int, separation: str, scenarios: str, cache: str,
          time_limit: float | None, enumerate_up_to: int, log: Path) -> dict:
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__, "--child",
           str(n), separation, scenarios, cache, str(time_limit or 0), str(enumerate_up_to)]
    with log.open("w") as err:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output",
                        default="results/benchmarks/allocation_generation.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--time-limit", type=float, default=900.0,
                        help="wall-time limit of each run, s (0: none)")
    parser.add_argument("--enumerate-up-to", type=int, default=8)
    parser.add_argument("--separations", nargs="+", choices=("cuts", "milp"),
                        default=["cuts", "milp"])
    parser.add_argument("--milp-up-to", type=int, default=8,
                        help="run the MILP separation up to this many microgrids (default 8)")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, separation, scen, cache, limit, up_to = args.child
        run_child(int(n), separation, scen, cache, float(limit) or None, int(up_to))
        return
    from scenarios_gen.pipeline import scenarios_for
    from scenarios_gen.scenarios import write_scenarios

    rows = []
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            scen = str(Path(tmp) / f"scenarios_{n}.nc")
            write_scenarios(scenarios_for(scaled_system(n), n_clusters=DAYS, seed=0), scen)
            for separation in args.separations:
                if separation == "milp" and n > args.milp_up_to:
                    continue
                for ranks in args.ranks:
                    log = out.with_name(f"{out.stem}_{n}_{separation}_{ranks}.log")
                    row = child(ranks, n, separation, scen,
                                str(Path(tmp) / f"cache_{n}_{separation}_{ranks}"),
                                args.time_limit or None, args.enumerate_up_to, log)
                    row["ranks"] = ranks
                    rows.append(row)
                    print(f"{n} microgrids, {separation}, {ranks} rank(s): "
                          f"{row['wall_s']:.0f} s, certified {row['certified']}, in core "
                          f"{row['in_core']} (log {log})", file=sys.stderr)
                    out.write_text(json.dumps(rows, indent=2))
    print("| microgrids | separation | ranks | wall s | separation s (separations) | values s "
          "(LPs) | generated | stages | least-core value | certified | in core (bound) |")
    print("|" + "---:|" * 11)
    for r in rows:
        print(f"| {r['microgrids']} | {r['separation']} | {r['ranks']} | {r['wall_s']:.0f} | "
              f"{r['separation_s']:.0f} ({r['separations']}) | {r['values_s']:.0f} "
              f"({r['lp_solved']}) | {r['generated']} of {2 ** r['microgrids'] - 2} | "
              f"{r['stages']} | {r['least_core_value']:,.2f} | "
              f"{'yes' if r['certified'] else 'no: ' + r['stopped']} | "
              f"{r['in_core']} ({r['max_excess_upper']:,.2f}) |")
        if "enumeration" in r:
            e = r["enumeration"]
            print(f"|   | enumeration | least-core value {e['least_core_value']:,.2f}, "
                  f"nucleolus max difference {e['nucleolus_max_difference']:.2e} |")
    cuts = {(r["microgrids"], r["ranks"]): r["wall_s"] for r in rows
            if r["separation"] == "cuts"}
    for r in rows:
        if r["separation"] == "milp" and (r["microgrids"], r["ranks"]) in cuts:
            print(f"{r['microgrids']} microgrids, {r['ranks']} rank(s): MILP / cuts wall time "
                  f"{r['wall_s'] / cuts[r['microgrids'], r['ranks']]:.1f}"
                  + ("" if r["certified"] else " (at least: the MILP run stopped uncertified)"))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
