"""Benchmark: robust shared-storage planning by C&CG against the stochastic extensive form.

For each budget Gamma (default 2, 6, 12) on the default system with 12 clustered days
(the accounts station, :data:`MODE`): the EF time (``solve_ef``), then the C&CG solve to a
0.1 % gap: iterations, total time, time in master solves and in separation rounds, and per
iteration the bounds and the split between master and subproblems. With ``--por`` also the
price of robustness over Gamma = 0..24 (fewer days, ``--por-clusters``): the robust
objective, the stochastic plan's worst-case cost under the same budget, the robust plan's
cost on the nominal days, and the capacities. Prints tables and writes JSON.

    python studies/benchmarks/ccg.py [-o results/benchmarks/ccg.json] [--time-limit 900]
    python studies/benchmarks/ccg.py --gammas 2 --clusters 4           # quick
    python studies/benchmarks/ccg.py --por --por-clusters 4 --por-gammas 0 2 4 8 24
    mpiexec -n 4 python -m mpi4py studies/benchmarks/ccg.py            # separations on 4 ranks
    python studies/benchmarks/ccg.py --gammas 6 --time-limit 60 --separations 20

``--separations S`` then solves each block's exact worst case at the plan where C&CG stopped,
S seconds each, and prints per block the ascent's value, the MILP's value and bound, and the
time: which days keep the certified gap open.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from framework.robust import CCGConfig, solve_ccg
from framework.robust.loop import default_comm
from framework.robust.separation import make_separator
from framework.robust.storage import plan_ccg, storage_problem
from framework.solve.ef import solve_ef
from framework.system import default_system
from scenarios_gen.pipeline import scenarios_for

MODE = "accounts"
"""The architecture planned: the shared station with an energy account per microgrid."""


def ef_time(system: Any, scenarios: Any, repeat: int = 3) -> tuple[float, Any]:
    """Best wall time of ``solve_ef`` (build, compile, solve, result) over ``repeat`` runs."""
    best, ds = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        ds = solve_ef(system, scenarios, MODE)
        best = min(best, time.perf_counter() - start)
    return best, ds


def convergence(system: Any, scenarios: Any, gamma: float, time_limit: float | None,
                comm: Any) -> dict[str, Any]:
    """C&CG to a 0.1 % gap for one Gamma: timings and the iteration history."""
    start = time.perf_counter()
    problem, _ = storage_problem(system, scenarios, MODE, gamma)
    build_s = time.perf_counter() - start
    result = solve_ccg(problem, CCGConfig(rel_gap=1e-3, time_limit_s=time_limit), comm)
    return {
        "gamma": gamma, "status": result.status.value, "iterations": len(result.iterations),
        "exact_rounds": sum(r.exact_blocks > 0 for r in result.iterations),
        "objective": result.objective, "lower_bound": result.lower_bound, "gap": result.gap,
        "build_s": build_s, "ccg_s": result.total_s, "total_s": build_s + result.total_s,
        "master_s": result.master_s, "separation_s": result.separation_s,
        "x": [float(v) for v in result.x],
        "history": [{k: (float(v) if k != "iteration" else int(v)) for k, v in vars(r).items()}
                    for r in result.iterations],
    }


def separations(system: Any, scenarios: Any, gamma: float, x: list[float],
                limit: float) -> list[dict[str, Any]]:
    """Each block's worst case at the first stage ``x``: the ascent, then the exact MILP
    (at most ``limit`` s), with its bound and the weighted gap it leaves."""
    problem, _ = storage_problem(system, scenarios, MODE, gamma)
    rows = []
    for b, block in enumerate(problem.blocks):
        separator = make_separator(block, b, CCGConfig())
        ascent = separator.search(np.asarray(x))
        exact = separator.solve(np.asarray(x), limit)
        rows.append({"block": block.name, "weight": block.weight, "ascent": ascent.value,
                     "ascent_s": ascent.solve_s, "value": exact.value, "bound": exact.bound,
                     "weighted_gap": block.weight * (exact.bound - exact.value),
                     "milp_s": exact.solve_s})
    return rows


def print_separations(gamma: float, rows: list[dict[str, Any]]) -> None:
    print(f"\nGamma = {gamma:g}: worst case of each block at the plan where C&CG stopped")
    print(f"{'block':>6} {'weight':>6} {'ascent':>12} {'s':>5} {'exact MILP':>12} "
          f"{'bound':>12} {'gap %':>8} {'w x gap':>9} {'s':>6}")
    for r in rows:
        gap = (r["bound"] - r["value"]) / max(abs(r["value"]), 1.0)
        print(f"{r['block']:>6} {r['weight']:>6.3f} {r['ascent']:>12.0f} {r['ascent_s']:>5.2f} "
              f"{r['value']:>12.0f} {r['bound']:>12.0f} {100 * gap:>8.3f} "
              f"{r['weighted_gap']:>9.0f} {r['milp_s']:>6.1f}")


def price_of_robustness(system: Any, scenarios: Any, gammas: list[float],
                        time_limit: float | None, comm: Any) -> list[dict[str, Any]]:
    """For each Gamma, both plans' cost at the worst cases found and its certified upper
    bound, and both plans' nominal cost."""
    ef = solve_ef(system, scenarios, MODE).sel(mode=MODE)
    rows = []
    for gamma in gammas:
        start = time.perf_counter()
        ds = plan_ccg(system, scenarios, MODE, gamma=gamma, comm=comm, compare_stochastic=True,
                      config=CCGConfig(rel_gap=1e-3, time_limit_s=time_limit)).sel(mode=MODE)
        rows.append({
            "gamma": gamma, "status": str(ds["termination"].values),
            "robust_objective": float(ds["objective"]), "gap": float(ds["gap"]),
            "robust_found": float(ds["annual_cost"]),
            "stochastic_found": float(ds["stochastic_worst_case_cost"]),
            "stochastic_worst_case": float(ds["stochastic_worst_case_bound"]),
            "robust_nominal": float(ds["nominal_annual_cost"]),
            "stochastic_nominal": float(ef["objective"]),
            "energy_kwh": float(ds["cap_energy_kwh"].sum()),
            "power_kw": float(ds["cap_power_kw"].sum()),
            "stochastic_energy_kwh": float(ef["cap_energy_kwh"].sum()),
            "iterations": int(ds["iterations"]), "time_s": time.perf_counter() - start})
        rows[-1]["robust_cheaper"] = robust_cheaper(rows[-1])
    return rows


