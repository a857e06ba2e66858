"""``sesplan demo``: the default system end to end."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from framework.cli.common import system_of


def cmd_demo(args: argparse.Namespace) -> None:
    """``sesplan demo``: the default system from history to individual batteries vs a shared
    station, the value of sharing decomposed over the ladder of architectures, a robust
    station, the split of the saving, and leasing."""
    from framework.game import allocate, allocation_table
    from framework.ladder import ladder_table, solve_ladder
    from framework.lease import lease_game, lease_game_table
    from framework.plotting import figures_for, save_figure
    from framework.report import comparison_table, robustness_table
    from framework.results import write_result
    from framework.robust import CCGConfig
    from framework.robust.storage import plan_ccg
    from framework.solve.ef import plan_ef
    from scenarios_gen.pipeline import scenarios_for
    from scenarios_gen.scenarios import write_scenarios

    out = Path(args.output)
    start = time.perf_counter()
    if not args.verbose:  # one printed line per step; the solves' log lines under -v
        for name in ("framework", "scenarios_gen"):
            logging.getLogger(name).setLevel(logging.WARNING)
    system = system_of(None)
    station = system.planning.shared_architecture
    print(f"sesplan demo: system {system.name!r} with microgrids {', '.join(system.names)}")
    scenarios = scenarios_for(system, n_clusters=args.clusters, seed=args.seed)
    write_scenarios(scenarios, out / "scenarios.nc")
    print(f"1. {scenarios.sizes['scenario']} representative days (k-means) "
          f"-> {out / 'scenarios.nc'}")
    result = plan_ef(system, scenarios)
    write_result(result, out / "plan.nc")
    print(f"2. individual batteries vs a shared station ({station}; extensive form, HiGHS) "
          f"-> {out / 'plan.nc'}\n")
    print(comparison_table(result))
    ladder = solve_ladder(system, scenarios, solved=result)
    write_result(ladder, out / "ladder.nc")
    print(f"\n3. the value of sharing, decomposed: every architecture from no storage to a "
          f"pooled station -> {out / 'ladder.nc'}\n")
    print(ladder_table(ladder))
    robust = plan_ccg(system, scenarios, station, gamma=args.gamma,
                      config=CCGConfig(time_limit_s=120), compare_stochastic=True)
    write_result(robust, out / "robust.nc")
    print(f"\n4. a robust shared station (C&CG): every day may deviate to its cluster's "
          f"90 % load and 10 % renewable quantiles in {args.gamma:g} hours per microgrid "
          f"-> {out / 'robust.nc'}\n")
    print(robustness_table(result, robust))
    allocation = allocate(system, scenarios, ["shapley", "nucleolus", "dual", "proportional_cost"])
    write_result(allocation, out / "allocation.nc")
    print(f"\n5. the saving of sharing split among the microgrids -> {out / 'allocation.nc'}\n")
    print(allocation_table(allocation))
    lease = lease_game(system, scenarios, method="search")
    write_result(lease, out / "lease.nc")
    print(f"\n6. a third-party operator prices and sizes a station, each microgrid leases or "
          f"keeps its own battery (leader-follower game, price search) -> {out / 'lease.nc'}\n")
    print(lease_game_table(lease))
    written = []
    for ds, names in ((result, ["representative_days", "soc", "capacity_cost"]),
                      (ladder, ["ladder", "exchange"]), (robust, ["bound_convergence"]),
                      (allocation, ["allocation"]), (lease, ["lease_game"])):
        for name, fig in figures_for(ds, names).items():
            written += save_figure(fig, out / "figures" / name, f"sesplan demo: {name}")
    print(f"\n7. figures (PDF and PNG) -> {out / 'figures'}: "
          + ", ".join(p.name for p in written if p.suffix == ".png"))
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
