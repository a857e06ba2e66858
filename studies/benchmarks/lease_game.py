"""Benchmark: the leasing game's exact MILP against the search, 2, 4 and 8 microgrids on 4
and 8 clustered days.

The systems are the default system's microgrids repeated on other SimBench profiles
(``scaled_system`` of ``ef_vs_highs.py``), the default price box (41 levels per axis, the fee
fixed at the wear). For every case: the game is built (outside options and compilation,
timed), the search runs (participation thresholds, boundary points, coarse 9 levels, 3
pattern searches), then the exact MILP from the search's outcome as its first incumbent
(time limit per case); prints a table (times, profits, the MILP's certified gap and the
search's shortfall against the exact profit, which ``docs/lease.md`` bounds by 0.5 % where
the MILP is optimal) and writes JSON.

    python studies/benchmarks/lease_game.py [-o results/benchmarks/lease_game.json]
    python studies/benchmarks/lease_game.py --sizes 2 4 --days 4 --time-limit 120
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ef_vs_highs import scaled_system

from framework.io import write_json


def run_case(n: int, days: int, time_limit_s: float) -> dict:
    """Build the game of ``n`` microgrids on ``days`` clustered days, then both methods."""
    from framework.lease import build_game, search_prices, solve_exact
    from scenarios_gen.pipeline import scenarios_for

    system = scaled_system(n)
    scenarios = scenarios_for(system, n_clusters=days, seed=0)
    game = build_game(system, scenarios)
    found = search_prices(game)
    exact = solve_exact(game, time_limit_s=time_limit_s, start=found.outcome)
    best = exact.outcome.profit
    return {"microgrids": n, "days": days, "lattice": list(game.box.shape),
            "build_s": game.build_s, "columns": int(game.matrix.shape[1]),
            "search_s": found.wall_s, "search_points": len(found.points),
            "search_boundary_points": found.boundary, "search_ranks": found.ranks,
            "search_profit": found.outcome.profit,
            "search_prices": list(found.outcome.prices), "exact_s": exact.wall_s,
            "exact_termination": exact.termination, "exact_profit": best,
            "exact_bound": exact.profit_bound, "exact_gap": exact.gap,
            "exact_columns": exact.columns, "exact_binaries": exact.binaries,
            "exact_prices": list(exact.outcome.prices),
            "search_shortfall": (best - found.outcome.profit) / max(1.0, abs(best)),
            "search_below_bound": (exact.profit_bound - found.outcome.profit)
            / max(1.0, abs(found.outcome.profit)),
            "lessees_exact": int(exact.outcome.participates.sum()),
            "overbooking_exact": float(exact.outcome.lease_energy_kwh.sum()
                                       / exact.outcome.station_energy_kwh)
            if exact.outcome.station_energy_kwh > 0 else None}


def _clean(value: float) -> float:
    """``value`` with round-off below 1e-9 shown as 0."""
    return 0.0 if abs(value) < 1e-9 else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="results/benchmarks/lease_game.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--days", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="time limit of each exact MILP (s)")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        for days in args.days:
            start = time.perf_counter()
            rows.append(run_case(n, days, args.time_limit))
            print(f"{n} microgrids, {days} days: {time.perf_counter() - start:.1f} s",
                  file=sys.stderr)
    print("| microgrids | days | build s | search s (points) | search profit | exact s | "
          "exact profit | bound | gap | search shortfall | lessees | overbooking |")
    print("|" + "---:|" * 12)
    for r in rows:
        over = "-" if r["overbooking_exact"] is None else f"{r['overbooking_exact']:.3f}"
        print(f"| {r['microgrids']} | {r['days']} | {r['build_s']:.1f} | {r['search_s']:.1f} "
              f"({r['search_points']}) | {r['search_profit']:,.1f} | {r['exact_s']:.1f} | "
              f"{r['exact_profit']:,.1f} | {r['exact_bound']:,.1f} | {r['exact_gap']:.1e} | "
              f"{_clean(r['search_shortfall']):.2%} | {r['lessees_exact']} | {over} |")
    print(f"\nwritten to {write_json(rows, args.output)}")


if __name__ == "__main__":
    main()