def robust_cheaper(row: dict[str, Any], tol: float = 1e-6) -> str:
    """Whether the robust plan costs less than the stochastic one at the worst cases:
    ``certified`` (its upper bound is at most the stochastic plan's cost at the worst cases
    found, a lower bound of that plan's true value), ``found`` (only the costs at the worst
    cases found are in that order) or ``no``."""
    scale = tol * max(abs(row["stochastic_found"]), 1.0)
    if row["robust_objective"] <= row["stochastic_found"] + scale:
        return "certified"
    return "found" if row["robust_found"] <= row["stochastic_found"] + scale else "no"


def print_convergence(ef_s: float, rows: list[dict[str, Any]]) -> None:
    print(f"\nC&CG on the default system, {MODE} station, 0.1 % gap; EF: {ef_s:.2f} s")
    print(f"{'Gamma':>5} {'status':>15} {'iter':>4} {'exact':>5} {'gap %':>7} {'total s':>8} "
          f"{'xEF':>7} {'master s':>8} {'sep. s':>8} {'s/iter':>7}")
    for r in rows:
        print(f"{r['gamma']:>5g} {r['status']:>15} {r['iterations']:>4} {r['exact_rounds']:>5} "
              f"{100 * r['gap']:>7.3f} {r['total_s']:>8.1f} {r['total_s'] / ef_s:>7.1f} "
              f"{r['master_s']:>8.2f} {r['separation_s']:>8.1f} "
              f"{r['total_s'] / max(r['iterations'], 1):>7.1f}")
    print("(exact: iterations with exact separation MILPs; the others used the ascent only)")
    for r in rows:
        print(f"\nGamma = {r['gamma']:g}: iteration, lower and upper bound, master s, "
              "separation s, new worst cases, blocks solved exactly")
        for h in r["history"]:
            print(f"  {h['iteration']:>3} {h['lower_bound']:>14.2f} {h['upper_bound']:>14.2f} "
                  f"{h['master_s']:>8.2f} {h['separation_s']:>8.2f} {int(h['cuts']):>4} "
                  f"{int(h['exact_blocks']):>4}")


