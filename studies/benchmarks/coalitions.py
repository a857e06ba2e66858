"""Benchmark: all coalition values for 4, 6 and 8 microgrids on 1 and 2 MPI ranks.

The systems are the default system's microgrids repeated on other SimBench profiles
(``scaled_system`` of ``ef_vs_highs.py``), each on 4 clustered days. For every size and
rank count a child ``mpiexec -n R`` process computes all ``2^n - 1`` coalition values into
an empty cache (cold), then a second child reruns it on that cache (warm: every value a
cache hit, nothing solved). Prints a table (times side by side, speed-up of 2 ranks over 1)
and writes JSON; the 1- and 2-rank values must agree.

    python studies/benchmarks/coalitions.py [-o results/benchmarks/coalitions.json]
    python studies/benchmarks/coalitions.py --sizes 4 6     # a quicker run
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ef_vs_highs import scaled_system

from framework.io import write_json

DAYS = 4


def mpiexec() -> str:
    """``mpiexec`` next to the Python interpreter, else on the PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        raise SystemExit("no mpiexec found (install sesplan[mpi])")
    return found


def run_child(n: int, scenarios: str, cache: str) -> None:
    """Child (every rank): the coalition values of the ``n``-microgrid system; rank 0
    prints the timings and the values as one JSON line."""
    from framework.game import coalition_values
    from framework.game.values import rank_zero
    from scenarios_gen.scenarios import read_scenarios

    start = time.perf_counter()
    values = coalition_values(scaled_system(n), read_scenarios(scenarios), cache_dir=cache)
    if rank_zero():
        s = values.stats
        print(json.dumps({
            "wall_s": time.perf_counter() - start, "coalitions_s": s.wall_s,
            "solved": s.solved, "cache_hits": s.cache_hits, "ranks": s.ranks,
            "solve_s_per_rank": s.solve_s_per_rank,
            "values": {"+".join(sorted(c)): v.annual_cost for c, v in values.values.items()}}))


def child(ranks: int, n: int, scenarios: str, cache: str) -> dict:
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__, "--child",
           str(n), scenarios, cache]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="results/benchmarks/coalitions.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 6, 8])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(int(args.child[0]), args.child[1], args.child[2])
        return
    from scenarios_gen.pipeline import scenarios_for
    from scenarios_gen.scenarios import write_scenarios

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            scen = str(Path(tmp) / f"scenarios_{n}.nc")
            write_scenarios(scenarios_for(scaled_system(n), n_clusters=DAYS, seed=0), scen)
            runs = {}
            for ranks in (1, 2):
                cache = str(Path(tmp) / f"cache_{n}_{ranks}")
                cold = child(ranks, n, scen, cache)
                warm = child(ranks, n, scen, cache)
                runs[ranks] = {"cold": cold, "warm": warm}
                print(f"{n} microgrids, {ranks} rank(s): {cold['coalitions_s']:.1f} s cold, "
                      f"{warm['coalitions_s']:.2f} s warm", file=sys.stderr)
            one, two = runs[1]["cold"]["values"], runs[2]["cold"]["values"]
            worst = max(abs(one[c] - two[c]) / max(1.0, abs(one[c])) for c in one)
            if worst > 1e-7 or runs[1]["warm"]["values"] != one:
                raise SystemExit(f"{n} microgrids: values differ between runs ({worst:.2e})")
            rows.append({"microgrids": n, "coalitions": 2 ** n - 1, "days": DAYS,
                         "runs": {str(r): {k: {key: v for key, v in run.items()
                                               if key != "values"} for k, run in x.items()}
                                  for r, x in runs.items()},
                         "speedup_2_ranks": runs[1]["cold"]["coalitions_s"]
                         / runs[2]["cold"]["coalitions_s"],
                         "max_rel_difference": worst})
    print("| microgrids | coalitions | 1 rank s | 2 ranks s | speed-up | solve s per rank (2) "
          "| rerun s (1 / 2 ranks) | rerun cache hits |")
    print("|" + "---:|" * 8)
    for r in rows:
        one, two = r["runs"]["1"], r["runs"]["2"]
        print(f"| {r['microgrids']} | {r['coalitions']} | {one['cold']['coalitions_s']:.1f} | "
              f"{two['cold']['coalitions_s']:.1f} | {r['speedup_2_ranks']:.2f} | "
              f"{' / '.join(f'{s:.1f}' for s in two['cold']['solve_s_per_rank'])} | "
              f"{one['warm']['coalitions_s']:.2f} / {two['warm']['coalitions_s']:.2f} | "
              f"{one['warm']['cache_hits']} / {two['warm']['cache_hits']} |")
    print(f"\nwritten to {write_json(rows, args.output)}")


if __name__ == "__main__":
    main()