def print_por(rows: list[dict[str, Any]]) -> None:
    print("\nPrice of robustness (currency/yr): each plan's cost at the worst cases found and "
          "its certified upper bound (equal where the runs converged)")
    print(f"{'Gamma':>5} {'status':>10} {'gap %':>6} {'robust found':>12} {'robust bound':>12} "
          f"{'stoch. found':>12} {'stoch. bound':>12} {'cheaper':>9} {'robust nom.':>12} "
          f"{'stoch. nom.':>12} {'E kWh':>8} {'P kW':>7} {'iter':>4} {'s':>7}")
    for r in rows:
        print(f"{r['gamma']:>5g} {r['status']:>10} {100 * r['gap']:>6.2f} "
              f"{r['robust_found']:>12.0f} {r['robust_objective']:>12.0f} "
              f"{r['stochastic_found']:>12.0f} {r['stochastic_worst_case']:>12.0f} "
              f"{r['robust_cheaper']:>9} {r['robust_nominal']:>12.0f} "
              f"{r['stochastic_nominal']:>12.0f} {r['energy_kwh']:>8.1f} {r['power_kw']:>7.1f} "
              f"{r['iterations']:>4} {r['time_s']:>7.1f}")
    print("(cheaper: 'certified' where the robust bound is at most the stochastic plan's cost "
          "at its worst cases found, 'found' where only the costs at the worst cases found "
          "say so, 'no' otherwise)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="results/benchmarks/ccg.json")
    parser.add_argument("--gammas", type=float, nargs="+", default=[2.0, 6.0, 12.0])
    parser.add_argument("--clusters", type=int, default=12)
    parser.add_argument("--time-limit", type=float, default=None,
                        help="limit of each C&CG solve (s)")
    parser.add_argument("--separations", type=float, metavar="S", default=None,
                        help="then each block's exact worst case at the final plan, S s each")
    parser.add_argument("--por", action="store_true", help="also the price of robustness")
    parser.add_argument("--por-only", action="store_true", help="only the price of robustness")
    parser.add_argument("--por-clusters", type=int, default=4)
    parser.add_argument("--por-gammas", type=float, nargs="+",
                        default=[float(g) for g in range(25)])
    args = parser.parse_args()
    comm = default_comm()
    root = comm is None or comm.Get_rank() == 0
    logging.basicConfig(level=logging.INFO if root else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("framework.solve.ef").setLevel(logging.WARNING)
    system = default_system()
    out: dict[str, Any] = {"mode": MODE, "ranks": 1 if comm is None else comm.Get_size()}
    if not args.por_only:
        scenarios = scenarios_for(system, n_clusters=args.clusters)
        ef_s, ef = ef_time(system, scenarios)
        rows = [convergence(system, scenarios, g, args.time_limit, comm) for g in args.gammas]
        out.update(clusters=args.clusters, ef_s=ef_s, ef_objective=float(ef["objective"][0]),
                   convergence=rows)
        if root:
            print_convergence(ef_s, rows)
        if root and args.separations is not None:
            for r in rows:
                r["separations"] = separations(system, scenarios, r["gamma"], r["x"],
                                               args.separations)
                print_separations(r["gamma"], r["separations"])
    if args.por or args.por_only:
        scenarios = scenarios_for(system, n_clusters=args.por_clusters)
        rows = price_of_robustness(system, scenarios, args.por_gammas, args.time_limit, comm)
        out.update(por_clusters=args.por_clusters, price_of_robustness=rows)
        if root:
            print_por(rows)
    if root:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2))
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
